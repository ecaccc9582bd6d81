"""Tenant isolation, swept over the app's own route table.

Every operation of the OpenAPI document is called as tenant A with ids that
exist only in tenant B: it must answer 404 and leave the database exactly as it
was. Each operation is then called with A's own ids, which must succeed, must
not change any of B's rows and must not show any of B's ids. Operations that
take no id are called as A and checked the same way (B untouched, nothing of B
shown).

The routes are not listed by hand: a new endpoint is swept as soon as it is
mounted. The sweep fails when it meets a route it cannot exercise: an id-like
parameter it cannot map to a table, a file upload without a sample file, or a
call with A's own ids that does not succeed. Teach it in the tables below.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, create_engine, select
from starlette.routing import BaseRoute

from tests import factories
from tests.api.conftest import NOW, Tenant
from tidemark.api import create_app
from tidemark.assistant.log import log_query
from tidemark.clock import FakeClock
from tidemark.db.engine import unit_of_work
from tidemark.db.models import metadata
from tidemark.events.models import OutboxEvent, ScheduleRun, SnapshotSchedule
from tidemark.snapshots.capture import capture_accounts
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    HealthTrend,
    KPITimeSeries,
    KPIUpload,
    PlaybookReport,
    PlaybookTrigger,
)
from tidemark.tenancy.models import Customer, User

# ----------------------------------------------------------------------------- what it knows

#: Routes the sweep does not call, each with the reason it needs no tenant check.
EXEMPT: dict[str, str] = {
    "GET /api/health": "answers without authentication and reads no tenant data",
}

#: Names that end in ``_id`` but do not point at a tenant's row, and why.
NOT_REFERENCES: dict[str, str] = {
    "playbook_id": "playbooks are one product-wide catalog, the same in every tenant",
    "related_playbook_id": "a playbook of the product-wide catalog",
    "external_account_id": "the tenant's own label of an account, free text that another "
    "tenant may use too (the seed gives both tenants the same ones)",
}

#: Which of a tenant's rows to pick for an id, where not any row will do.
PICK_WHERE: dict[str, tuple[str, Any]] = {
    "execution_id": ("status", "in-progress"),  # advance and complete need a running one
    "event_id": ("state", "dead"),  # only a dead event can be retried
}

#: Values for parameters and body fields that are not ids, by name, where a minimal
#: value from the schema would not be meaningful (sent even where optional).
SAMPLES: dict[str, Any] = {
    "playbook_id": "voc-sprint",
    "playbook_type": "renewal-safeguard",
    "overall_health_score": 75,
    "trigger_conditions": {"any": [{"field": "overall_health_score", "op": "<", "value": 60}]},
    "at": "2030-01-01",
    "months": 120,
    "kpi_parameter": STANDARD_KPIS[0].name,
    "category": STANDARD_KPIS[0].category,
    "year": 2025,
    "month": 5,
    "note_content": "Reviewed adoption with the admin team.",
    "frequency": "daily",
    "time_of_day": "02:00",
    "scope": "health_below",
    "health_threshold": 70,
    "timezone": "Asia/Bangkok",
    "kpi_upload_mode": "account_rollup",
    "snapshot_window_seconds": 120,
    "category_weights": {
        "Product Usage": 0.3,
        "Support": 0.2,
        "Customer Sentiment": 0.2,
        "Business Outcomes": 0.2,
        "Relationship Strength": 0.1,
    },
}

#: A file for every multipart file field, by operation; the sweep refuses to guess file contents.
#: Files name an account only B has, so a file of A's must make A its own account and leave B's.
FILES: dict[str, dict[str, tuple[str, bytes, str]]] = {
    "POST /api/upload": {
        "file": (
            "kpis.csv",
            b"account_name,external_account_id,category,kpi_parameter,data,impact_level,"
            b"weight,measurement_frequency,product,month,year\n"
            b"Their Own Ltd,,Product Usage,Product Adoption Rate,85%,High,1,monthly,"
            b"Analytics,5,2025\n"
            b"Shared Name Ltd,EXT-1,Support,First Response Time,6,High,1,monthly,,5,2025\n",
            "text/csv",
        )
    },
    "POST /api/reference-ranges/upload": {
        "file": (
            "ranges.csv",
            b"kpi_parameter,direction,critical_threshold,risk_threshold,unit\n"
            b"Product Adoption Rate,higher,35,55,%\n",
            "text/csv",
        )
    },
    "POST /api/customer-profile/upload": {
        "file": (
            "profiles.csv",
            b"account_name,external_account_id,revenue,industry\n"
            b"Their Own Ltd,EXT-9,250000,Retail\n"
            b"Shared Name Ltd,EXT-1,120000,Technology\n",
            "text/csv",
        )
    },
    "POST /api/account-snapshots/import": {
        "file": (
            "history.jsonl",
            b'{"account_name": "Their Own Ltd", "snapshot_timestamp": "2025-06-01",'
            b' "revenue": 1000}\n',
            "application/x-ndjson",
        )
    },
}

#: Operations whose call with A's own ids is refused on purpose, with the status and why.
EXPECTED_REFUSALS: dict[str, tuple[int, str]] = {}

_ID_NAME = re.compile(r"^(?P<base>.+_id)(?:_\d+)?$")
_IDS_NAME = re.compile(r"^(?P<base>.+_id)s$")
_SECRET = re.compile(rb"tmk_[0-9a-f]+_[A-Za-z0-9_-]+")

# ----------------------------------------------------------------------------- seeding


def seed_tenant(engine: Engine, tenant: Tenant, *, own_account: str | None = None) -> None:
    """Give the tenant a row in every table it owns: accounts, KPIs, notes, playbooks, snapshots.

    Both tenants get the same account names and external ids, so a lookup by
    name that forgot the tenant would find the other tenant's account;
    ``own_account`` is the name of one more account only this tenant has.
    """
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        user = session.get_one(User, tenant.user_id)
        first = factories.account(
            session,
            customer,
            "Shared Name Ltd",
            products=("Analytics",),
            external_account_id="EXT-1",
            industry="Technology",
        )
        second = factories.account(session, customer, "Second Account", external_account_id="EXT-2")
        if own_account is not None:
            factories.account(session, customer, own_account)
        for account in (first, second):
            factories.note(session, account, user, "Kick-off call with the sponsor.")
            factories.note(session, account, user, "QBR booked.", note_type="qbr")
            done = factories.playbook(
                session, account, "voc-sprint", completed_at=factories.T0 + timedelta(days=20)
            )
            factories.playbook(session, account, "renewal-safeguard")
            session.add_all(
                [
                    PlaybookReport(
                        execution_id=done.execution_id,
                        customer_id=customer.customer_id,
                        account_id=account.account_id,
                        playbook_id="voc-sprint",
                        playbook_name="VoC Sprint",
                        report_data={"executive_summary": "Completed."},
                        steps_completed=5,
                        status="completed",
                        started_at=done.started_at,
                        completed_at=done.completed_at,
                        report_generated_at=done.completed_at,
                    ),
                    HealthTrend(
                        customer_id=customer.customer_id,
                        account_id=account.account_id,
                        year=2025,
                        month=4,
                        overall_health_score=Decimal("72.50"),
                    ),
                    KPITimeSeries(
                        customer_id=customer.customer_id,
                        account_id=account.account_id,
                        kpi_parameter=STANDARD_KPIS[0].name,
                        category=STANDARD_KPIS[0].category,
                        year=2025,
                        month=4,
                        value=Decimal(80),
                        health_status="Healthy",
                        health_score=Decimal(100),
                    ),
                ]
            )
        session.add_all(
            [
                PlaybookTrigger(
                    customer_id=customer.customer_id,
                    playbook_type="renewal-safeguard",
                    trigger_conditions={
                        "any": [{"field": "overall_health_score", "op": "<", "value": 60}]
                    },
                ),
                KPIUpload(
                    customer_id=customer.customer_id,
                    account_id=first.account_id,
                    user_id=user.user_id,
                    uploaded_at=NOW - timedelta(days=40),
                    version=1,
                    original_filename="kpis.csv",
                    raw_file=b"account_name,kpi_parameter,data\nShared Name Ltd,NPS,40\n",
                    parsed_data=[
                        {"account_name": "Shared Name Ltd", "kpi_parameter": "NPS", "data": "40"}
                    ],
                    row_count=1,
                ),
            ]
        )
        schedule = SnapshotSchedule(
            customer_id=customer.customer_id,
            name="nightly",
            frequency="daily",
            time_of_day="02:00",
            scope="all",
            next_run_at=NOW + timedelta(hours=14),
        )
        session.add(schedule)
        session.flush()
        session.add_all(
            [
                ScheduleRun(
                    schedule_id=schedule.schedule_id,
                    customer_id=customer.customer_id,
                    due_at=NOW - timedelta(hours=10),
                    started_at=NOW - timedelta(hours=10),
                    finished_at=NOW - timedelta(hours=10),
                    state="done",
                ),
                OutboxEvent(
                    customer_id=customer.customer_id,
                    account_id=first.account_id,
                    event_type="account_data_changed",
                    created_at=NOW - timedelta(hours=1),
                    available_at=NOW - timedelta(hours=1),
                    state="dead",
                    attempts=5,
                    last_error="RuntimeError: the source was unreadable",
                ),
            ]
        )
        log_query(
            session,
            customer_id=customer.customer_id,
            user_id=user.user_id,
            question="What was Shared Name Ltd's health score last month?",
            answer="Shared Name Ltd's health score was 72.5/100.",
            answerer="offline",
            answerable=True,
            created_at=NOW,
            duration_ms=3,
        )
    for days_ago in (60, 30):
        with unit_of_work(engine) as session:
            capture_accounts(
                session,
                customer_id=tenant.customer_id,
                at=NOW - timedelta(days=days_ago),
                snapshot_type="scheduled",
                created_by=tenant.user_id,
            )


# ----------------------------------------------------------------------------- the database


#: Columns that may change on any authenticated request without being a write of the request.
VOLATILE = {"api_keys.last_used_at"}


def digest(engine: Engine, customer_id: int | None = None) -> dict[str, str]:
    """A hash of every table's rows (of one tenant when ``customer_id`` is given)."""
    result: dict[str, str] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if customer_id is not None and "customer_id" not in table.c:
                continue
            columns = [c for c in table.c if f"{table.name}.{c.name}" not in VOLATILE]
            query = select(*columns).order_by(*(table.primary_key.columns or columns))
            if customer_id is not None:
                query = query.where(table.c.customer_id == customer_id)
            hashed = hashlib.sha256()
            for row in conn.execute(query):
                hashed.update(repr(tuple(row)).encode())
            result[table.name] = hashed.hexdigest()
    return result


def id_columns() -> dict[str, Column[Any]]:
    """Every id name the sweep can resolve: the tables' single-column primary keys."""
    columns: dict[str, Column[Any]] = {}
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) == 1 and not keys[0].foreign_keys:
            columns[keys[0].name] = keys[0]
    return columns


def tenant_ids(engine: Engine, customer_id: int) -> dict[str, set[Any]]:
    """Every id value of the tenant, by id name."""
    found: dict[str, set[Any]] = {}
    with engine.connect() as conn:
        for name, column in id_columns().items():
            table = column.table
            if "customer_id" not in table.c:
                continue
            found[name] = set(
                conn.execute(select(column).where(table.c.customer_id == customer_id)).scalars()
            )
    return found


def pick_id(engine: Engine, customer_id: int, name: str) -> Any:
    """One of the tenant's ids of this kind, preferring rows of its first account."""
    column = id_columns()[name]
    table = column.table
    with engine.connect() as conn:
        anchor = conn.execute(
            select(metadata.tables["accounts"].c.account_id)
            .where(metadata.tables["accounts"].c.customer_id == customer_id)
            .order_by(metadata.tables["accounts"].c.account_id)
            .limit(1)
        ).scalar_one_or_none()
        query = (
            select(column)
            .where(table.c.customer_id == customer_id, column.is_not(None))
            .order_by(column)
        )
        if name in PICK_WHERE:
            column_name, wanted = PICK_WHERE[name]
            query = query.where(table.c[column_name] == wanted)
        if "account_id" in table.c and table.name != "accounts" and anchor is not None:
            preferred = conn.execute(query.where(table.c.account_id == anchor).limit(1)).scalar()
            if preferred is not None:
                return preferred
        return conn.execute(query.limit(1)).scalar()


# ----------------------------------------------------------------------------- the route table


@dataclass
class Slot:
    """One place an id goes: a path or query parameter, or a JSON body field."""

    where: str  # "path", "query" or "body"
    name: str
    id_name: str
    many: bool = False


@dataclass
class Operation:
    """One operation of the OpenAPI document and how to call it."""

    method: str
    path: str
    spec: dict[str, Any]
    slots: list[Slot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``METHOD /path``, as in EXEMPT and FILES."""
        return f"{self.method} {self.path}"


def _id_name(name: str) -> tuple[str, bool] | None:
    if name in NOT_REFERENCES:
        return None
    many = _IDS_NAME.match(name)
    if many:
        return many["base"], True
    one = _ID_NAME.match(name)
    if one:
        return one["base"], False
    return None


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of the document with its id slots (and what the sweep cannot handle)."""
    known = id_columns()
    found: list[Operation] = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            operation = Operation(method.upper(), path, spec)
            found.append(operation)
            if operation.label in EXEMPT:
                continue
            names = [(p["in"], p["name"]) for p in spec.get("parameters", [])]
            body = _json_body_schema(document, spec)
            if body is not None:
                properties = _object_schema(document, body).get("properties", {})
                names += [("body", n) for n in properties]
            for where, name in names:
                parsed = _id_name(name)
                if parsed is None:
                    continue
                id_name, many = parsed
                if id_name not in known:
                    operation.problems.append(
                        f"{where} {name!r} looks like an id the sweep cannot map to a table "
                        "(add it to NOT_REFERENCES if it names no tenant's row)"
                    )
                    continue
                operation.slots.append(Slot(where, name, id_name, many))
            content = spec.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content and operation.label not in FILES:
                operation.problems.append("takes a file: add a sample to FILES")
    return found


def _json_body_schema(document: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    content = spec.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


def _object_schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object a body schema describes, through ``$ref`` and an optional (``anyOf`` null)."""
    schema = _resolve(document, schema)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            resolved = _resolve(document, option)
            if resolved.get("type") == "object":
                return resolved
    return schema


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def minimal(document: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    """The smallest value that satisfies ``schema`` (named values come from SAMPLES)."""
    if name in SAMPLES:
        return SAMPLES[name]
    schema = _resolve(document, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(document, o).get("type") != "null"]
            return minimal(document, (options or schema[key])[0], name)
    if "allOf" in schema:
        return minimal(document, schema["allOf"][0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        wanted = [k for k in properties if k in schema.get("required", []) or k in SAMPLES]
        return {key: minimal(document, properties[key], key) for key in wanted}
    if kind == "array":
        return [minimal(document, schema.get("items", {}), name)] * schema.get("minItems", 0)
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if schema.get("format") == "date":
        return "2025-05-01"
    if schema.get("format") == "date-time":
        return "2025-05-01T00:00:00Z"
    return "x" * max(1, schema.get("minLength", 1))


@dataclass
class Request:
    """The pieces of one HTTP call."""

    method: str
    url: str
    params: dict[str, Any]
    json: Any = None
    files: dict[str, tuple[str, io.BytesIO, str]] | None = None


def build(
    document: dict[str, Any],
    operation: Operation,
    mine: dict[str, Any],
    theirs: dict[str, Any],
    foreign: Slot | None,
) -> Request:
    """The call of ``operation`` with A's ids (``mine``), and B's in the ``foreign`` slot."""

    def value(slot: Slot) -> Any:
        if slot is not foreign:
            return [mine[slot.id_name]] if slot.many else mine[slot.id_name]
        # A list gets one of A's ids beside B's: the whole request must still be refused.
        return [mine[slot.id_name], theirs[slot.id_name]] if slot.many else theirs[slot.id_name]

    by_slot = {(s.where, s.name): s for s in operation.slots}
    path = operation.path
    params: dict[str, Any] = {}
    for parameter in operation.spec.get("parameters", []):
        key = (parameter["in"], parameter["name"])
        if key in by_slot:
            chosen = value(by_slot[key])
        elif parameter.get("required") or parameter["name"] in SAMPLES:
            chosen = minimal(document, parameter.get("schema", {}), parameter["name"])
        else:
            continue
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(chosen))
        elif parameter["in"] == "query":
            params[parameter["name"]] = chosen
    body: Any = None
    schema = _json_body_schema(document, operation.spec)
    if schema is not None:
        body = minimal(document, schema)
        if isinstance(body, dict):
            for slot in operation.slots:
                if slot.where == "body":
                    body[slot.name] = value(slot)
    files = None
    if operation.label in FILES:
        files = {
            key: (name, io.BytesIO(content), kind)
            for key, (name, content, kind) in FILES[operation.label].items()
        }
    return Request(operation.method, path, params, body, files)


def hidden_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """API routes left out of the OpenAPI document (the sweep would not see them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            if not route.include_in_schema:
                yield route
            continue
        # Included routers and mounts keep their own routes one level down.
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        inner = inner if inner is not None else getattr(route, "routes", None)
        if inner:
            yield from hidden_routes(list(inner))


def leaked(payload: Any, foreign: dict[str, set[Any]], customer_id: int) -> list[str]:
    """Every ``*_id`` value in a response that belongs to the other tenant."""
    found: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for inner_key, inner in value.items():
                walk(inner, inner_key)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, key)
        elif key == "customer_id" and value == customer_id:
            found.append(f"customer_id={value}")
        elif key and key != "customer_id":
            parsed = _id_name(key)
            if parsed and value in foreign.get(parsed[0], set()):
                found.append(f"{key}={value}")

    walk(payload, "")
    return found


# ----------------------------------------------------------------------------- the tests


def test_every_route_is_known_to_the_sweep() -> None:
    """A route the sweep cannot exercise fails here, before any database work."""
    app = create_app(engine=create_engine("sqlite://"))
    document = app.openapi()
    problems = [f"{op.label}: {p}" for op in operations(document) for p in op.problems]
    labels = {op.label for op in operations(document)}
    problems += [f"{label}: exempt but no longer served" for label in EXEMPT if label not in labels]
    problems += [
        f"{sorted(route.methods)} {route.path}: hidden from the OpenAPI document, so not swept"
        for route in hidden_routes(app.routes)
    ]
    assert not problems, "\n".join(problems)


def _call(client: TestClient, request: Request, headers: dict[str, str]) -> Any:
    return client.request(
        request.method,
        request.url,
        params=request.params,
        json=request.json,
        files=request.files,
        headers=headers,
    )


def _order(operation: Operation) -> tuple[int, int, int, str]:
    # Deletes go last (accounts last of all) so earlier calls still find A's rows;
    # before them, writes that take no id (they may change every row of a kind, as
    # retrying all dead events does) go after the writes that name one row.
    deleting = operation.method == "DELETE"
    return (
        deleting,
        deleting and any(s.id_name == "account_id" for s in operation.slots),
        operation.method != "GET" and not operation.slots,
        operation.label,
    )


@pytest.mark.slow
def test_another_tenants_ids_answer_404_and_change_nothing(
    client: TestClient,
    engine: Engine,
    clock: FakeClock,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    """Every operation, as A: B's ids answer 404 and change nothing; A's own never touch B."""
    seed_tenant(engine, tenant)
    seed_tenant(engine, other_tenant, own_account="Their Own Ltd")
    theirs = tenant_ids(engine, other_tenant.customer_id)
    empty = sorted(name for name, values in theirs.items() if not values)
    assert not empty, f"the seed leaves these kinds of id without rows: {empty}"

    document = client.app.openapi()  # type: ignore[attr-defined]
    headers = tenant.headers("admin")
    failures: list[str] = []
    covered: list[str] = []
    for operation in sorted(operations(document), key=_order):
        if operation.label in EXEMPT:
            continue
        if operation.problems:
            failures += [f"{operation.label}: {p}" for p in operation.problems]
            continue
        mine = {s.id_name: pick_id(engine, tenant.customer_id, s.id_name) for s in operation.slots}
        foreign = {
            s.id_name: pick_id(engine, other_tenant.customer_id, s.id_name) for s in operation.slots
        }
        for slot in operation.slots:
            request = build(document, operation, mine, foreign, slot)
            before = digest(engine)
            response = _call(client, request, headers)
            if response.status_code != 404:
                failures.append(
                    f"{operation.label} with B's {slot.where} {slot.name}: "
                    f"{response.status_code} {response.text[:300]}"
                )
            if digest(engine) != before:
                changed = [k for k, v in digest(engine).items() if before[k] != v]
                failures.append(f"{operation.label} with B's {slot.name} changed {changed}")
        theirs_before = digest(engine, other_tenant.customer_id)
        request = build(document, operation, mine, foreign, None)
        response = _call(client, request, headers)
        expected = EXPECTED_REFUSALS.get(operation.label, (None, ""))[0]
        if not (200 <= response.status_code < 300 or response.status_code == expected):
            failures.append(
                f"{operation.label} with A's own ids: {response.status_code} "
                f"{response.text[:300]} (the sweep's input is wrong, or the route is)"
            )
        if digest(engine, other_tenant.customer_id) != theirs_before:
            failures.append(f"{operation.label} as A changed B's rows")
        if response.content and response.headers.get("content-type", "").endswith("json"):
            shown = leaked(response.json(), theirs, other_tenant.customer_id)
            if shown:
                failures.append(f"{operation.label} as A showed B's {shown[:5]}")
        if _SECRET.search(response.content) and operation.method == "GET":
            failures.append(f"{operation.label} shows an API key's secret")
        covered.append(
            f"{operation.label} ({', '.join(s.name for s in operation.slots) or 'no ids'})"
        )
    assert not failures, "\n".join(failures)
    print("swept:", *covered, sep="\n  ")


def test_the_sweep_catches_a_route_without_a_tenant_wall() -> None:
    """The sweep's own check: an id slot is found and B's id goes in it."""
    document = {
        "paths": {
            "/api/things/{note_id}": {
                "get": {"parameters": [{"in": "path", "name": "note_id", "required": True}]}
            },
            "/api/odd/{gizmo_id}": {
                "get": {"parameters": [{"in": "path", "name": "gizmo_id", "required": True}]}
            },
        },
        "components": {"schemas": {}},
    }
    things, odd = operations(document)
    assert [(s.where, s.name, s.id_name) for s in things.slots] == [("path", "note_id", "note_id")]
    assert odd.problems and "gizmo_id" in odd.problems[0]
    request = build(document, things, {"note_id": 1}, {"note_id": 99}, things.slots[0])
    assert request.url == "/api/things/99"
    assert leaked({"items": [{"note_id": 99}]}, {"note_id": {99}}, 2) == ["note_id=99"]
    assert date(2025, 5, 1).isoformat() == minimal(document, {"type": "string", "format": "date"})
