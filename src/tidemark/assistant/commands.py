"""`tidemark ask`: a question about the account history, answered with its sources."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from tidemark.assistant import service
from tidemark.assistant.llm import answerer_from_settings
from tidemark.console import (
    CustomerOption,
    JsonOption,
    now,
    open_engine,
    out,
    print_json,
    resolve_customer,
)
from tidemark.db.engine import unit_of_work
from tidemark.settings import get_settings


def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain English.")],
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the snapshot history, citing the snapshots, notes and reports.

    Offline and deterministic by default; with TIDEMARK_LLM_BASE_URL and TIDEMARK_LLM_MODEL
    set, a model routes the question to the same look-ups and words the answer.

    Example: tidemark ask "What was TechCorp's health score last month?"
    """
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        answer = service.ask(
            session,
            customer_id=tenant.customer_id,
            question=question,
            now=now(),
            answerer=answerer_from_settings(get_settings()),
        )
        body = answer.body()
    if as_json:
        print_json(body)
        return
    out.print(escape(answer.text))
    window = answer.window
    if window is not None and answer.answerable:
        start = window.start.date().isoformat() if window.start else "..."
        out.print(
            f"[dim]Window: {escape(window.phrase)} = {start} to {window.end.date().isoformat()} "
            "(UTC)[/dim]"
        )
    sources = [
        f"{label} {', '.join(str(i) for i in ids)}"
        for label, ids in (
            ("snapshots", body["snapshot_ids"]),
            ("notes", body["note_ids"]),
            ("reports", body["report_ids"]),
        )
        if ids
    ]
    if sources:
        out.print(f"[dim]Sources: {'; '.join(sources)}[/dim]")
    if not answer.answerable:
        raise typer.Exit(2)
