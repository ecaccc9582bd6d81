"""Fixtures of the source-data write paths: the API fixtures, accounts, and table states."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from tests import factories
from tests.api.conftest import Tenant, client, clock, other_tenant, tenant
from tidemark.db.engine import unit_of_work
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
)
from tidemark.tenancy.models import Customer

__all__ = ["client", "clock", "other_tenant", "tenant"]

#: The tables the write paths change, and what a snapshot captures from them.
WATCHED = (
    Account,
    KPI,
    HealthTrend,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
    AccountNote,
    AccountSnapshot,
)


def add_accounts(
    engine: Engine, tenant: Tenant, *names: str, kpi_value: str = "80", **fields: Any
) -> list[int]:
    """Accounts of ``tenant`` with the 25 standard KPIs at ``kpi_value``."""
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        return [
            factories.account(session, customer, name, kpi_value=kpi_value, **fields).account_id
            for name in names
        ]


def set_kpis(engine: Engine, account_id: int, values: dict[str, str | None]) -> None:
    """Give some KPIs of an account new values (None: not a number)."""
    with unit_of_work(engine) as session:
        for name, value in values.items():
            kpi = session.execute(
                select(KPI).where(KPI.account_id == account_id, KPI.kpi_parameter == name)
            ).scalar_one()
            kpi.data = value
            kpi.value = None if value is None else Decimal(value)


def table_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the watched tables, in key order: equal states mean nothing changed."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with unit_of_work(engine) as session:
        for model in WATCHED:
            table = model.__table__
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            state[table.name] = [tuple(row) for row in rows]
    return state
