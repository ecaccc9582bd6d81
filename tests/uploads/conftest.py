"""Upload fixtures: the API fixtures, the checked-in office files, and table counts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from tests.api.conftest import Tenant, client, clock, make_tenant, other_tenant, tenant
from tidemark.db.engine import unit_of_work
from tidemark.success.models import (
    KPI,
    Account,
    KPIReferenceRange,
    KPITimeSeries,
    KPIUpload,
    Product,
)

__all__ = ["Tenant", "client", "clock", "make_tenant", "other_tenant", "tenant"]

FILES = Path(__file__).parent / "files"
COUNTED = {
    "accounts": Account,
    "products": Product,
    "kpis": KPI,
    "kpi_uploads": KPIUpload,
    "kpi_time_series": KPITimeSeries,
    "kpi_reference_ranges": KPIReferenceRange,
}


def counts(engine: Engine) -> dict[str, int]:
    """Rows of every table an upload writes, over all tenants."""
    with unit_of_work(engine) as session:
        return {
            name: session.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in COUNTED.items()
        }


def office_file(name: str) -> bytes:
    """A checked-in file made by LibreOffice (see files/README.md)."""
    return (FILES / name).read_bytes()
