"""Two writers of one row take turns instead of losing an update (PostgreSQL row locks)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine

from tests.api.conftest import NOW, Tenant
from tests.success.conftest import add_accounts
from tidemark.db.engine import unit_of_work
from tidemark.success import accounts, playbooks


def _postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; row locks are a PostgreSQL matter")


def _in_turn(first: object, second: object) -> None:
    """Run ``first`` holding its transaction open a while, and ``second`` meanwhile."""
    errors: list[BaseException] = []
    locked = threading.Event()

    def run(work: object, hold: bool) -> None:
        try:
            work(locked if hold else None)  # type: ignore[operator]
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            locked.set()

    one = threading.Thread(target=run, args=(first, True))
    one.start()
    assert locked.wait(10)
    two = threading.Thread(target=run, args=(second, False))
    two.start()
    one.join(10)
    two.join(10)
    assert not errors, errors


def test_two_steps_recorded_at_once_are_both_kept(engine: Engine, tenant: Tenant) -> None:
    _postgres_only(engine)
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    with unit_of_work(engine) as session:
        execution, _ = playbooks.start(
            session,
            customer_id=tenant.customer_id,
            account_id=account_id,
            playbook_id="voc-sprint",
            user_id=tenant.user_id,
            now=NOW,
        )
        execution_id = execution.execution_id

    def advance(outcome: str) -> object:
        def work(locked: threading.Event | None) -> None:
            with unit_of_work(engine) as session:
                playbooks.advance(
                    session,
                    customer_id=tenant.customer_id,
                    execution_id=execution_id,
                    outcome=outcome,
                    user_id=tenant.user_id,
                    now=NOW,
                )
                if locked is not None:
                    locked.set()
                    time.sleep(0.3)

        return work

    _in_turn(advance("first"), advance("second"))
    with unit_of_work(engine) as session:
        done = playbooks.get_execution(
            session, customer_id=tenant.customer_id, execution_id=execution_id
        )
        assert done.current_step == 3
        outcomes = [step["outcome"] for step in done.execution_data["steps"][:2]]
    assert outcomes == ["first", "second"]


def test_two_profile_updates_at_once_are_both_kept(engine: Engine, tenant: Tenant) -> None:
    _postgres_only(engine)
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")

    def update(changes: dict[str, object]) -> object:
        def work(locked: threading.Event | None) -> None:
            with unit_of_work(engine) as session:
                accounts.update(
                    session,
                    customer_id=tenant.customer_id,
                    account_id=account_id,
                    changes=changes,
                    now=NOW,
                )
                if locked is not None:
                    locked.set()
                    time.sleep(0.3)

        return work

    _in_turn(update({"assigned_csm": "Sam Lee"}), update({"account_tier": "Enterprise"}))
    with unit_of_work(engine) as session:
        profile = accounts.get(
            session, customer_id=tenant.customer_id, account_id=account_id
        ).profile_metadata
    assert profile == {"assigned_csm": "Sam Lee", "account_tier": "Enterprise"}
