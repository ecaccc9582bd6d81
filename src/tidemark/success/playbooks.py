"""Playbooks: the catalogue, their executions and reports, and the triggers that recommend them.

An execution starts at step 1 with an in-progress report; each step's outcome is
recorded as the CSM advances; completing it writes the final report (executive
summary, outcomes achieved, RACI, exit criteria, recommendations). Outcomes not
given by the CSM are measured from the account's snapshots: the one at the start
against the latest. Snapshots list running and completed playbooks and cite the
newest reports, so every write here shows in the next snapshot, and each writes
its event in its own transaction: ``playbook_execution_started``,
``account_data_changed`` for a step, ``playbook_execution_completed``, and
``account_data_changed`` for every account when a trigger changes (triggers
decide the recommendations every snapshot lists).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit, emit_for_tenant
from tidemark.snapshots import service as snapshots
from tidemark.success import accounts
from tidemark.success.models import Account, PlaybookExecution, PlaybookReport, PlaybookTrigger
from tidemark.success.triggers import InvalidCondition, check_condition
from tidemark.tenancy.models import User

IN_PROGRESS: Final = "in-progress"
COMPLETED: Final = "completed"
CANCELLED: Final = "cancelled"
EXECUTION_STATUSES: Final = (IN_PROGRESS, COMPLETED, CANCELLED)
MAX_OUTCOME_NOTES = 10_000


@dataclass(frozen=True, slots=True)
class ExitCriterion:
    """A condition for closing a playbook: a snapshot figure against a target, or a fact."""

    text: str
    metric: str | None = None
    at_least: Decimal | None = None
    at_most: Decimal | None = None

    def met_by(self, value: Decimal | None) -> bool | None:
        """Whether ``value`` meets the target; None when the criterion is not a figure."""
        if self.metric is None or value is None:
            return None
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)


@dataclass(frozen=True, slots=True)
class Playbook:
    """A playbook of the catalogue: its steps, the figures it moves, and when it is done."""

    playbook_id: str
    name: str
    description: str
    steps: tuple[str, ...]
    #: Snapshot fields whose before and after the report shows, headline first.
    metrics: tuple[str, ...]
    exit_criteria: tuple[ExitCriterion, ...]
    #: The condition a tenant's trigger starts from (``success.triggers`` language).
    default_trigger: Mapping[str, Any]
    recommendations_met: tuple[str, ...]
    recommendations_unmet: tuple[str, ...]


def _at_least(text: str, metric: str, target: int) -> ExitCriterion:
    return ExitCriterion(text, metric, at_least=Decimal(target))


CATALOGUE: Final[dict[str, Playbook]] = {
    playbook.playbook_id: playbook
    for playbook in (
        Playbook(
            "voc-sprint",
            "VoC Sprint",
            "Hear the customer out, act on the top themes and show them it was heard.",
            (
                "Pull detractor and passive list from the latest survey",
                "Interview five customer stakeholders",
                "Synthesize themes with Product and Support",
                "Agree an action plan with the executive sponsor",
                "Ship quick wins and close the loop with respondents",
                "Re-survey and compare",
            ),
            ("customer_sentiment_score", "overall_health_score"),
            (
                _at_least(
                    "Customer sentiment score at or above 60", "customer_sentiment_score", 60
                ),
                ExitCriterion("Action plan agreed with the executive sponsor"),
            ),
            {"all": [{"field": "customer_sentiment_score", "op": "<", "value": 60}]},
            (
                "Repeat the pulse survey next quarter to confirm the trend holds",
                "Invite two promoters to the customer advisory board",
            ),
            (
                "Escalate the top two detractor themes to the product roadmap review",
                "Run a second round of interviews with the business owners, not only admins",
            ),
        ),
        Playbook(
            "expansion-timing",
            "Expansion Timing",
            "Propose an expansion when the account is healthy and the budget cycle allows.",
            (
                "Confirm value realised against the success plan",
                "Map teams and use cases not yet on the platform",
                "Validate budget cycle with the champion",
                "Build the expansion proposal with the account owner",
                "Present the proposal at an executive meeting",
                "Close and plan onboarding of the new teams",
            ),
            ("overall_health_score", "product_usage_score", "revenue"),
            (
                _at_least("Overall health at or above 80", "overall_health_score", 80),
                _at_least("Product usage score at or above 75", "product_usage_score", 75),
                ExitCriterion("Expansion proposal presented"),
            ),
            {
                "all": [
                    {"field": "overall_health_score", "op": ">=", "value": 80},
                    {"field": "account_status", "op": "==", "value": "active"},
                ]
            },
            (
                "Start onboarding the new teams within two weeks of signature",
                "Set adoption targets for the added seats in the success plan",
            ),
            (
                "Hold the proposal until adoption of the current seats recovers",
                "Revisit expansion at the next QBR with fresh usage data",
            ),
        ),
        Playbook(
            "renewal-safeguard",
            "Renewal Safeguard",
            "Secure a renewal at risk: sponsor, success plan, support backlog, proven value.",
            (
                "Review health drivers and open escalations",
                "Re-engage the executive sponsor",
                "Agree a dated success plan with the champion",
                "Clear the support backlog",
                "Deliver a value review with measured ROI",
                "Confirm renewal terms",
            ),
            ("overall_health_score", "relationship_strength_score", "support_score"),
            (
                _at_least("Overall health at or above 70", "overall_health_score", 70),
                _at_least(
                    "Relationship strength score at or above 70",
                    "relationship_strength_score",
                    70,
                ),
                ExitCriterion("Renewal terms confirmed in writing"),
            ),
            {"all": [{"field": "overall_health_score", "op": "<", "value": 70}]},
            (
                "Keep the monthly executive check-in through the first quarter of the new term",
                "Move the account back to the standard cadence once health holds above 70",
            ),
            (
                "Keep the account on the weekly risk review",
                "Offer a paid health check by professional services",
                "Prepare a fallback renewal offer with a shorter term",
            ),
        ),
        Playbook(
            "onboarding-acceleration",
            "Onboarding Acceleration",
            "Get a new account to first value quickly and hand it over to the steady cadence.",
            (
                "Hold the kickoff and confirm success criteria",
                "Complete technical setup and integrations",
                "Train admins and first users",
                "Reach the first value milestone",
                "Review adoption with the champion and hand over to the standard cadence",
            ),
            ("product_usage_score", "overall_health_score"),
            (
                _at_least("Product usage score at or above 60", "product_usage_score", 60),
                ExitCriterion("Success criteria signed off by the champion"),
            ),
            {"all": [{"field": "lifecycle_stage", "op": "==", "value": "onboarding"}]},
            (
                "Set the first quarterly business review within 90 days",
                "Share the adoption dashboard with the champion monthly",
            ),
            (
                "Extend onboarding with weekly working sessions until usage reaches target",
                "Ask the champion to name an internal owner for each team not yet live",
            ),
        ),
        Playbook(
            "support-recovery",
            "Support Recovery",
            "Turn round a poor support experience: clear escalations and rebuild confidence.",
            (
                "Review open tickets and escalations with Support",
                "Agree a remediation owner and date for each escalation",
                "Hold a weekly ticket review with the customer",
                "Confirm fixes and close the escalations",
                "Survey the customer's support contacts",
            ),
            ("support_score", "critical_kpis_count", "overall_health_score"),
            (
                _at_least("Support score at or above 70", "support_score", 70),
                ExitCriterion(
                    "No more than two critical KPIs", "critical_kpis_count", at_most=Decimal(2)
                ),
                ExitCriterion("Every escalation closed"),
            ),
            {"all": [{"field": "support_score", "op": "<", "value": 50}]},
            (
                "Return to the monthly ticket review once the support score holds for a quarter",
                "Share the fixes delivered in the next QBR",
            ),
            (
                "Keep the weekly ticket review and add the customer's executive sponsor",
                "Ask Support leadership for a dedicated engineer until escalations clear",
            ),
        ),
        Playbook(
            "executive-alignment",
            "Executive Alignment",
            "Build a relationship at executive level when it has weakened or was never there.",
            (
                "Map the customer's decision makers and their goals",
                "Brief our executive sponsor",
                "Hold an executive business review",
                "Agree joint success metrics",
                "Set a quarterly executive cadence",
            ),
            ("relationship_strength_score", "overall_health_score"),
            (
                _at_least(
                    "Relationship strength score at or above 70",
                    "relationship_strength_score",
                    70,
                ),
                ExitCriterion("Quarterly executive cadence agreed"),
            ),
            {"all": [{"field": "relationship_strength_score", "op": "<", "value": 50}]},
            (
                "Report on the joint success metrics at every executive review",
                "Introduce a second executive contact to reduce single-threading",
            ),
            (
                "Ask the account owner to reach the economic buyer directly",
                "Repeat the stakeholder map with the champion within a month",
            ),
        ),
    )
}

#: How a report names each snapshot figure.
METRIC_LABELS: Final[dict[str, str]] = {
    "overall_health_score": "Overall health score",
    "product_usage_score": "Product usage score",
    "support_score": "Support score",
    "customer_sentiment_score": "Customer sentiment score",
    "business_outcomes_score": "Business outcomes score",
    "relationship_strength_score": "Relationship strength score",
    "critical_kpis_count": "Critical KPIs",
    "revenue": "Revenue",
}
#: Figures where a smaller value is the better one.
LOWER_IS_BETTER: Final = frozenset({"critical_kpis_count", "at_risk_kpis_count"})
#: Figures on the 0-100 scale, whose change is told in points.
POINT_METRICS: Final = frozenset(
    name for name in METRIC_LABELS if name.endswith("_score") or name == "overall_health_score"
)


def playbook(playbook_id: str, *, where: str = "playbook_id") -> Playbook:
    """The catalogue's playbook with this id, or InvalidInput naming ``where``."""
    found = CATALOGUE.get(playbook_id)
    if found is None:
        raise InvalidInput(where, f"unknown playbook; expected one of {', '.join(CATALOGUE)}")
    return found


# -- executions ----------------------------------------------------------------------------


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows with the number that match."""

    items: list[T]
    total: int
    limit: int
    offset: int


def get_execution(
    session: Session, *, customer_id: int, execution_id: str, lock: bool = False
) -> PlaybookExecution:
    """The tenant's execution with this id; another tenant's id is NotFound.

    With ``lock`` the row stays locked until the transaction ends (PostgreSQL),
    so two steps recorded at once are applied one after the other.
    """
    query = select(PlaybookExecution).where(
        PlaybookExecution.customer_id == customer_id,
        PlaybookExecution.execution_id == execution_id,
    )
    if lock:
        query = query.with_for_update()
    execution = session.execute(query).scalar_one_or_none()
    if execution is None:
        raise NotFound("playbook execution", execution_id)
    return execution


def list_executions(
    session: Session,
    *,
    customer_id: int,
    account_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[PlaybookExecution]:
    """Executions newest first, filtered by account and status."""
    conditions = [PlaybookExecution.customer_id == customer_id]
    if account_id is not None:
        accounts.get(session, customer_id=customer_id, account_id=account_id)
        conditions.append(PlaybookExecution.account_id == account_id)
    if status is not None:
        if status not in EXECUTION_STATUSES:
            raise InvalidInput("status", f"expected one of {', '.join(EXECUTION_STATUSES)}")
        conditions.append(PlaybookExecution.status == status)
    total = session.execute(
        select(func.count()).select_from(PlaybookExecution).where(*conditions)
    ).scalar_one()
    items = (
        session.execute(
            select(PlaybookExecution)
            .where(*conditions)
            .order_by(PlaybookExecution.started_at.desc(), PlaybookExecution.execution_id)
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return Page(list(items), total, limit, offset)


def report_ids(
    session: Session, *, customer_id: int, execution_ids: Sequence[str]
) -> dict[str, int]:
    """The report id of each of these executions that has one."""
    if not execution_ids:
        return {}
    rows = session.execute(
        select(PlaybookReport.execution_id, PlaybookReport.report_id).where(
            PlaybookReport.customer_id == customer_id,
            PlaybookReport.execution_id.in_(list(execution_ids)),
        )
    )
    # A Result has keys() (its column names), so dict() must be given the rows.
    return dict(rows.all())


def start(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    playbook_id: str,
    user_id: int,
    now: datetime,
    notes: str | None = None,
) -> tuple[PlaybookExecution, PlaybookReport]:
    """Start a playbook for an account at step 1, with its in-progress report.

    A playbook already running for the account is a Conflict: finish it first.
    """
    # The account row is locked so that two starts of one playbook cannot both pass the check.
    account = accounts.get(session, customer_id=customer_id, account_id=account_id, lock=True)
    definition = playbook(playbook_id)
    text = _notes("notes", notes)
    running = session.execute(
        select(PlaybookExecution.execution_id).where(
            PlaybookExecution.customer_id == customer_id,
            PlaybookExecution.account_id == account_id,
            PlaybookExecution.playbook_id == playbook_id,
            PlaybookExecution.status == IN_PROGRESS,
        )
    ).first()
    if running is not None:
        raise Conflict(
            f"{definition.name} is already running for account {account_id} "
            f"(execution {running[0]}); complete it first"
        )
    baseline = snapshots.as_of(session, customer_id=customer_id, account_id=account_id, at=now)
    execution = PlaybookExecution(
        execution_id=str(uuid.uuid4()),
        customer_id=customer_id,
        account_id=account_id,
        playbook_id=playbook_id,
        status=IN_PROGRESS,
        current_step=1,
        execution_data={
            "playbook_name": definition.name,
            "started_by": "csm",
            "notes": text,
            "baseline_snapshot_id": baseline["snapshot_id"] if baseline else None,
            "steps": _fresh_steps(definition),
        },
        started_at=now,
        created_by=user_id,
        updated_at=now,
    )
    session.add(execution)
    session.flush()
    report = PlaybookReport(
        execution_id=execution.execution_id,
        customer_id=customer_id,
        account_id=account_id,
        playbook_id=playbook_id,
        playbook_name=definition.name,
        report_data=_progress_report(session, definition, account, execution, user_id),
        steps_completed=0,
        status=IN_PROGRESS,
        started_at=now,
        report_generated_at=now,
    )
    session.add(report)
    session.flush()
    emit(
        session,
        customer_id=customer_id,
        event_type=EventType.PLAYBOOK_EXECUTION_STARTED,
        account_ids=[account_id],
        at=now,
        payload={
            "execution_id": execution.execution_id,
            "playbook_id": playbook_id,
            "report_id": report.report_id,
        },
    )
    return execution, report


def advance(
    session: Session,
    *,
    customer_id: int,
    execution_id: str,
    outcome: str | None,
    user_id: int,
    now: datetime,
) -> PlaybookExecution:
    """Record the current step's outcome and move to the next step.

    The last step is closed by completing the execution, so advancing from it,
    or advancing an execution that is no longer in progress, is a Conflict.
    """
    execution = get_execution(
        session, customer_id=customer_id, execution_id=execution_id, lock=True
    )
    definition = _open_definition(execution)
    text = _notes("outcome", outcome)
    total = len(definition.steps)
    if execution.current_step >= total:
        raise Conflict(
            f"step {execution.current_step} is the last step of {definition.name}; "
            "complete the execution instead"
        )
    steps = _steps(execution, definition)
    closed = execution.current_step
    _close_step(steps, closed, text, now, status="done")
    execution.current_step += 1
    execution.execution_data = {**execution.execution_data, "steps": steps}
    execution.updated_at = now
    account = accounts.get(session, customer_id=customer_id, account_id=execution.account_id)
    report = _report_of(session, execution, definition, now)
    report.steps_completed = _done(steps)
    report.report_data = _progress_report(session, definition, account, execution, user_id)
    report.report_generated_at = now
    session.flush()
    emit(
        session,
        customer_id=customer_id,
        event_type=EventType.ACCOUNT_DATA_CHANGED,
        account_ids=[execution.account_id],
        at=now,
        payload={
            "change": "playbook_step",
            "execution_id": execution.execution_id,
            "step": closed,
            "report_id": report.report_id,
        },
    )
    return execution


@dataclass(frozen=True, slots=True)
class Completion:
    """What the CSM says when completing an execution; anything left out is generated."""

    outcome: str | None = None
    executive_summary: str | None = None
    #: {metric: {"before": number, "after": number, "improvement": text or None}}
    outcomes_achieved: Mapping[str, Mapping[str, Any]] | None = None
    #: Any of responsible, accountable, consulted, informed.
    raci: Mapping[str, Any] | None = None
    #: [{"criterion": text, "met": bool}]: overrides the catalogue's of the same text.
    exit_criteria: Sequence[Mapping[str, Any]] | None = None
    recommendations: Sequence[str] | None = None


def complete(
    session: Session,
    *,
    customer_id: int,
    execution_id: str,
    completion: Completion,
    user_id: int,
    now: datetime,
) -> tuple[PlaybookExecution, PlaybookReport]:
    """Close an execution at its current step and write its final report."""
    execution = get_execution(
        session, customer_id=customer_id, execution_id=execution_id, lock=True
    )
    definition = _open_definition(execution)
    text = _notes("outcome", completion.outcome)
    steps = _steps(execution, definition)
    _close_step(steps, execution.current_step, text, now, status="done")
    for step in steps:
        if step["status"] != "done":
            step["status"] = "skipped"
    account = accounts.get(session, customer_id=customer_id, account_id=execution.account_id)
    execution.status = COMPLETED
    execution.completed_at = now
    execution.updated_at = now
    execution.execution_data = {**execution.execution_data, "steps": steps}
    report = _report_of(session, execution, definition, now)
    report.report_data = _final_report(
        session, definition, account, execution, completion, user_id, now
    )
    report.steps_completed = _done(steps)
    report.status = COMPLETED
    report.completed_at = now
    report.report_generated_at = now
    session.flush()
    emit(
        session,
        customer_id=customer_id,
        event_type=EventType.PLAYBOOK_EXECUTION_COMPLETED,
        account_ids=[execution.account_id],
        at=now,
        payload={
            "execution_id": execution.execution_id,
            "playbook_id": execution.playbook_id,
            "report_id": report.report_id,
        },
    )
    return execution, report


def _open_definition(execution: PlaybookExecution) -> Playbook:
    if execution.status != IN_PROGRESS:
        raise Conflict(f"execution {execution.execution_id} is {execution.status}")
    definition = CATALOGUE.get(execution.playbook_id)
    if definition is None:
        raise Conflict(f"playbook {execution.playbook_id!r} is not in the catalogue")
    return definition


def _notes(where: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > MAX_OUTCOME_NOTES:
        raise InvalidInput(where, f"at most {MAX_OUTCOME_NOTES:,} characters")
    if "\x00" in text:
        raise InvalidInput(where, "must not contain NUL characters")
    return text or None


def _fresh_steps(definition: Playbook) -> list[dict[str, Any]]:
    return [
        {"step": i + 1, "title": title, "status": "pending", "outcome": None, "completed_at": None}
        for i, title in enumerate(definition.steps)
    ]


def _steps(execution: PlaybookExecution, definition: Playbook) -> list[dict[str, Any]]:
    """A copy of the execution's steps (rebuilt from the catalogue when it has none)."""
    stored = (execution.execution_data or {}).get("steps")
    if not isinstance(stored, list) or len(stored) != len(definition.steps):
        steps = _fresh_steps(definition)
        for step in steps[: execution.current_step - 1]:
            step["status"] = "done"
        return steps
    return [dict(step) for step in stored]


def _close_step(
    steps: list[dict[str, Any]], number: int, outcome: str | None, now: datetime, *, status: str
) -> None:
    step = steps[number - 1]
    step["status"] = status
    step["outcome"] = outcome
    step["completed_at"] = now.isoformat()


def _done(steps: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for step in steps if step.get("status") == "done")


def _report_of(
    session: Session, execution: PlaybookExecution, definition: Playbook, now: datetime
) -> PlaybookReport:
    """The execution's report, created when an older execution has none yet."""
    report = session.execute(
        select(PlaybookReport).where(
            PlaybookReport.customer_id == execution.customer_id,
            PlaybookReport.execution_id == execution.execution_id,
        )
    ).scalar_one_or_none()
    if report is None:
        report = PlaybookReport(
            execution_id=execution.execution_id,
            customer_id=execution.customer_id,
            account_id=execution.account_id,
            playbook_id=execution.playbook_id,
            playbook_name=definition.name,
            report_data={},
            status=IN_PROGRESS,
            started_at=execution.started_at,
            report_generated_at=now,
        )
        session.add(report)
    return report


# -- reports -------------------------------------------------------------------------------


def _user_name(session: Session, customer_id: int, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.execute(
        select(User.user_name).where(User.customer_id == customer_id, User.user_id == user_id)
    ).scalar_one_or_none()


def _raci(session: Session, account: Account, user_id: int | None) -> dict[str, Any]:
    """Who is responsible, accountable, consulted and informed, from the account's profile."""
    profile: Mapping[str, Any] = account.profile_metadata or {}
    csm = profile.get("assigned_csm") or _user_name(session, account.customer_id, user_id)
    manager = profile.get("csm_manager")
    owner = profile.get("account_owner")
    champions = profile.get("champions") or []
    first = champions[0] if isinstance(champions, list) and champions else None
    champion = first.get("name") if isinstance(first, Mapping) else first
    consulted = [f"{owner} (Account Owner)"] if owner else []
    informed = [f"{champion} ({account.account_name})"] if champion else []
    return {
        "responsible": f"{csm} (CSM)" if csm else "Assigned CSM",
        "accountable": f"{manager} (CS Manager)" if manager else "CS Manager",
        "consulted": [*consulted, "Product Management", "Support"],
        "informed": [*informed, "Executive sponsor"],
    }


def _steps_view(execution: PlaybookExecution, definition: Playbook) -> list[dict[str, Any]]:
    return [
        {
            "step": step["step"],
            "title": step["title"],
            "done": step.get("status") == "done",
            "outcome": step.get("outcome"),
        }
        for step in _steps(execution, definition)
    ]


def _progress_report(
    session: Session,
    definition: Playbook,
    account: Account,
    execution: PlaybookExecution,
    user_id: int | None,
) -> dict[str, Any]:
    done = _done(_steps(execution, definition))
    return {
        "executive_summary": (
            f"{definition.name} for {account.account_name} has been running since "
            f"{execution.started_at:%b %d, %Y}; {done} of {len(definition.steps)} steps "
            "are complete."
        ),
        "outcomes_achieved": {},
        "raci": _raci(session, account, execution.created_by or user_id),
        "exit_criteria": [
            {"criterion": criterion.text, "met": False} for criterion in definition.exit_criteria
        ],
        "recommendations": [],
        "steps": _steps_view(execution, definition),
    }


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def improvement(metric: str, before: Decimal, after: Decimal) -> str:
    """How much better (+) or worse (-) a figure got: points for scores, percent otherwise."""
    gain = before - after if metric in LOWER_IS_BETTER else after - before
    if metric in POINT_METRICS:
        return f"{gain:+.1f} pts"
    if metric in LOWER_IS_BETTER or before == 0:
        return f"{gain:+g}"
    return f"{gain / abs(before) * 100:+.1f}%"


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _measured(
    session: Session, definition: Playbook, execution: PlaybookExecution
) -> dict[str, tuple[Decimal, Decimal]]:
    """Before and after of the playbook's figures from the account's snapshots, when both exist."""
    before = snapshots.as_of(
        session,
        customer_id=execution.customer_id,
        account_id=execution.account_id,
        at=execution.started_at,
    )
    latest = snapshots.latest(
        session, customer_id=execution.customer_id, account_ids=[execution.account_id]
    )
    if before is None or not latest:
        return {}
    after = latest[0]
    measured: dict[str, tuple[Decimal, Decimal]] = {}
    for metric in definition.metrics:
        old, new = _number(before.get(metric)), _number(after.get(metric))
        if old is not None and new is not None:
            measured[metric] = (old, new)
    return measured


def _final_report(
    session: Session,
    definition: Playbook,
    account: Account,
    execution: PlaybookExecution,
    completion: Completion,
    user_id: int,
    now: datetime,
) -> dict[str, Any]:
    """The completed execution's report: given parts as given, the rest generated."""
    outcomes: dict[str, dict[str, Any]] = {}
    after_values: dict[str, Decimal] = {}
    headline: str | None = None
    if completion.outcomes_achieved is not None:
        for metric, given in completion.outcomes_achieved.items():
            old, new = _number(given.get("before")), _number(given.get("after"))
            if old is None or new is None:
                raise InvalidInput(
                    f"outcomes_achieved.{metric}", "needs numbers for before and after"
                )
            text = given.get("improvement") or improvement(metric, old, new)
            outcomes[metric] = {
                "before": _json_number(old),
                "after": _json_number(new),
                "improvement": text,
            }
            after_values[metric] = new
            headline = headline or metric
    else:
        for metric, (old, new) in _measured(session, definition, execution).items():
            label = METRIC_LABELS.get(metric, metric)
            outcomes[label] = {
                "before": _json_number(old),
                "after": _json_number(new),
                "improvement": improvement(metric, old, new),
            }
            after_values[metric] = new
            after_values[label] = new
            headline = headline or label
    steps = _steps(execution, definition)
    all_steps_done = _done(steps) == len(definition.steps)
    criteria: list[dict[str, Any]] = []
    for criterion in definition.exit_criteria:
        # A fact is taken as met when every step was done; a figure only when
        # measured and on target (an unmeasured one cannot be confirmed).
        met = all_steps_done
        if criterion.metric is not None:
            value = after_values.get(criterion.metric)
            if value is None:
                value = after_values.get(METRIC_LABELS.get(criterion.metric, criterion.metric))
            met = bool(criterion.met_by(value))
        criteria.append({"criterion": criterion.text, "met": met})
    for given in completion.exit_criteria or ():
        text, met_given = str(given["criterion"]), bool(given["met"])
        for entry in criteria:
            if entry["criterion"] == text:
                entry["met"] = met_given
                break
        else:
            criteria.append({"criterion": text, "met": met_given})
    met_count = sum(1 for entry in criteria if entry["met"])
    raci = {**_raci(session, account, execution.created_by or user_id), **(completion.raci or {})}
    if completion.recommendations is not None:
        recommendations = list(completion.recommendations)
    elif criteria and met_count == len(criteria):
        recommendations = list(definition.recommendations_met)
    else:
        recommendations = list(definition.recommendations_unmet)
    summary = completion.executive_summary or _summary(
        definition, account, execution, now, steps, outcomes, headline, met_count, len(criteria)
    )
    return {
        "executive_summary": summary,
        "outcomes_achieved": outcomes,
        "raci": raci,
        "exit_criteria": criteria,
        "recommendations": recommendations,
        "steps": _steps_view(execution, definition),
    }


def _summary(
    definition: Playbook,
    account: Account,
    execution: PlaybookExecution,
    now: datetime,
    steps: Sequence[Mapping[str, Any]],
    outcomes: Mapping[str, Mapping[str, Any]],
    headline: str | None,
    met: int,
    criteria: int,
) -> str:
    days = (now - execution.started_at).days
    parts = [
        f"{definition.name} for {account.account_name} ran {days} day{'s' if days != 1 else ''} "
        f"({execution.started_at:%b %d, %Y} to {now:%b %d, %Y}); "
        f"{_done(steps)} of {len(definition.steps)} steps completed."
    ]
    if headline is not None:
        moved = outcomes[headline]
        parts.append(
            f"{headline} moved from {moved['before']:g} to {moved['after']:g} "
            f"({moved['improvement']})."
        )
    else:
        parts.append("No snapshot from the start was available to measure outcomes against.")
    parts.append(f"{met} of {criteria} exit criteria met.")
    return " ".join(parts)


def get_report(session: Session, *, customer_id: int, report_id: int) -> PlaybookReport:
    """The tenant's playbook report with this id; another tenant's id is NotFound."""
    report = session.execute(
        select(PlaybookReport).where(
            PlaybookReport.customer_id == customer_id, PlaybookReport.report_id == report_id
        )
    ).scalar_one_or_none()
    if report is None:
        raise NotFound("playbook report", report_id)
    return report


def list_reports(
    session: Session,
    *,
    customer_id: int,
    account_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[PlaybookReport]:
    """Reports newest first, of one account or of the whole tenant."""
    conditions = [PlaybookReport.customer_id == customer_id]
    if account_id is not None:
        accounts.get(session, customer_id=customer_id, account_id=account_id)
        conditions.append(PlaybookReport.account_id == account_id)
    total = session.execute(
        select(func.count()).select_from(PlaybookReport).where(*conditions)
    ).scalar_one()
    items = (
        session.execute(
            select(PlaybookReport)
            .where(*conditions)
            .order_by(PlaybookReport.report_generated_at.desc(), PlaybookReport.report_id.desc())
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return Page(list(items), total, limit, offset)


# -- triggers ------------------------------------------------------------------------------


def list_triggers(session: Session, *, customer_id: int) -> list[PlaybookTrigger]:
    """The tenant's playbook triggers by playbook."""
    return list(
        session.execute(
            select(PlaybookTrigger)
            .where(PlaybookTrigger.customer_id == customer_id)
            .order_by(PlaybookTrigger.playbook_type)
        ).scalars()
    )


def _trigger(session: Session, customer_id: int, playbook_type: str) -> PlaybookTrigger | None:
    return session.execute(
        select(PlaybookTrigger).where(
            PlaybookTrigger.customer_id == customer_id,
            PlaybookTrigger.playbook_type == playbook_type,
        )
    ).scalar_one_or_none()


#: Limits that keep a condition readable and its evaluation cheap.
MAX_CONDITION_DEPTH = 8
MAX_CONDITION_NODES = 200


def _check_size(conditions: Any) -> None:
    """Refuse conditions nested too deep or too large, without recursing into them."""
    pending: list[tuple[Any, int]] = [(conditions, 1)]
    nodes = 0
    while pending:
        node, depth = pending.pop()
        nodes += 1
        if depth > MAX_CONDITION_DEPTH:
            raise InvalidInput(
                "trigger_conditions", f"nested more than {MAX_CONDITION_DEPTH} levels deep"
            )
        if nodes > MAX_CONDITION_NODES:
            raise InvalidInput(
                "trigger_conditions", f"more than {MAX_CONDITION_NODES} conditions and groups"
            )
        if isinstance(node, Mapping):
            for key in ("all", "any"):
                members = node.get(key)
                if isinstance(members, list):
                    pending.extend((member, depth + 1) for member in members)


def check_trigger_conditions(conditions: Any) -> dict[str, Any]:
    """The conditions, or InvalidInput naming the place where they break the language."""
    _check_size(conditions)
    try:
        check_condition(conditions)
    except InvalidCondition as error:
        where, _, message = str(error).partition(": ")
        raise InvalidInput(where, message or str(error)) from None
    return dict(conditions)


def put_trigger(
    session: Session,
    *,
    customer_id: int,
    playbook_type: str,
    conditions: Any,
    enabled: bool,
    now: datetime,
) -> tuple[PlaybookTrigger, bool]:
    """Set when a catalogue playbook is recommended; True when the trigger is new."""
    if playbook_type not in CATALOGUE:
        raise NotFound("playbook", playbook_type)
    checked = check_trigger_conditions(conditions)
    trigger = _trigger(session, customer_id, playbook_type)
    created = trigger is None
    if trigger is None:
        trigger = PlaybookTrigger(
            customer_id=customer_id, playbook_type=playbook_type, created_at=now
        )
        session.add(trigger)
    trigger.trigger_conditions = checked
    trigger.auto_trigger_enabled = enabled
    session.flush()
    _emit_trigger_change(
        session, customer_id, playbook_type, "created" if created else "updated", now
    )
    return trigger, created


def delete_trigger(
    session: Session, *, customer_id: int, playbook_type: str, now: datetime
) -> None:
    """Remove the tenant's trigger of a playbook; NotFound when it has none."""
    trigger = _trigger(session, customer_id, playbook_type)
    if trigger is None:
        raise NotFound("playbook trigger", playbook_type)
    session.delete(trigger)
    session.flush()
    _emit_trigger_change(session, customer_id, playbook_type, "deleted", now)


def _emit_trigger_change(
    session: Session, customer_id: int, playbook_type: str, change: str, at: datetime
) -> None:
    """A trigger decides which playbooks every account's snapshot recommends: all changed."""
    emit_for_tenant(
        session,
        customer_id=customer_id,
        event_type=EventType.ACCOUNT_DATA_CHANGED,
        at=at,
        payload={"change": "playbook_triggers", "playbook_type": playbook_type, "trigger": change},
    )
