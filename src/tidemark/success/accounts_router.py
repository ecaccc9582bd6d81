"""HTTP endpoints of accounts: list, read and update (profile fields included)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidemark.rest.deps import Csm, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.success import accounts
from tidemark.success.schemas import (
    MAX_ID,
    AccountPagination,
    AccountRead,
    AccountStatus,
    AccountUpdate,
)

router = APIRouter(prefix="/api/accounts", tags=["accounts"])

AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="The account's id.")]


@router.get("", response_model=AccountPagination)
def list_accounts(
    principal: Viewer,
    session: DbSession,
    status: Annotated[AccountStatus | None, Query(description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List the accounts by name, one page at a time, optionally of one status."""
    page = accounts.list_accounts(
        session, customer_id=principal.customer_id, status=status, limit=limit, offset=offset
    )
    return page_body(page)


@router.get("/{account_id}", response_model=AccountRead)
def get_account(account_id: AccountId, principal: Viewer, session: DbSession) -> Any:
    """One account with its profile."""
    return accounts.get(session, customer_id=principal.customer_id, account_id=account_id)


@router.patch("/{account_id}", response_model=AccountRead)
def update_account(
    account_id: AccountId, body: AccountUpdate, principal: Csm, session: DbSession, now: Now
) -> Any:
    """Change an account; profile fields are merged into its profile, null removes one."""
    return accounts.update(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        changes=body.model_dump(exclude_unset=True),
        now=now,
    )
