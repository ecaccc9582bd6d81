"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is read from ``TIDEMARK_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database); the suite makes its own ``tidemark_test_<pid>`` database
there, migrates it once, empties it after each test and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tidemark.db import make_engine, session_factory
from tidemark.db.migrate import upgrade
from tidemark.db.models import metadata
from tidemark.snapshots.sections import SECTION_CACHE

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: One database per test run, so two runs on one server never share state.
TEST_DATABASE = f"tidemark_test_{os.getpid()}"


def postgres_admin_url() -> str:
    """The URL of the PostgreSQL server the tests may create a database on."""
    return os.environ.get("TIDEMARK_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A freshly created and migrated PostgreSQL database for this test run."""
    admin = make_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {TEST_DATABASE}"))
    admin.dispose()
    url = (
        make_url(postgres_admin_url())
        .set(database=TEST_DATABASE)
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    admin = make_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """One engine on the test database for the whole run."""
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _empty_postgres(engine: Engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    SECTION_CACHE.clear(engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite in one run of the test, PostgreSQL in the other."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tidemark.db"
        shutil.copy(template, path)
        sqlite_engine = make_engine(f"sqlite:///{path}")
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg: Engine = request.getfixturevalue("postgres_engine")
    _empty_postgres(pg)
    yield pg
    _empty_postgres(pg)


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of the test's database, for code that opens its own engine (the CLI)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test's database; the test commits when it needs to."""
    with session_factory(engine)() as db_session:
        yield db_session
