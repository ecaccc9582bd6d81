"""Alembic environment: runs against the connection or URL the caller gives."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tidemark.assistant.models import include_name
from tidemark.db.engine import make_engine
from tidemark.db.models import metadata
from tidemark.settings import get_settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The full-text tables and trigram indexes are made by migration 0004 in SQL.
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the connection handed over in ``config.attributes`` or the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url()
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
