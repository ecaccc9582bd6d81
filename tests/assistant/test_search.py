"""Full-text search over notes and playbook reports, Thai included, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests import factories
from tests.factories import T0
from tidemark.assistant.search import (
    NOTE_TEXT_SQL,
    REPORT_TEXT_SQL,
    SNIPPET_LENGTH,
    search_notes,
    search_reports,
    snippet,
    words,
)
from tidemark.errors import InvalidInput, NotFound
from tidemark.success import notes
from tidemark.success.models import Account, PlaybookExecution, PlaybookReport
from tidemark.tenancy.models import User

THAI_RENEWAL = "ลูกค้าต้องการต่ออายุสัญญา"  # "the customer wants to renew the contract"
THAI_PRICE = "ลูกค้าสอบถามเรื่องราคาแพ็กเกจใหม่"  # "the customer asked about the new package price"


@dataclass
class Notes:
    customer_id: int
    user: User
    acme: Account
    beta: Account
    other_account: Account
    ids: dict[str, int]


@pytest.fixture
def written(session: Session) -> Notes:
    tenant, user = factories.customer(session, "Northwind")
    other, other_user = factories.customer(session, "Southwind")
    acme = factories.account(session, tenant, "Acme Corp")
    beta = factories.account(session, tenant, "Beta Ltd")
    theirs = factories.account(session, other, "Acme Corp")
    texts = {
        "thai": (acme, THAI_RENEWAL, 1),
        "thai_price": (beta, THAI_PRICE, 2),
        "sso": (acme, "Customer asked for SSO and a sandbox before renewal.", 3),
        "renewal": (beta, "Renewal call: pricing agreed, legal review next week.", 10),
        "qa": (beta, "QA sign-off pending for the sandbox.", 20),
    }
    ids = {
        key: factories.note(session, acct, user, body, at=T0 + timedelta(days=day)).note_id
        for key, (acct, body, day) in texts.items()
    }
    ids["theirs"] = factories.note(session, theirs, other_user, THAI_RENEWAL + " renewal").note_id
    session.commit()
    return Notes(tenant.customer_id, user, acme, beta, theirs, ids)


def _found(session: Session, data: Notes, query: str, **kw: object) -> list[int]:
    result = search_notes(session, customer_id=data.customer_id, text=query, **kw)  # type: ignore[arg-type]
    assert result.note_ids == [hit.id for hit in result.value]
    return result.note_ids


def test_thai_notes_are_found_by_a_thai_substring(session: Session, written: Notes) -> None:
    result = search_notes(session, customer_id=written.customer_id, text="ต่ออายุ")
    assert result.note_ids == [written.ids["thai"]]
    (hit,) = result.value
    assert hit.kind == "note"
    assert (hit.account_id, hit.account_name) == (written.acme.account_id, "Acme Corp")
    assert hit.snippet == THAI_RENEWAL
    assert hit.created_at == T0 + timedelta(days=1)
    assert hit.title == "Meeting note"
    # Both Thai notes start with "ลูกค้า" (customer); newest first.
    assert _found(session, written, "ลูกค้า") == [written.ids["thai_price"], written.ids["thai"]]
    assert _found(session, written, "ราคา ลูกค้า") == [written.ids["thai_price"]]
    assert _found(session, written, "ต่ออายุราคา") == []


def test_english_words_match_in_any_order(session: Session, written: Notes) -> None:
    assert _found(session, written, "renewal") == [written.ids["renewal"], written.ids["sso"]]
    assert _found(session, written, "sandbox renewal") == [written.ids["sso"]]
    assert _found(session, written, "RENEWAL, Sandbox?") == [written.ids["sso"]]
    assert _found(session, written, "renewal pricing") == [written.ids["renewal"]]
    assert _found(session, written, "renewal discount") == []
    # Words shorter than a trigram are checked on what the longer words found...
    assert _found(session, written, "sandbox QA") == [written.ids["qa"]]
    # ... or on the tenant's notes when every word is short.
    assert _found(session, written, "QA") == [written.ids["qa"]]
    assert _found(session, written, "100%") == []
    assert _found(session, written, "renew_al") == []


def test_filters_by_account_and_window_and_limits(session: Session, written: Notes) -> None:
    acme, beta = written.acme.account_id, written.beta.account_id
    assert _found(session, written, "renewal", account_id=acme) == [written.ids["sso"]]
    assert _found(session, written, "renewal", account_id=beta) == [written.ids["renewal"]]
    assert _found(
        session, written, "ลูกค้า", start=T0 + timedelta(days=2), end=T0 + timedelta(days=30)
    ) == [written.ids["thai_price"]]
    assert _found(session, written, "renewal", end=T0 + timedelta(days=5)) == [written.ids["sso"]]
    assert _found(session, written, "renewal", limit=1) == [written.ids["renewal"]]
    result = search_notes(
        session, customer_id=written.customer_id, text="renewal", account_id=acme, limit=5
    )
    assert result.lookup == "search_notes"
    assert result.arguments == {
        "text": "renewal",
        "words": ["renewal"],
        "account_id": acme,
        "start": None,
        "end": None,
        "limit": 5,
    }


def test_another_tenant_is_never_searched(session: Session, written: Notes) -> None:
    assert written.ids["theirs"] not in _found(session, written, "ต่ออายุ renewal")
    assert _found(session, written, "ต่ออายุ renewal") == []
    with pytest.raises(NotFound):
        search_notes(
            session,
            customer_id=written.customer_id,
            text="renewal",
            account_id=written.other_account.account_id,
        )
    for kw, where in (({"text": " ?! "}, "text"), ({"text": "x", "limit": 0}, "limit")):
        with pytest.raises(InvalidInput) as raised:
            search_notes(session, customer_id=written.customer_id, **kw)  # type: ignore[arg-type]
        assert raised.value.where == where


def test_updating_and_deleting_a_note_updates_the_index(session: Session, written: Notes) -> None:
    customer_id = written.customer_id
    notes.update(
        session,
        customer_id=customer_id,
        note_id=written.ids["thai"],
        changes={"note_content": "ลูกค้าขอยกเลิกสัญญา", "note_title": "Churn risk"},
        now=T0 + timedelta(days=40),
    )
    session.commit()
    assert _found(session, written, "ต่ออายุ") == []
    assert _found(session, written, "ยกเลิก") == [written.ids["thai"]]
    assert _found(session, written, "churn") == [written.ids["thai"]]
    (hit,) = search_notes(session, customer_id=customer_id, text="churn").value
    assert hit.title == "Churn risk"
    # Changing another column leaves the index as it was.
    notes.update(
        session,
        customer_id=customer_id,
        note_id=written.ids["thai"],
        changes={"is_important": True},
        now=T0 + timedelta(days=41),
    )
    notes.delete(session, customer_id=customer_id, note_id=written.ids["sso"], now=T0)
    session.commit()
    assert _found(session, written, "ยกเลิก") == [written.ids["thai"]]
    assert _found(session, written, "sandbox") == [written.ids["qa"]]
    # Deleting the account deletes its notes, and their index entries.
    session.delete(written.beta)
    session.commit()
    assert _found(session, written, "renewal") == []
    created = notes.create(
        session,
        customer_id=customer_id,
        account_id=written.acme.account_id,
        fields={"note_type": "call", "note_content": "Talked renewal pricing in Bangkok"},
        created_by=written.user.user_id,
        now=T0 + timedelta(days=50),
    )
    session.commit()
    assert _found(session, written, "bangkok renewal") == [created.note_id]
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO note_search(note_search) VALUES ('integrity-check')"))


def test_snippets_are_short_and_show_the_match(session: Session, written: Notes) -> None:
    long_body = (
        "Quarterly review with the operations team covering adoption, support tickets and "
        "training plans for the new hires in the regional offices. "
        * 3
        + "The customer confirmed the renewal of the enterprise plan for three more years. "
        + "Next steps were agreed with procurement and finance. " * 4
    )
    note = factories.note(session, written.acme, written.user, long_body, at=T0)
    session.commit()
    (hit,) = search_notes(
        session, customer_id=written.customer_id, text="enterprise renewal", account_id=None
    ).value[-1:]
    assert hit.id == note.note_id
    assert len(hit.snippet) <= SNIPPET_LENGTH
    assert "renewal of the enterprise plan" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")


def _report(
    session: Session, acct: Account, name: str, data: dict[str, object], days: int
) -> PlaybookReport:
    execution = PlaybookExecution(
        execution_id=str(uuid.uuid4()),
        customer_id=acct.customer_id,
        account_id=acct.account_id,
        playbook_id=name.lower().replace(" ", "-"),
        status="completed",
        started_at=T0,
        completed_at=T0 + timedelta(days=days),
    )
    session.add(execution)
    session.flush()
    report = PlaybookReport(
        execution_id=execution.execution_id,
        customer_id=acct.customer_id,
        account_id=acct.account_id,
        playbook_id=execution.playbook_id,
        playbook_name=name,
        report_data=data,
        status="completed",
        started_at=T0,
        completed_at=execution.completed_at,
        report_generated_at=T0 + timedelta(days=days),
    )
    session.add(report)
    session.flush()
    return report


def test_reports_are_searched_by_name_summary_and_every_text_value(
    session: Session, written: Notes
) -> None:
    renewal = _report(
        session,
        written.acme,
        "Renewal Safeguard",
        {
            "executive_summary": "ลูกค้าตกลงต่ออายุสัญญา 3 ปี",
            "raci": {"responsible": "Somchai Jaidee"},
            "exit_criteria": [{"criterion": "Contract signed", "met": True}],
        },
        days=30,
    )
    voc = _report(
        session,
        written.beta,
        "VoC Sprint",
        {"executive_summary": "NPS moved from 20 to 35.", "recommendations": ["Renewal call"]},
        days=40,
    )
    theirs = _report(
        session,
        written.other_account,
        "Renewal Safeguard",
        {"executive_summary": "ต่ออายุ"},
        days=50,
    )
    session.commit()

    def found(query: str, **kw: object) -> list[int]:
        result = search_reports(session, customer_id=written.customer_id, text=query, **kw)  # type: ignore[arg-type]
        assert result.report_ids == [hit.id for hit in result.value]
        assert result.lookup == "search_reports"
        return result.report_ids

    assert found("ต่ออายุ") == [renewal.report_id]
    assert found("somchai") == [renewal.report_id]
    assert found("contract signed") == [renewal.report_id]
    assert found("renewal") == [voc.report_id, renewal.report_id]
    assert found("renewal", account_id=written.acme.account_id) == [renewal.report_id]
    assert found("renewal", start=T0 + timedelta(days=35)) == [voc.report_id]
    assert found("NPS") == [voc.report_id]
    # Keys of the JSON are not text of the report.
    assert found("executive_summary") == []
    assert found("responsible") == []
    assert theirs.report_id not in found("ต่ออายุ renewal")

    (hit,) = search_reports(session, customer_id=written.customer_id, text="ต่ออายุ").value
    assert (hit.kind, hit.title, hit.snippet) == (
        "report",
        "Renewal Safeguard",
        "ลูกค้าตกลงต่ออายุสัญญา 3 ปี",
    )
    (somchai,) = search_reports(session, customer_id=written.customer_id, text="Somchai").value
    assert somchai.snippet == "Somchai Jaidee"

    # A report is written when a playbook starts and filled in when it completes.
    voc.report_data = {"executive_summary": "Churn averted after the executive call."}
    session.commit()
    assert found("NPS") == []
    assert found("averted") == [voc.report_id]
    session.delete(renewal)
    session.commit()
    assert found("somchai") == []
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO report_search(report_search) VALUES ('integrity-check')"))


def test_searches_use_the_full_text_indexes(engine: Engine, session: Session) -> None:
    if engine.dialect.name == "sqlite":
        objects = set(
            session.execute(
                text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
            ).scalars()
        )
        for table in ("account_notes", "playbook_reports"):
            for change in ("insert", "update", "delete"):
                assert f"{table}_search_{change}" in objects
        plan = session.execute(
            text("EXPLAIN QUERY PLAN SELECT rowid FROM note_search WHERE note_search MATCH :q"),
            {"q": '"ต่ออายุ"'},
        ).all()
        assert "VIRTUAL TABLE INDEX" in str(plan)
        return
    # PostgreSQL: the queried expressions must be the indexed ones, or the index is unused.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    for table, expression, index in (
        ("account_notes", NOTE_TEXT_SQL, "ix_account_notes_search_trgm"),
        ("playbook_reports", REPORT_TEXT_SQL, "ix_playbook_reports_search_trgm"),
    ):
        plan = session.execute(
            text(f"EXPLAIN SELECT 1 FROM {table} WHERE {expression} ILIKE :p"),
            {"p": "%ต่ออายุ%"},
        ).scalars()
        assert index in "\n".join(plan)


# -- words and snippets ----------------------------------------------------------------------


def test_words_keep_thai_marks_and_trim_punctuation() -> None:
    assert words("ต่ออายุ") == ["ต่ออายุ"]
    assert words("  “renewal”, SSO?  renewal ") == ["renewal", "SSO"]
    assert words("... !!") == []
    assert words("ราคา, ลูกค้า") == ["ราคา", "ลูกค้า"]


def test_snippet_of_short_text_is_the_text() -> None:
    assert snippet("  one\n two  ", ["two"]) == "one two"


def test_snippet_keeps_a_match_at_either_end() -> None:
    body = "word " * 60
    end = snippet(body + "renewal", ["renewal"])
    assert end.endswith("renewal") and end.startswith("…")
    assert len(end) <= SNIPPET_LENGTH
    start = snippet("renewal " + body, ["renewal"])
    assert start.startswith("renewal word") and start.endswith("…")
    assert len(start) <= SNIPPET_LENGTH
    thai = snippet("ก" * 200 + "ต่ออายุ" + "ข" * 200, ["ต่ออายุ"])
    assert "ต่ออายุ" in thai and len(thai) == SNIPPET_LENGTH
    nothing = snippet(body, ["absent"])
    assert nothing.startswith("word word") and nothing.endswith("…")
    assert len(nothing) <= SNIPPET_LENGTH


@given(
    before=st.text(alphabet="abc ลูกค้า\n", max_size=400),
    after=st.text(alphabet="xyz ต่อ", max_size=400),
    term=st.sampled_from(["renewal", "ต่ออายุ", "QA"]),
    length=st.integers(min_value=20, max_value=200),
)
def test_snippets_fit_and_hold_the_match(before: str, after: str, term: str, length: int) -> None:
    body = f"{before}{term}{after}"
    piece = snippet(body, [term], length)
    assert len(piece) <= length
    assert term in piece
