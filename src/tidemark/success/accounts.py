"""Find and read a tenant's accounts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.success.models import Account


def get(session: Session, *, customer_id: int, account_id: int) -> Account:
    """The tenant's account with this id; another tenant's id is NotFound."""
    account = session.execute(
        select(Account).where(Account.customer_id == customer_id, Account.account_id == account_id)
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("account", account_id)
    return account


def find(session: Session, *, customer_id: int, ref: str, where: str = "account") -> Account:
    """The tenant's account by id, else exact name, else case-insensitive name."""
    text = ref.strip()
    if not text:
        raise InvalidInput(where, "must not be empty")
    base = select(Account).where(Account.customer_id == customer_id)
    if text.isascii() and text.isdigit() and len(text) <= 18:
        by_id = session.execute(base.where(Account.account_id == int(text))).scalar_one_or_none()
        if by_id is not None:
            return by_id
    exact = session.execute(base.where(Account.account_name == text)).scalar_one_or_none()
    if exact is not None:
        return exact
    folded = list(
        session.execute(base.where(func.lower(Account.account_name) == text.lower()).limit(2))
        .scalars()
        .all()
    )
    if not folded and not text.isascii():
        # SQLite's lower() folds ASCII only, so compare the rest in Python.
        wanted = text.casefold()
        names = session.execute(
            select(Account.account_id, Account.account_name).where(
                Account.customer_id == customer_id
            )
        ).all()
        ids = [account_id for account_id, name in names if name.casefold() == wanted]
        folded = [session.get_one(Account, account_id) for account_id in ids[:2]]
    if len(folded) > 1:
        raise InvalidInput(where, f"{text!r} matches several accounts; give the exact name")
    if not folded:
        raise NotFound("account", text)
    return folded[0]
