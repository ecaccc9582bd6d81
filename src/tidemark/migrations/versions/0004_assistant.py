"""Assistant: the question log, and full-text indexes over notes and playbook reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:16:31.193226

The full-text indexes find Thai, which has no spaces between words, by
trigrams. On SQLite they are FTS5 tables with the ``trigram`` tokenizer, kept
in step with their source rows by triggers; on PostgreSQL, ``pg_trgm`` GIN
indexes on the text expressions that ``tidemark.assistant.search`` queries
(the expressions must stay identical for the planner to use the indexes).
Existing notes and reports are indexed here. None of these objects is in the
ORM metadata; ``tidemark.assistant.models.include_name`` keeps autogenerate
from dropping them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tidemark.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# -- SQLite: FTS5 tables and their triggers ---------------------------------------------------

#: Notes: an external-content table over account_notes (it stores only the index).
_NOTE_COLUMNS = "note_title, note_content"
#: Reports: a contentless table over the playbook name and every text value of the JSON.
_REPORT_TEXT = (
    "{row}.playbook_name || ' ' || coalesce((SELECT group_concat(value, ' ') "
    "FROM json_tree({row}.report_data) WHERE type = 'text'), '')"
)

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE note_search USING fts5("
    "note_title, note_content, content='account_notes', content_rowid='note_id', "
    "tokenize='trigram')",
    "CREATE TRIGGER account_notes_search_insert AFTER INSERT ON account_notes BEGIN "
    f"INSERT INTO note_search(rowid, {_NOTE_COLUMNS}) "
    "VALUES (new.note_id, new.note_title, new.note_content); END",
    "CREATE TRIGGER account_notes_search_delete AFTER DELETE ON account_notes BEGIN "
    f"INSERT INTO note_search(note_search, rowid, {_NOTE_COLUMNS}) "
    "VALUES ('delete', old.note_id, old.note_title, old.note_content); END",
    "CREATE TRIGGER account_notes_search_update "
    "AFTER UPDATE OF note_id, note_title, note_content ON account_notes BEGIN "
    f"INSERT INTO note_search(note_search, rowid, {_NOTE_COLUMNS}) "
    "VALUES ('delete', old.note_id, old.note_title, old.note_content); "
    f"INSERT INTO note_search(rowid, {_NOTE_COLUMNS}) "
    "VALUES (new.note_id, new.note_title, new.note_content); END",
    f"INSERT INTO note_search(rowid, {_NOTE_COLUMNS}) "
    "SELECT note_id, note_title, note_content FROM account_notes",
    "CREATE VIRTUAL TABLE report_search USING fts5(body, content='', tokenize='trigram')",
    "CREATE TRIGGER playbook_reports_search_insert AFTER INSERT ON playbook_reports BEGIN "
    "INSERT INTO report_search(rowid, body) "
    f"VALUES (new.report_id, {_REPORT_TEXT.format(row='new')}); END",
    "CREATE TRIGGER playbook_reports_search_delete AFTER DELETE ON playbook_reports BEGIN "
    "INSERT INTO report_search(report_search, rowid, body) "
    f"VALUES ('delete', old.report_id, {_REPORT_TEXT.format(row='old')}); END",
    "CREATE TRIGGER playbook_reports_search_update "
    "AFTER UPDATE OF report_id, playbook_name, report_data ON playbook_reports BEGIN "
    "INSERT INTO report_search(report_search, rowid, body) "
    f"VALUES ('delete', old.report_id, {_REPORT_TEXT.format(row='old')}); "
    "INSERT INTO report_search(rowid, body) "
    f"VALUES (new.report_id, {_REPORT_TEXT.format(row='new')}); END",
    "INSERT INTO report_search(rowid, body) "
    f"SELECT report_id, {_REPORT_TEXT.format(row='playbook_reports')} FROM playbook_reports",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS playbook_reports_search_update",
    "DROP TRIGGER IF EXISTS playbook_reports_search_delete",
    "DROP TRIGGER IF EXISTS playbook_reports_search_insert",
    "DROP TABLE IF EXISTS report_search",
    "DROP TRIGGER IF EXISTS account_notes_search_update",
    "DROP TRIGGER IF EXISTS account_notes_search_delete",
    "DROP TRIGGER IF EXISTS account_notes_search_insert",
    "DROP TABLE IF EXISTS note_search",
)

# -- PostgreSQL: trigram indexes ---------------------------------------------------------------

_POSTGRES_UP = (
    # Trusted since PostgreSQL 13: a database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_account_notes_search_trgm ON account_notes USING gin "
    "((coalesce(note_title, '') || ' ' || note_content) gin_trgm_ops)",
    "CREATE INDEX ix_playbook_reports_search_trgm ON playbook_reports USING gin "
    "((playbook_name || ' ' || jsonb_path_query_array(report_data, "
    "'strict $.** ? (@.type() == \"string\")')::text) gin_trgm_ops)",
)
# The extension stays: other schemas of the database may use it.
_POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_playbook_reports_search_trgm",
    "DROP INDEX IF EXISTS ix_account_notes_search_trgm",
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "rag_query_log",
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=20), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answerer", sa.String(length=20), nullable=False),
        sa.Column("window_start", tidemark.db.types.UtcDateTime(), nullable=True),
        sa.Column("window_end", tidemark.db.types.UtcDateTime(), nullable=True),
        sa.Column(
            "lookups",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "snapshot_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "note_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "report_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("answerable", sa.Boolean(), nullable=False),
        sa.Column("created_at", tidemark.db.types.UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_rag_query_log_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_rag_query_log_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("query_id", name=op.f("pk_rag_query_log")),
    )
    with op.batch_alter_table("rag_query_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rag_query_log_customer_created", ["customer_id", "created_at"], unique=False
        )

    # ### end Alembic commands ###
    _run(_POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else _SQLITE_UP)


def downgrade() -> None:
    _run(_POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else _SQLITE_DOWN)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("rag_query_log", schema=None) as batch_op:
        batch_op.drop_index("ix_rag_query_log_customer_created")

    op.drop_table("rag_query_log")
    # ### end Alembic commands ###
