"""`tidemark import snapshots`: a history file in, snapshots out, or nothing at all."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from tests import factories
from tests.cli.conftest import Run, RunJson

THAI = "บริษัท ไทยเทค จำกัด"


def write_history(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def test_import_matches_and_creates_accounts(
    cli: Run, cli_json: RunJson, session: Session, tmp_path: Path
) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Acme Corp")
    session.commit()
    history = write_history(
        tmp_path / "history.jsonl",
        [
            {
                "snapshot_timestamp": "2024-11-01T00:00:00Z",
                "account_name": "Acme Corp",
                "overall_health_score": "61.5",
                "revenue": "40000",
            },
            {
                "snapshot_timestamp": "2024-12-01T00:00:00Z",
                "account_name": "Acme Corp",
                "overall_health_score": "70",
                "revenue": "45000",
            },
            {
                "snapshot_timestamp": "2024-12-15T00:00:00Z",
                "account_name": THAI,
                "overall_health_score": "80.25",
                "revenue": "750000",
            },
        ],
    )
    result = cli_json("import", "snapshots", str(history), "--customer", "Test Company")
    assert (result["count"], result["lines"]) == (3, 3)
    assert (result["accounts_matched"], result["accounts_created"]) == (1, 1)

    acme = cli_json("snapshot", "history", "--account", "acme corp", "--months", "6")
    assert [r["overall_health_score"] for r in acme["snapshots"]] == ["61.50", "70.00"]
    assert acme["snapshots"][1]["health_score_change_from_last"] == "8.50"
    assert {r["snapshot_type"] for r in acme["snapshots"]} == {"imported"}
    thai = cli_json("snapshot", "latest", "--account", THAI)
    assert thai[0]["revenue"] == "750000.00"
    assert (
        "Imported 0 snapshot(s)"
        in cli("import", "snapshots", str(write_history(tmp_path / "empty.jsonl", []))).stdout
    )


def test_a_bad_line_imports_nothing(
    cli: Run, cli_json: RunJson, session: Session, tmp_path: Path
) -> None:
    factories.customer(session)
    session.commit()
    history = write_history(
        tmp_path / "bad.jsonl",
        [
            {"snapshot_timestamp": "2024-11-01T00:00:00Z", "account_name": "Acme Corp"},
            {
                "snapshot_timestamp": "2024-12-01T00:00:00Z",
                "account_name": "Acme Corp",
                "overall_health_score": "lots",
            },
        ],
    )
    failed = cli("import", "snapshots", str(history), code=1)
    assert failed.stderr.startswith("Error: line 2")
    assert len(failed.stderr.strip().splitlines()) == 1
    assert cli_json("snapshot", "list")["total"] == 0
    assert cli_json("customers", "list")[0]["accounts"] == 0
    missing = cli("import", "snapshots", str(tmp_path / "nope.jsonl"), code=1)
    assert "no such file" in missing.stderr
