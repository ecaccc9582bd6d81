"""API fixtures: the app over the test's database, a fake clock, and keys per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tidemark.api import create_app
from tidemark.clock import FakeClock
from tidemark.db.engine import unit_of_work
from tidemark.tenancy import keys
from tidemark.tenancy import service as tenants

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


@dataclass
class Tenant:
    """A tenant created for a test, with one key per role."""

    customer_id: int
    user_id: int
    keys: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        """Authorization headers for this tenant's key of ``role``."""
        return {"Authorization": f"Bearer {self.keys[role]}"}


def make_tenant(engine: Engine, name: str, clock: FakeClock) -> Tenant:
    """A tenant with a user and a viewer, a csm and an admin key."""
    with unit_of_work(engine) as session:
        customer = tenants.create(session, name=name)
        user = tenants.create_user(
            session, customer_id=customer.customer_id, name="Test User", email="test@test.com"
        )
        texts = {
            role: keys.create(
                session, customer_id=customer.customer_id, role=role, now=clock.now()
            )[1]
            for role in ("viewer", "csm", "admin")
        }
        return Tenant(customer.customer_id, user.user_id, texts)


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock, movable by the test."""
    return FakeClock(NOW)


@pytest.fixture
def client(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    """An HTTP client of the app on the test's database."""
    with TestClient(create_app(engine=engine, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def tenant(engine: Engine, clock: FakeClock) -> Tenant:
    """The tenant most tests act as."""
    return make_tenant(engine, "Test Company", clock)


@pytest.fixture
def other_tenant(engine: Engine, clock: FakeClock) -> Tenant:
    """A second tenant whose ids must never be visible to the first."""
    return make_tenant(engine, "Other Company", clock)
