"""Create, find and list tenants; every new tenant starts with the default KPI ranges."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import KPIReferenceRange
from tidemark.tenancy.models import DEFAULT_CATEGORY_WEIGHTS, Customer, CustomerConfig, User


def get(session: Session, *, customer_id: int) -> Customer:
    """The customer with this id, or NotFound."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


def get_by_name(session: Session, *, name: str) -> Customer:
    """The customer with this name (case-insensitive), or NotFound."""
    customer = session.execute(
        select(Customer).where(func.lower(Customer.customer_name) == name.strip().lower())
    ).scalar_one_or_none()
    if customer is None:
        raise NotFound("customer", name)
    return customer


def list_all(session: Session) -> Sequence[Customer]:
    """Every customer, oldest first."""
    return session.execute(select(Customer).order_by(Customer.customer_id)).scalars().all()


def resolve(session: Session, *, name: str | None) -> Customer:
    """The named customer, or the only one when no name is given."""
    if name:
        return get_by_name(session, name=name)
    customers = list_all(session)
    if len(customers) == 1:
        return customers[0]
    if not customers:
        raise NotFound("customer", "(none exist yet: run `tidemark customers create NAME`)")
    raise InvalidInput("--customer", f"{len(customers)} customers exist; name one")


def create(
    session: Session,
    *,
    name: str,
    email: str | None = None,
    timezone: str = "UTC",
    category_weights: dict[str, float] | None = None,
) -> Customer:
    """A new tenant with its config and the default reference ranges of the standard KPIs."""
    clean = name.strip()
    if not clean:
        raise InvalidInput("name", "must not be empty")
    if len(clean) > 200:
        raise InvalidInput("name", "at most 200 characters")
    exists = session.execute(
        select(Customer.customer_id).where(func.lower(Customer.customer_name) == clean.lower())
    ).first()
    if exists:
        raise Conflict(f"customer {clean!r} already exists")
    customer = Customer(customer_name=clean, email=email, timezone=timezone)
    session.add(customer)
    session.flush()
    session.add(
        CustomerConfig(
            customer_id=customer.customer_id,
            category_weights=dict(category_weights or DEFAULT_CATEGORY_WEIGHTS),
        )
    )
    session.add_all(
        KPIReferenceRange(
            customer_id=customer.customer_id,
            kpi_parameter=kpi.name,
            direction=kpi.direction,
            critical_threshold=kpi.critical,
            risk_threshold=kpi.risk,
            unit=kpi.unit,
            is_default=True,
        )
        for kpi in STANDARD_KPIS
    )
    session.flush()
    return customer


def delete(session: Session, *, customer_id: int) -> None:
    """Remove a tenant and every row it owns, dependents first.

    Relies on the invariant that every tenant-owned table carries ``customer_id``.
    """
    from tidemark.db.models import metadata

    for table in reversed(metadata.sorted_tables):
        if "customer_id" in table.c:
            session.execute(sa_delete(table).where(table.c.customer_id == customer_id))
    session.execute(sa_delete(Customer).where(Customer.customer_id == customer_id))
    session.flush()


def create_user(session: Session, *, customer_id: int, name: str, email: str) -> User:
    """A user of the tenant."""
    user = User(customer_id=customer_id, user_name=name, email=email)
    session.add(user)
    session.flush()
    return user
