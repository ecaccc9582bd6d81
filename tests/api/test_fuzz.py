"""OpenAPI-driven fuzzing of every operation, on SQLite and PostgreSQL.

Schemathesis reads the app's own OpenAPI document, so a new endpoint is fuzzed
as soon as its router is mounted. Each operation gets generated valid and
invalid requests (as an admin of a tenant with accounts, snapshots, notes,
playbooks and trends, beside a second tenant) and every answer must be:

- no server error (no 5xx);
- a status code the operation documents;
- a content type and a body that match the documented response schema.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, create_engine

from tests.api.conftest import Tenant
from tests.api.test_isolation_sweep import seed_tenant
from tidemark.api import create_app
from tidemark.clock import FakeClock

#: The document is read from an app that never touches its database; each test
#: sends its requests to an app on the test's own database instead (``case.call(app=)``).
#: ``schemathesis.pytest.from_fixture`` would be the usual way, but in 4.32 it reads a
#: private attribute that pytest 9 no longer has.
SCHEMA = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(engine=create_engine("sqlite://"))
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation: enough to reach every parameter, small enough for every run;
#: ``TIDEMARK_FUZZ_EXAMPLES=500`` digs deeper by hand.
EXAMPLES = int(os.environ.get("TIDEMARK_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def fuzzed(
    engine: Engine, clock: FakeClock, tenant: Tenant, other_tenant: Tenant
) -> tuple[FastAPI, dict[str, str]]:
    """The app on a seeded database (small ids exist, so GETs find data) and an admin's headers."""
    seed_tenant(engine, tenant)
    seed_tenant(engine, other_tenant, own_account="Their Own Ltd")
    return create_app(engine=engine, clock=clock), tenant.headers("admin")


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_answer_matches_its_schema(
    case: Any, fuzzed: tuple[FastAPI, dict[str, str]]
) -> None:
    app, headers = fuzzed
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)


def test_every_operation_is_fuzzed() -> None:
    """The fuzzed operations are exactly the app's, so none is skipped silently."""
    document = create_app(engine=create_engine("sqlite://")).openapi()
    served = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    fuzzed = {result.ok().label for result in SCHEMA.get_all_operations()}
    assert fuzzed == served
    assert "GET /api/account-snapshots/latest" in fuzzed


def test_errors_are_documented_as_problem_details() -> None:
    """Every authenticated operation documents its errors as problem+json, 422 included."""
    document = create_app(engine=create_engine("sqlite://")).openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not operation.get("security"):
                continue
            responses = operation["responses"]
            for code in ("401", "403", "404", "422"):
                content = responses[code]["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
