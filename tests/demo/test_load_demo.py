"""Loading the demo tenant on SQLite and PostgreSQL: the seed's data and a real year of history."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.db import make_engine, session_factory
from tidemark.demo import DemoSummary, load_demo
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.models import AccountSnapshot
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPITimeSeries,
    KPIUpload,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
    Product,
)
from tidemark.success.scoring import CATEGORY_FIELDS, STATUS_POINTS, overall_score, round_score
from tidemark.success.triggers import check_condition
from tidemark.tenancy.models import CATEGORIES, Customer, CustomerConfig, User

NOW = datetime(2025, 3, 15, 12, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
TECHCORP = "TechCorp Solutions"
SEED_PLAYBOOKS = {"voc-sprint", "expansion-timing", "renewal-safeguard"}


def rows(session: Session, model: Any, customer_id: int) -> list[Any]:
    return list(
        session.execute(select(model).where(model.customer_id == customer_id)).scalars().all()
    )


def histories(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every account's snapshots, oldest first, by account name."""
    return {
        account.account_name: snapshots.history(
            session, customer_id=customer_id, account_id=account.account_id, since=EPOCH
        )
        for account in rows(session, Account, customer_id)
    }


@pytest.mark.slow
def test_load_demo_builds_seed_004_with_a_year_of_history(session: Session) -> None:
    calls: list[tuple[str, int, int]] = []
    summary = load_demo(session, now=NOW, progress=lambda *call: calls.append(call))
    customer_id = summary.customer_id

    check_counts(session, summary)
    check_accounts(session, customer_id)
    check_kpis_and_uploads(session, customer_id)
    check_health_trends_follow_the_scoring_formula(session, customer_id)
    check_playbooks(session, customer_id)
    by_account = histories(session, customer_id)
    check_snapshots(session, customer_id, by_account)
    check_movers(summary, by_account)

    assert [done for _, done, _ in calls] == list(range(13))
    assert {total for _, _, total in calls} == {12}

    # Nothing was committed: the caller owns the transaction.
    session.rollback()
    assert session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


def check_counts(session: Session, summary: DemoSummary) -> None:
    customer_id = summary.customer_id
    assert summary.customer_name == "Test Company"
    assert summary.accounts == 25
    assert summary.kpis == 625
    counted = {
        "notes": AccountNote,
        "playbook_executions": PlaybookExecution,
        "playbook_reports": PlaybookReport,
        "uploads": KPIUpload,
        "health_trends": HealthTrend,
    }
    for name, model in counted.items():
        assert getattr(summary, name) == len(rows(session, model, customer_id)), name
    # One upload and one trend per live account a month; the churned account stops early.
    assert 12 * 24 < summary.uploads <= 12 * 25
    assert summary.health_trends == summary.uploads
    assert summary.notes > 300
    by_type = dict(
        session.execute(
            select(AccountSnapshot.snapshot_type, func.count())
            .where(AccountSnapshot.customer_id == customer_id)
            .group_by(AccountSnapshot.snapshot_type)
        ).all()
    )
    assert summary.snapshots_by_type == by_type
    assert set(by_type) == {
        "scheduled",
        "post_upload",
        "post_health_calc",
        "event_driven",
        "manual",
    }
    assert by_type["manual"] == 1
    assert by_type["post_upload"] == summary.uploads
    users = rows(session, User, customer_id)
    assert [(u.email, u.user_name) for u in users] == [("test@test.com", "Test User")]
    assert summary.user_email == "test@test.com"
    config = rows(session, CustomerConfig, customer_id)[0]
    assert config.category_weights["Product Usage"] == 0.25
    assert sum(config.category_weights.values()) == pytest.approx(1)


def check_accounts(session: Session, customer_id: int) -> None:
    accounts = rows(session, Account, customer_id)
    names = {a.account_name for a in accounts}
    assert {TECHCORP, "Acme Corp", "บริษัท สยามคอมเมิร์ซ จำกัด"} <= names
    assert sum(1 for a in accounts if a.revenue is not None and a.revenue > 1_000_000) >= 3
    statuses = [a.account_status for a in accounts]
    assert statuses.count("churn") == 1
    assert statuses.count("at_risk") >= 1
    assert statuses.count("active") > len(accounts) / 2
    assert len({a.external_account_id for a in accounts}) == 25
    products: dict[int, list[str]] = defaultdict(list)
    for product in rows(session, Product, customer_id):
        products[product.account_id].append(product.product_name)
    for account in accounts:
        meta = account.profile_metadata
        assert {"assigned_csm", "csm_manager", "account_owner", "account_tier"} <= set(meta)
        assert meta["products_used"] == products[account.account_id]
        assert 1 <= len(meta["products_used"]) <= 3
        assert meta["primary_product"] == meta["products_used"][0]
        assert set(meta["engagement"]) == {
            "lifecycle_stage",
            "onboarding_status",
            "last_qbr_date",
            "next_qbr_date",
            "score",
        }
        assert all({"name", "status"} <= set(c) for c in meta["champions"])
        assert account.created_at < NOW


def check_kpis_and_uploads(session: Session, customer_id: int) -> None:
    kpis = rows(session, KPI, customer_id)
    uploads = sorted(rows(session, KPIUpload, customer_id), key=lambda u: u.version)
    assert [u.version for u in uploads] == list(range(1, len(uploads) + 1))
    assert [u.uploaded_at for u in uploads] == sorted(u.uploaded_at for u in uploads)
    assert all(u.uploaded_at < NOW for u in uploads)
    latest_upload = {u.account_id: u.upload_id for u in uploads}
    primary_product = {
        a.account_id: a.profile_metadata["primary_product"]
        for a in rows(session, Account, customer_id)
    }
    product_names = {p.product_id: p.product_name for p in rows(session, Product, customer_id)}
    by_account: dict[int, list[KPI]] = defaultdict(list)
    for kpi in kpis:
        by_account[kpi.account_id].append(kpi)
        # The text is what a file holds; the value is the number read from it.
        assert kpi.data is not None and kpi.value is not None
        match = NUMBER.match(kpi.data)
        assert match is not None and Decimal(match.group()) == kpi.value, kpi.data
        assert kpi.upload_id == latest_upload[kpi.account_id]
        if kpi.category == "Product Usage":
            assert kpi.product_id is not None
            assert product_names[kpi.product_id] == primary_product[kpi.account_id]
        else:
            assert kpi.product_id is None
    assert len(by_account) == 25
    for account_kpis in by_account.values():
        assert sorted(k.kpi_parameter for k in account_kpis) == sorted(
            k.name for k in STANDARD_KPIS
        )
    assert any("/5" in (k.data or "") for k in kpis) and any(
        "hours" in (k.data or "") for k in kpis
    )

    upload = uploads[-1]
    lines = list(csv.DictReader(io.StringIO(upload.raw_file.decode("utf-8"))))
    assert len(lines) == upload.row_count == len(upload.parsed_data) == 25
    assert [line["Data"] for line in lines] == [row["data"] for row in upload.parsed_data]
    assert upload.original_filename.endswith(".csv")


def check_health_trends_follow_the_scoring_formula(session: Session, customer_id: int) -> None:
    weights = {(k.account_id, k.kpi_parameter): k.weight for k in rows(session, KPI, customer_id)}
    category_weights = rows(session, CustomerConfig, customer_id)[0].category_weights
    sums: dict[tuple[int, int, int], dict[str, list[Decimal]]] = defaultdict(
        lambda: {c: [Decimal(0), Decimal(0)] for c in CATEGORIES}
    )
    for point in rows(session, KPITimeSeries, customer_id):
        assert point.health_status is not None and point.health_score is not None
        assert point.health_score == STATUS_POINTS[point.health_status]
        weight = weights[(point.account_id, point.kpi_parameter)]
        total = sums[(point.account_id, point.year, point.month)][point.category]
        total[0] += weight * point.health_score
        total[1] += weight
    trends = rows(session, HealthTrend, customer_id)
    assert len(trends) == len(sums)
    for trend in trends:
        totals = sums[(trend.account_id, trend.year, trend.month)]
        scores = {c: round_score(totals[c][0] / totals[c][1]) for c in CATEGORIES}
        for category, field in CATEGORY_FIELDS.items():
            assert getattr(trend, field) == scores[category]
        assert trend.overall_health_score == overall_score(scores, category_weights)


def check_playbooks(session: Session, customer_id: int) -> None:
    techcorp = session.execute(
        select(Account).where(Account.customer_id == customer_id, Account.account_name == TECHCORP)
    ).scalar_one()
    executions = rows(session, PlaybookExecution, customer_id)
    reports = {r.execution_id: r for r in rows(session, PlaybookReport, customer_id)}
    seed = [e for e in executions if e.account_id == techcorp.account_id]
    assert {e.playbook_id for e in seed} == SEED_PLAYBOOKS and len(seed) == 3
    for execution in seed:
        assert execution.status == "in-progress"
        report = reports[execution.execution_id]
        assert report.status == "in-progress"
        assert execution.started_at <= report.report_generated_at < NOW
    for report in reports.values():
        data = report.report_data
        assert {"executive_summary", "outcomes_achieved", "raci", "exit_criteria"} <= set(data)
        assert data["recommendations"]
        for outcome in data["outcomes_achieved"].values():
            assert set(outcome) == {"before", "after", "improvement"}
            assert re.fullmatch(r"[+-]\d+(%| pts)", outcome["improvement"])
    completed = [e for e in executions if e.status == "completed"]
    assert len(completed) >= 2
    assert len({e.account_id for e in completed}) >= 2
    for execution in completed:
        report = reports[execution.execution_id]
        assert execution.completed_at is not None
        assert execution.started_at < execution.completed_at == report.report_generated_at < NOW
    triggers = {t.playbook_type: t for t in rows(session, PlaybookTrigger, customer_id)}
    assert set(triggers) == SEED_PLAYBOOKS
    for trigger in triggers.values():
        check_condition(trigger.trigger_conditions)
    assert triggers["renewal-safeguard"].trigger_conditions == {
        "all": [{"field": "overall_health_score", "op": "<", "value": 70}]
    }
    notes = rows(session, AccountNote, customer_id)
    assert {n.note_type for n in notes} >= {"meeting", "qbr", "call", "email"}
    text = " ".join(n.note_content for n in notes)
    for topic in ("NPS", "renewal", "expansion", "Onboarding"):
        assert topic in text, topic
    assert all(n.created_at < NOW for n in notes)


def check_snapshots(
    session: Session, customer_id: int, by_account: dict[str, list[dict[str, Any]]]
) -> None:
    for name, history in by_account.items():
        types = {r["snapshot_type"] for r in history}
        assert {"scheduled", "post_upload", "post_health_calc"} <= types, name
        times = [r["snapshot_timestamp"] for r in history]
        assert all(a < b for a, b in itertools.pairwise(times)), name
        assert times[-1] <= NOW
        assert [r["snapshot_sequence_number"] for r in history] == list(range(1, len(history) + 1))
        for record in history:
            expected = {
                "post_upload": "kpi_data_uploaded",
                "post_health_calc": "health_scores_updated",
            }.get(record["snapshot_type"])
            if expected:
                assert record["trigger_event"] == expected
    events = {
        r["trigger_event"]
        for h in by_account.values()
        for r in h
        if r["snapshot_type"] == "event_driven"
    }
    assert events == {
        "playbook_execution_started",
        "playbook_execution_completed",
        "account_status_changed",
    }
    assert sum(r["is_significant_change"] for h in by_account.values() for r in h) > 0

    manual = snapshots.list_snapshots(
        session, customer_id=customer_id, snapshot_type="manual"
    ).items
    assert len(manual) == 1
    pre_qbr = manual[0]
    user_id = rows(session, User, customer_id)[0].user_id
    assert (pre_qbr["account_name"], pre_qbr["snapshot_reason"]) == (TECHCORP, "Pre-QBR snapshot")
    assert pre_qbr["created_by"] == user_id and pre_qbr["snapshot_timestamp"] == NOW
    # Captured as of now: the three running playbooks and their reports, the newest notes.
    assert sorted(pre_qbr["playbooks_running"]) == sorted(SEED_PLAYBOOKS)
    reports = rows(session, PlaybookReport, customer_id)
    techcorp_reports = {r.report_id for r in reports if r.account_id == pre_qbr["account_id"]}
    assert set(pre_qbr["recent_playbook_report_ids"]) == techcorp_reports
    notes = sorted(
        (
            n
            for n in rows(session, AccountNote, customer_id)
            if n.account_id == pre_qbr["account_id"]
        ),
        key=lambda n: (n.created_at, n.note_id),
        reverse=True,
    )
    assert pre_qbr["recent_csm_note_ids"] == [n.note_id for n in notes[:5]]


def check_movers(summary: DemoSummary, by_account: dict[str, list[dict[str, Any]]]) -> None:
    deltas = {
        name: history[-1]["overall_health_score"] - history[0]["overall_health_score"]
        for name, history in by_account.items()
    }
    assert len(summary.biggest_movers) == 5
    for name, first, last, delta in summary.biggest_movers:
        history = by_account[name]
        assert first == history[0]["overall_health_score"]
        assert last == history[-1]["overall_health_score"]
        assert delta == last - first == deltas[name]
    smallest_listed = min(abs(m[3]) for m in summary.biggest_movers)
    listed = {m[0] for m in summary.biggest_movers}
    assert all(abs(d) <= smallest_listed for n, d in deltas.items() if n not in listed)
    # "Which accounts improved?" has an answer, and so has "which declined?".
    assert max(deltas.values()) > 5
    assert min(deltas.values()) < -5
    improved = [n for n, d in deltas.items() if d > 5]
    declined = [n for n, d in deltas.items() if d < -5]
    assert len(improved) >= 3 and len(declined) >= 3


def digest(session: Session, customer_id: int) -> tuple[int, str]:
    """How many snapshots there are, and a hash of every value apart from database ids."""
    notes = {
        n.note_id: f"{n.created_at.isoformat()} {n.note_title}"
        for n in rows(session, AccountNote, customer_id)
    }
    reports = {
        r.report_id: f"{r.report_generated_at.isoformat()} {r.playbook_id}"
        for r in rows(session, PlaybookReport, customer_id)
    }
    ids = {"snapshot_id", "account_id", "customer_id", "created_by"}
    flattened = []
    for name, history in sorted(histories(session, customer_id).items()):
        for record in history:
            values = {k: v for k, v in record.items() if k not in ids}
            values["recent_csm_note_ids"] = [notes[i] for i in record["recent_csm_note_ids"]]
            values["recent_playbook_report_ids"] = [
                reports[i] for i in record["recent_playbook_report_ids"]
            ]
            flattened.append([name, values])
    body = json.dumps(flattened, default=str, sort_keys=True, ensure_ascii=False)
    return len(flattened), hashlib.sha256(body.encode()).hexdigest()


@pytest.mark.slow
def test_same_seed_and_now_give_the_same_history(
    session: Session, sqlite_template: Path, tmp_path: Path
) -> None:
    first = load_demo(session, now=NOW, seed=7)
    # A second, fresh SQLite database: on the PostgreSQL run this also compares the two engines.
    path = tmp_path / "second.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with session_factory(engine)() as other:
            second = load_demo(other, now=NOW, seed=7)
            assert second == first
            assert digest(other, second.customer_id) == digest(session, first.customer_id)
            latest_first = snapshots.latest(session, customer_id=first.customer_id)
            latest_second = snapshots.latest(other, customer_id=second.customer_id)
            assert [r["overall_health_score"] for r in latest_first] == [
                r["overall_health_score"] for r in latest_second
            ]
    finally:
        SECTION_CACHE.clear(engine)
        engine.dispose()
