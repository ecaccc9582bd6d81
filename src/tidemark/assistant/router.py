"""HTTP endpoints of the assistant: questions, and the context it reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from tidemark.assistant import context, service
from tidemark.assistant.llm import answerer_from_settings
from tidemark.assistant.schemas import ContextQuery, ContextRead, RagAnswer, RagQuery
from tidemark.errors import InvalidInput
from tidemark.rest.deps import MAX_ID, DbSession, Now, Viewer

router = APIRouter(prefix="/api/rag", tags=["assistant"])


@router.post("/query", response_model=RagAnswer)
def query(
    body: Annotated[RagQuery, Body()],
    principal: Viewer,
    session: DbSession,
    now: Now,
    request: Request,
) -> Any:
    """Answer a question from the account history, with the snapshot ids it used."""
    answer = service.ask(
        session,
        customer_id=principal.customer_id,
        question=body.question,
        now=now,
        user_id=principal.user_id,
        answerer=answerer_from_settings(request.app.state.settings),
    )
    return answer.body()


@router.post("/context", response_model=ContextRead)
def assemble_context(body: ContextQuery, principal: Viewer, session: DbSession, now: Now) -> Any:
    """The context the assistant reads about these accounts (seed 000 §3.1)."""
    for index, account_id in enumerate(body.account_ids):
        if not 1 <= account_id <= MAX_ID:
            raise InvalidInput(f"account_ids[{index}]", f"must be between 1 and {MAX_ID}")
    found = context.assemble(
        session,
        customer_id=principal.customer_id,
        account_ids=body.account_ids,
        question=body.question,
        now=now,
        history_months=body.history_months,
        capture_missing=True,
    )
    return {
        "text": found.text,
        "blocks": found.blocks,
        "system_prompt": context.SYSTEM_PROMPT,
        "historical": found.historical,
        "snapshot_ids": found.snapshot_ids,
        "note_ids": found.note_ids,
        "report_ids": found.report_ids,
        "captured_snapshot_ids": found.captured_snapshot_ids,
    }
