"""The benchmarks still run: each one end to end on a tiny data set (SQLite).

They are run by hand at full size (see docs/STORAGE.md); these runs only keep
them from rotting, and check the parts of their output that are not timings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import capture, reads, storage

pytestmark = pytest.mark.slow


def test_capture_benchmark_compares_both_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = capture.main(
        ["--accounts", "40", "--compare-accounts", "12", "--db", str(tmp_path / "capture.db")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "records equal: 12 accounts" in out
    for label in ("naive: ORM", "set-based: capture_accounts", "all accounts, first snapshot"):
        assert label in out
    assert re.search(r"speed-up on the same 12 accounts: [\d.]+x", out)


def test_storage_and_read_benchmarks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "storage.db"
    assert storage.main(["--accounts", "12", "--days", "35", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "captured 420 snapshots" in out
    assert re.search(r"flat / engine: [\d.]+x", out)
    for kind in ("health", "kpis", "playbooks", "profile", "references"):
        assert re.search(rf"^{kind}\s+\d", out, re.MULTILINE), kind
    assert "idx_account_snapshot_timestamp" in out

    assert reads.main(["--db", str(db), "--runs", "5"]) == 0
    out = capsys.readouterr().out
    for name in ("latest", "history", "compare"):
        assert re.search(rf"^{name}\s.*\bwarm\b", out, re.MULTILINE), name
