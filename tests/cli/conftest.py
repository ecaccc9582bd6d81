"""Run the `tidemark` CLI in-process against the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from typer.testing import CliRunner, Result

from tidemark import console
from tidemark.cli import app
from tidemark.settings import get_settings

NOW = "2025-03-01T12:00:00+00:00"


class Run(Protocol):
    def __call__(self, *args: str, code: int = 0) -> Result: ...


class RunJson(Protocol):
    def __call__(self, *args: str) -> Any: ...


def invoke(*args: str, code: int = 0) -> Result:
    """Invoke the CLI and check its exit code, showing its output when it differs."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, (
        f"tidemark {' '.join(args)} exited {result.exit_code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """The CLI on the test's database, with the clock pinned to ``NOW``."""
    monkeypatch.setenv("TIDEMARK_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEMARK_NOW", NOW)
    monkeypatch.setattr(console.out, "width", 200)
    get_settings.cache_clear()
    yield invoke
    get_settings.cache_clear()


@pytest.fixture
def cli_json(cli: Run) -> RunJson:
    """Run a command with --json and return the parsed output."""

    def run(*args: str) -> Any:
        return json.loads(cli(*args, "--json").stdout)

    return run
