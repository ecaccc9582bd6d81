"""Builders of realistic source data for tests (accounts with KPIs, notes, playbooks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import KPI, Account, AccountNote, PlaybookExecution, Product
from tidemark.tenancy import service as tenants
from tidemark.tenancy.models import Customer, User

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def customer(session: Session, name: str = "Test Company") -> tuple[Customer, User]:
    """A tenant with one user."""
    tenant = tenants.create(session, name=name)
    user = tenants.create_user(
        session, customer_id=tenant.customer_id, name="Test User", email="test@test.com"
    )
    return tenant, user


def account(
    session: Session,
    tenant: Customer,
    name: str,
    *,
    revenue: str | None = "100000",
    kpi_value: str = "80",
    products: tuple[str, ...] = (),
    **fields: Any,
) -> Account:
    """An account with the 25 standard KPIs all at ``kpi_value``."""
    row = Account(
        customer_id=tenant.customer_id,
        account_name=name,
        revenue=Decimal(revenue) if revenue is not None else None,
        **fields,
    )
    session.add(row)
    session.flush()
    for product_name in products:
        session.add(
            Product(
                customer_id=tenant.customer_id, account_id=row.account_id, product_name=product_name
            )
        )
    for kpi in STANDARD_KPIS:
        session.add(
            KPI(
                customer_id=tenant.customer_id,
                account_id=row.account_id,
                category=kpi.category,
                kpi_parameter=kpi.name,
                data=kpi_value,
                value=Decimal(kpi_value),
                impact_level=kpi.impact_level,
                weight=Decimal(1),
            )
        )
    session.flush()
    return row


def note(
    session: Session,
    acct: Account,
    user: User,
    content: str,
    *,
    at: datetime = T0,
    note_type: str = "meeting",
) -> AccountNote:
    """A CSM note on the account."""
    row = AccountNote(
        customer_id=acct.customer_id,
        account_id=acct.account_id,
        note_type=note_type,
        note_content=content,
        created_by=user.user_id,
        created_at=at,
    )
    session.add(row)
    session.flush()
    return row


def playbook(
    session: Session,
    acct: Account,
    playbook_id: str,
    *,
    started_at: datetime = T0,
    completed_at: datetime | None = None,
) -> PlaybookExecution:
    """A playbook execution, completed when ``completed_at`` is given."""
    row = PlaybookExecution(
        execution_id=str(uuid.uuid4()),
        customer_id=acct.customer_id,
        account_id=acct.account_id,
        playbook_id=playbook_id,
        status="completed" if completed_at else "in-progress",
        started_at=started_at,
        completed_at=completed_at,
    )
    session.add(row)
    session.flush()
    return row
