"""Shapes of the assistant's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class RagQuery(BaseModel):
    """A question about the tenant's accounts and their history."""

    question: str = Field(
        min_length=1, max_length=1000, examples=["What was TechCorp's health score last month?"]
    )


class WindowRead(BaseModel):
    """The time window the question was resolved to (UTC)."""

    start: datetime | None
    end: datetime
    phrase: str


class LookupRead(BaseModel):
    """One typed look-up that ran, with its arguments."""

    lookup: str
    arguments: dict[str, Any]


class RagAnswer(BaseModel):
    """The answer, how it was found, and the snapshot, note and report ids it used."""

    question: str
    answer: str
    answerable: bool = Field(
        description="False when the question could not be answered; "
        "the answer then says why and holds no number."
    )
    answerer: str = Field(description="offline (templated) or llm")
    intent: str | None
    window: WindowRead | None
    accounts: list[dict[str, Any]]
    field: str | None
    problems: list[str]
    result: list[Any] = Field(description="The structured value of each look-up.")
    lookups: list[LookupRead]
    snapshot_ids: list[int]
    note_ids: list[int]
    report_ids: list[int]
    captured_snapshot_ids: list[int] = Field(
        description="rag_auto snapshots taken because a named account had none."
    )
    query_id: int | None
    duration_ms: int


class ContextQuery(BaseModel):
    """Accounts to assemble context for (seed 000 §3.1), and the question it is for."""

    account_ids: list[int] = Field(min_length=1, max_length=50)
    question: str = Field(default="", max_length=1000)
    history_months: int = Field(default=6, ge=1, le=120)


class ContextRead(BaseModel):
    """The assembled context, the system prompt, and the rows it was built from."""

    text: str
    blocks: list[str]
    system_prompt: str
    historical: bool
    snapshot_ids: list[int]
    note_ids: list[int]
    report_ids: list[int]
    captured_snapshot_ids: list[int]
