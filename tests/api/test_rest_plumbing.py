"""The shared HTTP plumbing under load and at its edges: sessions, admission, id bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests import factories
from tests.api.conftest import Tenant
from tidemark.api import create_app
from tidemark.clock import FakeClock
from tidemark.db import make_engine
from tidemark.db.engine import unit_of_work
from tidemark.rest.deps import MAX_ID
from tidemark.snapshots.models import AccountSnapshot
from tidemark.tenancy.models import Customer


def _account(engine: Engine, tenant: Tenant, name: str = "TechCorp Solutions") -> int:
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        return factories.account(session, customer, name).account_id


def _snapshots(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AccountSnapshot)).scalar_one()


def test_the_write_is_committed_before_the_response_starts(
    engine: Engine, clock: FakeClock, tenant: Tenant
) -> None:
    """A client that has its 201 can read its write at once (no commit after the response)."""
    _account(engine, tenant)
    app = create_app(engine=engine, clock=clock)
    seen_at_response: list[int] = []
    body = b"{}"
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *[(k.lower().encode(), v.encode()) for k, v in tenant.headers("csm").items()],
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/account-snapshots/create",
        "raw_path": b"/api/account-snapshots/create",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
        "root_path": "",
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
            seen_at_response.append(_snapshots(engine))

    asyncio.run(app(scope, receive, send))
    assert statuses == [201]
    assert seen_at_response == [1]


def test_more_clients_than_connections_all_get_answers(
    database_url: str, clock: FakeClock, engine: Engine, tenant: Tenant
) -> None:
    """60 requests at once on a pool of two connections: every one answered, none timed out.

    Each request holds its connection across several worker threads; without
    admission at the pool's size, the threads all wait for connections that
    only a thread can give back, until the pool's timeout.
    """
    account_id = _account(engine, tenant)
    small = make_engine(database_url, pool_size=2, max_overflow=0, pool_timeout=3)
    app = create_app(engine=small, clock=clock)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *[
                    client.get(
                        "/api/account-snapshots/latest",
                        params={"account_id": account_id},
                        headers=tenant.headers("viewer"),
                    )
                    for _ in range(60)
                ]
            )
        return [r.status_code for r in responses]

    try:
        assert asyncio.run(asyncio.wait_for(burst(), timeout=60)) == [200] * 60
    finally:
        small.dispose()


def test_ids_beyond_the_database_range_are_invalid_not_errors(
    client: TestClient, tenant: Tenant
) -> None:
    headers = tenant.headers("viewer")
    for url, params in [
        (f"/api/account-snapshots/{MAX_ID + 1}", {}),
        ("/api/account-snapshots/latest", {"account_id": 2**63}),
        ("/api/account-snapshots/history", {"account_id": MAX_ID + 1}),
        ("/api/account-snapshots/compare", {"snapshot_id_1": 1, "snapshot_id_2": 2**31}),
    ]:
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    missing = client.get(f"/api/account-snapshots/{MAX_ID}", headers=headers)
    assert missing.status_code == 404


def test_latest_of_an_account_without_snapshots_is_empty_and_unknown_is_404(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = _account(engine, tenant)
    theirs = _account(engine, other_tenant)
    headers = tenant.headers("viewer")
    url = "/api/account-snapshots/latest"
    assert client.get(url, params={"account_id": mine}, headers=headers).json() == []
    for unknown in (theirs, MAX_ID):
        response = client.get(url, params={"account_id": unknown}, headers=headers)
        assert response.status_code == 404
