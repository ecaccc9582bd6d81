"""The integrity chain detects tampering; the migration matches the models."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests import factories
from tests.factories import T0
from tidemark.assistant.models import include_name
from tidemark.db.models import metadata
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.chain import verify_chain


def test_chain_verifies_and_detects_a_changed_row(engine: Engine, session: Session) -> None:
    tenant, _ = factories.customer(session)
    acct = factories.account(session, tenant, "TechCorp Solutions")
    factories.account(session, tenant, "Acme Corp")
    for day in range(3):
        capture_accounts(
            session,
            customer_id=tenant.customer_id,
            at=T0 + timedelta(days=day),
            snapshot_type="scheduled",
        )
    session.commit()
    report = verify_chain(session, customer_id=tenant.customer_id)
    assert report.ok
    assert report.checked == 6

    # Tampering needs the immutability trigger out of the way, as an attacker with
    # database access could do; the chain must still notice.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE account_snapshots DISABLE TRIGGER USER"))
            conn.execute(
                text("UPDATE account_snapshots SET revenue = 1 WHERE account_id = :a"),
                {"a": acct.account_id},
            )
            conn.execute(text("ALTER TABLE account_snapshots ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER account_snapshots_immutable"))
            conn.execute(
                text("UPDATE account_snapshots SET revenue = 100 WHERE account_id = :a"),
                {"a": acct.account_id},
            )
    session.rollback()  # end the read transaction: see what others committed
    broken = verify_chain(session, customer_id=tenant.customer_id)
    assert not broken.ok
    assert len(broken.broken) == 3


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []
