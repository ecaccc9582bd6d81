"""Help text, init, status and customers; the pieces every command shares."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from tests import factories
from tests.cli.conftest import Run, RunJson, invoke
from tidemark.cli import app
from tidemark.clock import months_before
from tidemark.console import jsonable, now, parse_moment
from tidemark.db.status import hidden_url
from tidemark.errors import InvalidInput
from tidemark.settings import get_settings


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, TyperGroup):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
COMMANDS = _commands(ROOT)


def test_the_documented_commands_exist() -> None:
    expected = {
        ("init",),
        ("status",),
        ("demo",),
        ("customers", "create"),
        ("customers", "list"),
        ("snapshot", "create"),
        ("snapshot", "list"),
        ("snapshot", "latest"),
        ("snapshot", "show"),
        ("snapshot", "compare"),
        ("snapshot", "history"),
        ("import", "snapshots"),
    }
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    command: Any = ROOT
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    example = re.search(r"Example: .*tidemark " + " ".join(path), command.help)
    assert example, f"{' '.join(path)} help has no example"
    assert "Example:" in invoke(*path, "--help").stdout


def test_read_commands_take_json() -> None:
    for path in [p for p in COMMANDS if p[-1] in {"list", "latest", "show", "compare", "history"}]:
        assert "--json" in invoke(*path, "--help").stdout, path
    assert "--json" in invoke("status", "--help").stdout


def test_init_then_status(cli: Run, cli_json: RunJson, session: object) -> None:
    assert "already at the newest schema" in cli("init").stdout
    report = cli_json("status")
    assert report["schema"]["up_to_date"] is True
    assert report["schema"]["revision"] == report["schema"]["newest"]
    names = [t["name"] for t in report["tables"]]
    assert {"customers", "accounts", "account_snapshots", "snapshot_sections"} <= set(names)
    assert "alembic_version" not in names
    assert report["memory_only"] and "safe to lose" in report["memory_only"][0]["description"]


def test_status_counts_rows_and_snapshot_storage(
    cli: Run, cli_json: RunJson, session: object
) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    tenant, _ = factories.customer(session)
    for i in range(4):
        factories.account(session, tenant, f"Account {i}")
    session.commit()
    cli("snapshot", "create")
    cli("snapshot", "create")
    report = cli_json("status")
    rows = {t["name"]: t["rows"] for t in report["tables"]}
    assert rows["customers"] == 1
    assert rows["users"] == 1
    assert rows["accounts"] == 4
    assert rows["kpis"] == 100
    assert rows["account_snapshots"] == 8
    storage = report["snapshot_storage"]
    assert storage["snapshots"] == 8
    assert storage["accounts_with_snapshots"] == 4
    assert storage["section_references"] == 40
    # Unchanged accounts share their sections between both captures.
    assert storage["sections"] < storage["section_references"]
    assert storage["bytes"] > 0 and storage["bytes_per_snapshot"] > 0
    assert storage["method"] in {"dbstat", "pg_total_relation_size"}
    assert report["tenants"]["shown"] == [
        {
            "customer_id": tenant.customer_id,
            "customer_name": "Test Company",
            "users": 1,
            "accounts": 4,
            "snapshots": 8,
        }
    ]
    text = cli("status").stdout
    assert "Snapshot storage" in text
    assert "safe to lose" in text
    if report["database"]["backend"] == "sqlite":
        assert report["database"]["path"] and report["database"]["file_bytes"] > 0
        assert report["database"]["path"] in text


def test_status_of_a_database_not_created_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDEMARK_DATABASE_URL", raising=False)
    monkeypatch.setenv("TIDEMARK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        report = json.loads(invoke("status", "--json").stdout)
        assert report["database"]["exists"] is False
        assert report["schema"]["up_to_date"] is False
        assert "tidemark init" in invoke("status").stdout
        assert not (tmp_path / "data" / "tidemark.db").exists()
        assert "migrated from empty" in invoke("init").stdout
        assert (tmp_path / "data" / "tidemark.db").exists()
        assert json.loads(invoke("status", "--json").stdout)["schema"]["up_to_date"] is True
    finally:
        get_settings.cache_clear()


def test_customers_create_and_list(cli: Run, cli_json: RunJson) -> None:
    assert cli_json("customers", "list") == []
    assert "Created customer" in cli("customers", "create", "Test Company").stdout
    cli("customers", "create", "บริษัท ไทยเทค จำกัด", "--email", "ops@example.co.th")
    duplicate = cli("customers", "create", "test company", code=1)
    assert duplicate.stderr.strip() == "Error: customer 'test company' already exists"
    assert "must not be empty" in cli("customers", "create", "  ", code=1).stderr
    listed = cli_json("customers", "list")
    assert [c["customer_name"] for c in listed] == ["Test Company", "บริษัท ไทยเทค จำกัด"]
    assert listed[1]["email"] == "ops@example.co.th"
    assert listed[0]["accounts"] == 0
    datetime.fromisoformat(listed[0]["created_at"])
    assert "บริษัท ไทยเทค จำกัด" in cli("customers", "list").stdout


def test_clock_reads_tidemark_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_NOW", "2025-06-30T10:00:00+07:00")
    assert now() == datetime(2025, 6, 30, 3, 0, tzinfo=UTC)
    monkeypatch.setenv("TIDEMARK_NOW", "2025-06-30T10:00:00")
    assert now() == datetime(2025, 6, 30, 10, 0, tzinfo=UTC)
    monkeypatch.setenv("TIDEMARK_NOW", "soon")
    with pytest.raises(InvalidInput):
        now()
    monkeypatch.delenv("TIDEMARK_NOW")
    assert abs((now() - datetime.now(UTC)).total_seconds()) < 5


def test_months_before_clamps_to_month_end() -> None:
    at = datetime(2025, 3, 31, 9, 30, tzinfo=UTC)
    assert months_before(at, 1) == datetime(2025, 2, 28, 9, 30, tzinfo=UTC)
    assert months_before(at, 3) == datetime(2024, 12, 31, 9, 30, tzinfo=UTC)
    assert months_before(at, 13) == datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
    assert months_before(at, 0) == at


def test_parse_moment() -> None:
    assert parse_moment("2025-01-31", where="--since") == datetime(2025, 1, 31, tzinfo=UTC)
    end = parse_moment("2025-01-31", where="--until", end_of_day=True)
    assert end is not None and (end.hour, end.minute, end.second) == (23, 59, 59)
    assert parse_moment("2025-01-31T09:30+07:00", where="--since") == datetime(
        2025, 1, 31, 2, 30, tzinfo=UTC
    )
    assert parse_moment(None, where="--since") is None
    with pytest.raises(InvalidInput, match="--since"):
        parse_moment("31/01/2025", where="--since")


def test_jsonable_keeps_numbers_exact() -> None:
    value = {"a": Decimal("1.10"), "b": [datetime(2025, 1, 1, tzinfo=UTC)], "c": b"\x01"}
    assert jsonable(value) == {"a": "1.10", "b": ["2025-01-01T00:00:00+00:00"], "c": "01"}


def test_hidden_url() -> None:
    url = "postgresql+psycopg://tide:s3cret@db.example.com:5432/tidemark"
    assert "s3cret" not in hidden_url(url)
    assert "tide:***@db.example.com" in hidden_url(url)


def test_unreachable_database_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    try:
        result = invoke("customers", "list", code=1)
    finally:
        get_settings.cache_clear()
    assert result.stdout == ""
    assert result.stderr.startswith("Error: cannot use the database:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_log_lines_follow_the_configured_level(
    cli: Run, session: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Acme Corp")
    session.commit()
    monkeypatch.setenv("TIDEMARK_LOG_LEVEL", "INFO")
    get_settings.cache_clear()
    lines = cli("snapshot", "create").stderr.strip().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO tidemark\.snapshots\.capture: Captured 1 manual snapshot\(s\).*",
        lines[0],
    )
    monkeypatch.setenv("TIDEMARK_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    assert cli("snapshot", "create").stderr == ""
