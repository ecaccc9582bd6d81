"""API schemas of accounts, health trends, playbooks and notes (separate from the ORM models).

Decimals are strings in JSON so they stay exact, as in the snapshot schemas.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

#: Ids are 32-bit integers in the database; larger ones can never exist.
MAX_ID = 2_147_483_647


def _plain(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded at all.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


_PLAIN = AfterValidator(_plain)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text50 = Annotated[str, StringConstraints(max_length=50), _PLAIN]
Text100 = Annotated[str, StringConstraints(max_length=100), _PLAIN]
Text255 = Annotated[str, StringConstraints(max_length=255), _PLAIN]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100), _PLAIN]
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=255), _PLAIN]
Item = Annotated[str, StringConstraints(min_length=1, max_length=200), _PLAIN]
Recommendation = Annotated[str, StringConstraints(min_length=1, max_length=1000), _PLAIN]
Notes = Annotated[str, StringConstraints(max_length=10_000), _PLAIN]
Summary = Annotated[str, StringConstraints(min_length=1, max_length=10_000), _PLAIN]
NoteContent = Annotated[str, StringConstraints(min_length=1, max_length=50_000), _PLAIN]
Score = Annotated[Decimal, Field(ge=0, le=100)]
Figure = Annotated[Decimal, Field(ge=-(10**15), le=10**15)]
AccountStatus = Literal["active", "inactive", "at_risk", "churn"]
NoteType = Literal["meeting", "qbr", "call", "email", "general", "interaction"]
ExecutionStatus = Literal["in-progress", "completed", "cancelled"]


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- accounts ------------------------------------------------------------------------------


class AccountRead(_Read):
    """An account with its profile."""

    account_id: int
    account_name: str
    revenue: Decimal | None
    industry: str | None
    region: str | None
    account_status: str
    external_account_id: str | None
    #: assigned_csm, csm_manager, account_owner, account_tier, products_used,
    #: primary_product, engagement {...}, champions [...].
    profile_metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None


class AccountPagination(BaseModel):
    """One page of accounts with the total that match."""

    items: list[AccountRead]
    total: int
    limit: int
    offset: int


class EngagementUpdate(_Write):
    """Engagement fields of a profile; each one sent replaces the stored one, null removes it."""

    lifecycle_stage: Text50 | None = None
    onboarding_status: Text50 | None = None
    last_qbr_date: date | None = None
    next_qbr_date: date | None = None
    score: Score | None = None


class ChampionWrite(_Write):
    """A customer-side champion; the first one listed is the primary champion."""

    name: Name
    status: Text100 | None = None
    title: Text100 | None = None
    email: Text100 | None = None
    role: Text100 | None = None


class AccountUpdate(_Write):
    """The fields to change; profile fields are merged into the profile, null removes one."""

    account_name: Criterion | None = None
    revenue: Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)] | None = None
    industry: Text100 | None = None
    region: Text100 | None = None
    account_status: AccountStatus | None = None
    external_account_id: Text100 | None = None
    assigned_csm: Text100 | None = None
    csm_manager: Text100 | None = None
    account_owner: Text100 | None = None
    account_tier: Text50 | None = None
    primary_product: Text100 | None = None
    products_used: Annotated[list[Name], Field(max_length=200)] | None = None
    engagement: EngagementUpdate | None = None
    champions: Annotated[list[ChampionWrite], Field(max_length=50)] | None = None


# -- health trends -------------------------------------------------------------------------


class HealthScores(_Write):
    """An overall score and five category scores, 0 to 100.

    The overall score may be left out when a category score is given: it is then
    the tenant's weighted mean of the category scores given.
    """

    overall_health_score: Score | None = None
    product_usage_score: Score | None = None
    support_score: Score | None = None
    customer_sentiment_score: Score | None = None
    business_outcomes_score: Score | None = None
    relationship_strength_score: Score | None = None


class HealthTrendCreate(HealthScores):
    """An account's health scores for one month."""

    account_id: Id
    year: Annotated[int, Field(ge=2000, le=2100)]
    month: Annotated[int, Field(ge=1, le=12)]


class HealthTrendUpdate(HealthScores):
    """New scores for a trend; they replace the old ones whole."""


class HealthTrendRead(_Read):
    """An account's health scores for one month."""

    trend_id: int
    account_id: int
    year: int
    month: int
    overall_health_score: Decimal | None
    product_usage_score: Decimal | None
    support_score: Decimal | None
    customer_sentiment_score: Decimal | None
    business_outcomes_score: Decimal | None
    relationship_strength_score: Decimal | None
    created_at: datetime
    updated_at: datetime | None


class HealthTrendPagination(BaseModel):
    """One page of health trends with the total that match."""

    items: list[HealthTrendRead]
    total: int
    limit: int
    offset: int


class HealthGenerate(_Write):
    """Which accounts to score: the given ones, or every account when left out."""

    account_ids: Annotated[list[Id], Field(min_length=1, max_length=100_000)] | None = None


class GeneratedScore(BaseModel):
    """The overall score written for one account."""

    account_id: int
    overall_health_score: Decimal | None


class HealthGenerated(BaseModel):
    """What a bulk generation wrote for the current month."""

    year: int
    month: int
    created: int
    updated: int
    recalculated: int
    #: Accounts without a graded KPI: nothing to score, so no trend was written.
    skipped_account_ids: list[int]
    scores: list[GeneratedScore]


class RollupRead(BaseModel):
    """The result of recalculating every account's health."""

    year: int
    month: int
    accounts_recalculated: int
    accounts_skipped: int
    #: The plain mean of the recalculated accounts' overall scores.
    average_health_score: Decimal | None


# -- playbooks -----------------------------------------------------------------------------


class PlaybookRead(BaseModel):
    """A playbook of the catalogue."""

    playbook_id: str
    name: str
    description: str
    steps: list[str]
    #: Snapshot figures its report measures before and after.
    metrics: list[str]
    exit_criteria: list[str]
    default_trigger: dict[str, Any]


class PlaybookExecutionCreate(_Write):
    """Start a catalogue playbook for an account."""

    account_id: Id
    playbook_id: Annotated[str, StringConstraints(min_length=1, max_length=50), _PLAIN]
    notes: Notes | None = None


class PlaybookExecutionAdvance(_Write):
    """The outcome of the current step, recorded as the execution moves to the next."""

    outcome: Notes | None = None


class OutcomeWrite(_Write):
    """A figure before and after the playbook; improvement is computed when left out."""

    before: Figure
    after: Figure
    improvement: Text50 | None = None


class RaciWrite(_Write):
    """Who was responsible, accountable, consulted and informed (each part optional)."""

    responsible: Text255 | None = None
    accountable: Text255 | None = None
    consulted: Annotated[list[Text255], Field(max_length=20)] | None = None
    informed: Annotated[list[Text255], Field(max_length=20)] | None = None


class ExitCriterionWrite(_Write):
    """Whether an exit criterion was met (overrides the catalogue's of the same text)."""

    criterion: Criterion
    met: bool


class PlaybookExecutionComplete(_Write):
    """Close an execution; every part of the report left out is generated."""

    outcome: Notes | None = None
    executive_summary: Summary | None = None
    outcomes_achieved: Annotated[dict[Text100, OutcomeWrite], Field(max_length=20)] | None = None
    raci: RaciWrite | None = None
    exit_criteria: Annotated[list[ExitCriterionWrite], Field(max_length=20)] | None = None
    recommendations: Annotated[list[Recommendation], Field(max_length=20)] | None = None


class PlaybookExecutionRead(_Read):
    """A playbook execution and where it stands."""

    execution_id: str
    account_id: int
    playbook_id: str
    playbook_name: str
    status: str
    current_step: int
    total_steps: int
    #: Steps with their status and outcome notes, the baseline snapshot and start notes.
    execution_data: dict[str, Any]
    started_at: datetime
    completed_at: datetime | None
    created_by: int | None
    updated_at: datetime | None
    report_id: int | None


class PlaybookExecutionPagination(BaseModel):
    """One page of executions with the total that match."""

    items: list[PlaybookExecutionRead]
    total: int
    limit: int
    offset: int


class PlaybookReportRead(_Read):
    """A playbook execution's report."""

    report_id: int
    execution_id: str
    account_id: int
    playbook_id: str
    playbook_name: str
    #: executive_summary, outcomes_achieved {metric: {before, after, improvement}},
    #: raci {responsible, accountable, consulted, informed}, exit_criteria
    #: [{criterion, met}], recommendations, steps.
    report_data: dict[str, Any]
    steps_completed: int
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    report_generated_at: datetime


class PlaybookReportPagination(BaseModel):
    """One page of reports with the total that match."""

    items: list[PlaybookReportRead]
    total: int
    limit: int
    offset: int


class PlaybookTriggerWrite(_Write):
    """When a playbook is recommended: a condition over snapshot fields, and a switch."""

    trigger_conditions: dict[str, Any] = Field(
        examples=[{"all": [{"field": "overall_health_score", "op": "<", "value": 70}]}]
    )
    auto_trigger_enabled: bool = True


class PlaybookTriggerRead(_Read):
    """A tenant's trigger of one playbook."""

    trigger_id: int
    playbook_type: str
    trigger_conditions: dict[str, Any]
    auto_trigger_enabled: bool
    last_evaluated_at: datetime | None
    last_triggered_at: datetime | None
    created_at: datetime


# -- notes ---------------------------------------------------------------------------------


class NoteCreate(_Write):
    """A CSM note on an account."""

    note_type: NoteType
    note_content: NoteContent
    note_title: Text255 | None = None
    meeting_date: date | None = None
    participants: Annotated[list[Item], Field(max_length=100)] | None = None
    tags: Annotated[list[Item], Field(max_length=100)] | None = None
    is_important: bool = False
    related_playbook_id: Text50 | None = None


class NoteUpdate(_Write):
    """The fields of a note to change."""

    note_type: NoteType | None = None
    note_content: NoteContent | None = None
    note_title: Text255 | None = None
    meeting_date: date | None = None
    participants: Annotated[list[Item], Field(max_length=100)] | None = None
    tags: Annotated[list[Item], Field(max_length=100)] | None = None
    is_important: bool | None = None
    related_playbook_id: Text50 | None = None


class NoteRead(_Read):
    """A CSM note."""

    note_id: int
    account_id: int
    note_type: str
    note_content: str
    note_title: str | None
    created_by: int
    created_at: datetime
    updated_at: datetime | None
    meeting_date: date | None
    participants: list[str] | None
    tags: list[str] | None
    is_important: bool
    related_playbook_id: str | None


class NotePagination(BaseModel):
    """One page of an account's notes, newest first, with the total it has."""

    items: list[NoteRead]
    total: int
    limit: int
    offset: int


class PlaybookExecutionCompleted(BaseModel):
    """A completed execution and its final report."""

    execution: PlaybookExecutionRead
    report: PlaybookReportRead
