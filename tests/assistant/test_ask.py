"""Asking questions end to end: API, CLI, rag_auto capture, logging, and a model endpoint.

The model endpoint is a local HTTP server that speaks the OpenAI chat-completions
protocol (tool calls included) and follows a script per test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from tests import factories
from tests.api.conftest import Tenant, make_tenant
from tests.cli.conftest import invoke
from tidemark import console
from tidemark.api import create_app
from tidemark.assistant.models import RagQueryLog
from tidemark.clock import FakeClock
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.settings import Settings, get_settings
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import Account
from tidemark.tenancy.models import Customer

NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)
CAPTURES = [datetime(2025, month, 15, 2, 0, tzinfo=UTC) for month in (1, 2, 3, 4, 5, 6)]
REVENUE = {1: "1000000", 2: "1050000", 3: "1100000", 4: "990000", 5: "990000", 6: "1200000"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def history(engine: Engine, clock: FakeClock) -> dict[str, Any]:
    """TechCorp Solutions and Acme Corp captured mid-month from January to June 2025."""
    tenant = make_tenant(engine, "Test Company", clock)
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        techcorp = factories.account(session, customer, "TechCorp Solutions", revenue="1000000")
        acme = factories.account(session, customer, "Acme Corp", revenue="500000")
        ids = {"TechCorp Solutions": techcorp.account_id, "Acme Corp": acme.account_id}
    snapshot_ids: dict[int, int] = {}
    for at in CAPTURES:
        with unit_of_work(engine) as session:
            session.execute(
                update(Account)
                .where(Account.account_id == ids["TechCorp Solutions"])
                .values(revenue=Decimal(REVENUE[at.month]))
            )
            written = capture_accounts(
                session,
                customer_id=tenant.customer_id,
                at=at,
                snapshot_type="scheduled",
                account_ids=[ids["TechCorp Solutions"], ids["Acme Corp"]],
            )
            snapshot_ids[at.month] = written.snapshot_ids[0]
    return {"tenant": tenant, "ids": ids, "snapshots": snapshot_ids}


@pytest.fixture
def client(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, clock=clock)) as test_client:
        yield test_client


def ask(client: TestClient, tenant: Tenant, question: str) -> dict[str, Any]:
    response = client.post(
        "/api/rag/query", json={"question": question}, headers=tenant.headers("viewer")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_value_last_month_is_exact_and_cites_its_snapshot(
    client: TestClient, engine: Engine, history: dict[str, Any]
) -> None:
    body = ask(client, history["tenant"], "What was TechCorp's revenue last month?")
    may = history["snapshots"][5]
    assert body["answerable"] and body["answerer"] == "offline"
    assert body["intent"] == "value_as_of" and body["field"] == "revenue"
    assert body["window"]["start"].startswith("2025-05-01")
    assert body["window"]["end"].startswith("2025-05-31")
    assert body["snapshot_ids"] == [may]
    assert "$990,000" in body["answer"] and str(may) in body["answer"]
    assert body["result"][0]["value"] == 990000
    assert body["lookups"][0]["lookup"] == "value_as_of"
    with session_factory(engine)() as session:
        logged = session.execute(select(RagQueryLog)).scalar_one()
    assert logged.question == "What was TechCorp's revenue last month?"
    assert logged.snapshot_ids == [may] and logged.answerable
    assert logged.customer_id == history["tenant"].customer_id


def test_a_change_over_a_window_gives_from_to_and_delta(
    client: TestClient, history: dict[str, Any]
) -> None:
    body = ask(client, history["tenant"], "How much did TechCorp's revenue change since March?")
    change = body["result"][0]
    assert change["before"]["value"] == 1050000  # as of 1 March: the February snapshot
    assert change["after"]["value"] == 1200000
    assert change["delta"] == 150000
    assert "+$150,000" in body["answer"]
    assert body["snapshot_ids"] == [history["snapshots"][2], history["snapshots"][6]]


def test_unknown_accounts_and_unmappable_questions_get_no_number(
    client: TestClient, history: dict[str, Any]
) -> None:
    for question in ("What was Globex's revenue last month?", "What is the meaning of life?"):
        body = ask(client, history["tenant"], question)
        assert not body["answerable"] and body["snapshot_ids"] == []
        assert not any(ch.isdigit() for ch in body["answer"]), body["answer"]


def test_a_date_before_the_first_snapshot_says_so(
    client: TestClient, history: dict[str, Any]
) -> None:
    body = ask(client, history["tenant"], "What was TechCorp's revenue on 2024-12-01?")
    assert not body["answerable"] and body["snapshot_ids"] == []
    assert "no snapshot on or before 2024-12-01" in body["answer"]
    assert "2025-01-15" in body["answer"]  # when its history starts


def test_an_account_without_snapshots_gets_a_rag_auto_one_first(
    client: TestClient, engine: Engine, history: dict[str, Any]
) -> None:
    tenant = history["tenant"]
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        factories.account(session, customer, "Newco Analytics", revenue="75000")
    body = ask(client, tenant, "What is Newco's revenue?")
    assert body["answerable"] and len(body["captured_snapshot_ids"]) == 1
    assert body["snapshot_ids"] == body["captured_snapshot_ids"]
    assert "$75,000" in body["answer"]
    with session_factory(engine)() as session:
        kind, trigger = session.execute(
            select(AccountSnapshot.snapshot_type, AccountSnapshot.trigger_event).where(
                AccountSnapshot.snapshot_id == body["captured_snapshot_ids"][0]
            )
        ).one()
    assert (kind, trigger) == ("rag_auto", "rag_query_missing_snapshot")
    again = ask(client, tenant, "What is Newco's revenue?")
    assert again["captured_snapshot_ids"] == []


def test_another_tenant_cannot_ask_about_these_accounts(
    client: TestClient, engine: Engine, clock: FakeClock, history: dict[str, Any]
) -> None:
    other = make_tenant(engine, "Other Company", clock)
    body = ask(client, other, "What was TechCorp's revenue last month?")
    assert not body["answerable"] and body["snapshot_ids"] == []
    ranked = ask(client, other, "Which accounts improved their revenue this year?")
    assert ranked["result"] == [[]] and ranked["snapshot_ids"] == []


def test_the_context_endpoint_assembles_the_seed_blocks(
    client: TestClient, history: dict[str, Any]
) -> None:
    tenant = history["tenant"]
    response = client.post(
        "/api/rag/context",
        json={"account_ids": [history["ids"]["TechCorp Solutions"]], "question": "revenue trend"},
        headers=tenant.headers("viewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"].startswith("Account: TechCorp Solutions (Snapshot: 2025-06-15)")
    assert "=== ACCOUNT SNAPSHOT HISTORY ===" in body["text"] and body["historical"]
    assert body["snapshot_ids"][0] == history["snapshots"][6]
    assert "Account snapshots include:" in body["system_prompt"]


def test_tidemark_ask_prints_the_api_body_as_json(
    engine: Engine, database_url: str, history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEMARK_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEMARK_NOW", NOW.isoformat())
    monkeypatch.setattr(console.out, "width", 200)
    get_settings.cache_clear()
    try:
        result = invoke("ask", "What was TechCorp's revenue in March?", "--json")
        body = json.loads(result.stdout)
        assert body["snapshot_ids"] == [history["snapshots"][3]]
        assert body["result"][0]["value"] == 1100000
        text = invoke("ask", "What was TechCorp's revenue in March?").stdout
        assert "$1,100,000" in text and "Window: in March = 2025-03-01" in text
        assert invoke("ask", "Who is Globex's CSM?", code=2).stdout.startswith("I cannot")
    finally:
        get_settings.cache_clear()


# --------------------------------------------------------------------------- a model endpoint

Script = Callable[[dict[str, Any]], dict[str, Any]]


def completion(message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "stub-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


@pytest.fixture
def model_server() -> Iterator[tuple[str, list[Script], list[dict[str, Any]]]]:
    """A chat-completions server on a free port; tests push scripted replies."""
    replies: list[Script] = []
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            reply = completion(replies.pop(0)(body))
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", replies, requests
    finally:
        server.shutdown()
        server.server_close()


def model_client(engine: Engine, clock: FakeClock, base_url: str) -> TestClient:
    settings = Settings(llm_base_url=base_url, llm_model="stub-model", llm_timeout_seconds=5)
    return TestClient(create_app(engine=engine, clock=clock, settings=settings))


def last_tool_result(body: dict[str, Any]) -> Any:
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    return json.loads(tool_messages[-1]["content"])


def test_the_model_routes_to_a_look_up_and_words_the_answer(
    engine: Engine,
    clock: FakeClock,
    history: dict[str, Any],
    model_server: tuple[str, list[Script], list[dict[str, Any]]],
) -> None:
    base_url, replies, requests = model_server
    replies.append(
        lambda _body: tool_call(
            "value_as_of", {"account": "TechCorp", "field": "revenue", "date": "2025-03-31"}
        )
    )

    def word(body: dict[str, Any]) -> dict[str, Any]:
        [result] = last_tool_result(body)
        value = result["value"]["value"]
        return {
            "role": "assistant",
            "content": f"At the end of March TechCorp's revenue was ${value:,} "
            f"(snapshot {result['snapshot_ids'][0]}).",
        }

    replies.append(word)
    with model_client(engine, clock, base_url) as client:
        body = ask(client, history["tenant"], "How was TechCorp doing in revenue in March?")
    march = history["snapshots"][3]
    assert body["answerer"] == "llm"
    assert (
        body["answer"]
        == f"At the end of March TechCorp's revenue was $1,100,000 (snapshot {march})."
    )
    assert body["snapshot_ids"] == [march]
    first = requests[0]
    assert first["model"] == "stub-model"
    assert {t["function"]["name"] for t in first["tools"]} >= {"value_as_of", "ranked_changes"}
    assert "Account snapshots include:" in first["messages"][0]["content"]
    assert "Today is 2025-06-20" in first["messages"][0]["content"]


def test_a_number_from_nowhere_sets_the_model_answer_aside(
    engine: Engine,
    clock: FakeClock,
    history: dict[str, Any],
    model_server: tuple[str, list[Script], list[dict[str, Any]]],
) -> None:
    base_url, replies, _requests = model_server
    replies.append(
        lambda _body: tool_call(
            "value_as_of",
            {"account": "TechCorp Solutions", "field": "revenue", "date": "2025-03-31"},
        )
    )
    replies.append(
        lambda _body: {"role": "assistant", "content": "TechCorp's revenue was $1,150,000."}
    )
    with model_client(engine, clock, base_url) as client:
        body = ask(client, history["tenant"], "What was TechCorp's revenue in March?")
    assert "1,150,000" not in body["answer"]
    assert "$1,100,000" in body["answer"]  # the offline wording of the same look-up
    assert body["snapshot_ids"] == [history["snapshots"][3]]


def test_a_tool_error_reaches_the_model_and_an_unknown_account_is_not_invented(
    engine: Engine,
    clock: FakeClock,
    history: dict[str, Any],
    model_server: tuple[str, list[Script], list[dict[str, Any]]],
) -> None:
    base_url, replies, requests = model_server
    replies.append(
        lambda _body: tool_call("value_as_of", {"account": "Globex", "field": "revenue"})
    )
    replies.append(
        lambda body: {
            "role": "assistant",
            "content": "The history has no account called Globex: "
            + last_tool_result(body)["error"],
        }
    )
    with model_client(engine, clock, base_url) as client:
        body = ask(client, history["tenant"], "How is Globex doing?")
    assert "error" in last_tool_result(requests[1])
    assert "Globex" in body["answer"] and body["snapshot_ids"] == []


def test_an_unreachable_model_falls_back_to_the_offline_answer(
    engine: Engine, clock: FakeClock, history: dict[str, Any]
) -> None:
    with model_client(engine, clock, "http://127.0.0.1:9/v1") as client:
        body = ask(client, history["tenant"], "What was TechCorp's revenue in March?")
    assert "$1,100,000" in body["answer"] and body["answerable"]


def test_questions_are_logged_per_tenant(
    client: TestClient, engine: Engine, clock: FakeClock, history: dict[str, Any]
) -> None:
    ask(client, history["tenant"], "What was TechCorp's revenue last month?")
    clock.advance(timedelta(minutes=1))
    ask(client, history["tenant"], "What is the meaning of life?")
    with session_factory(engine)() as session:
        rows = session.execute(select(RagQueryLog).order_by(RagQueryLog.query_id)).scalars().all()
    assert [r.answerable for r in rows] == [True, False]
    assert {r.customer_id for r in rows} == {history["tenant"].customer_id}
    assert rows[1].created_at == NOW + timedelta(minutes=1)
