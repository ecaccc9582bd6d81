"""HTTP endpoints of playbooks: the catalogue, executions, reports and triggers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from tidemark.rest.deps import Admin, Csm, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.success import playbooks
from tidemark.success.models import PlaybookExecution
from tidemark.success.schemas import (
    MAX_ID,
    ExecutionStatus,
    PlaybookExecutionAdvance,
    PlaybookExecutionComplete,
    PlaybookExecutionCompleted,
    PlaybookExecutionCreate,
    PlaybookExecutionPagination,
    PlaybookExecutionRead,
    PlaybookRead,
    PlaybookReportPagination,
    PlaybookReportRead,
    PlaybookTriggerRead,
    PlaybookTriggerWrite,
)

router = APIRouter(tags=["playbooks"])

ExecutionId = Annotated[
    str, Path(min_length=1, max_length=36, description="The execution's id (a UUID).")
]
ReportId = Annotated[int, Path(ge=1, le=MAX_ID, description="The report's id.")]
PlaybookType = Annotated[
    str, Path(min_length=1, max_length=50, description="A catalogue playbook id.")
]


def _execution(execution: PlaybookExecution, report_id: int | None) -> PlaybookExecutionRead:
    definition = playbooks.CATALOGUE.get(execution.playbook_id)
    data = execution.execution_data or {}
    return PlaybookExecutionRead(
        execution_id=execution.execution_id,
        account_id=execution.account_id,
        playbook_id=execution.playbook_id,
        playbook_name=definition.name
        if definition
        else str(data.get("playbook_name", execution.playbook_id)),
        status=execution.status,
        current_step=execution.current_step,
        total_steps=len(definition.steps) if definition else len(data.get("steps") or []),
        execution_data=data,
        started_at=execution.started_at,
        completed_at=execution.completed_at,
        created_by=execution.created_by,
        updated_at=execution.updated_at,
        report_id=report_id,
    )


@router.get("/api/playbooks", response_model=list[PlaybookRead])
def list_playbooks(principal: Viewer) -> Any:
    """The playbook catalogue: steps, measured figures and exit criteria."""
    return [
        PlaybookRead(
            playbook_id=p.playbook_id,
            name=p.name,
            description=p.description,
            steps=list(p.steps),
            metrics=list(p.metrics),
            exit_criteria=[criterion.text for criterion in p.exit_criteria],
            default_trigger=dict(p.default_trigger),
        )
        for p in playbooks.CATALOGUE.values()
    ]


@router.post("/api/playbook-executions", response_model=PlaybookExecutionRead, status_code=201)
def start_execution(
    body: PlaybookExecutionCreate, principal: Csm, session: DbSession, now: Now
) -> Any:
    """Start a playbook for an account at step 1, with an in-progress report."""
    execution, report = playbooks.start(
        session,
        customer_id=principal.customer_id,
        account_id=body.account_id,
        playbook_id=body.playbook_id,
        user_id=principal.user_id,
        now=now,
        notes=body.notes,
    )
    return _execution(execution, report.report_id)


@router.get("/api/playbook-executions", response_model=PlaybookExecutionPagination)
def list_executions(
    principal: Viewer,
    session: DbSession,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[ExecutionStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List executions, newest first, by account and status."""
    page = playbooks.list_executions(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        status=status,
        limit=limit,
        offset=offset,
    )
    reports = playbooks.report_ids(
        session,
        customer_id=principal.customer_id,
        execution_ids=[e.execution_id for e in page.items],
    )
    return PlaybookExecutionPagination(
        items=[_execution(e, reports.get(e.execution_id)) for e in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def _with_report(session: DbSession, customer_id: int, execution: PlaybookExecution) -> Any:
    reports = playbooks.report_ids(
        session, customer_id=customer_id, execution_ids=[execution.execution_id]
    )
    return _execution(execution, reports.get(execution.execution_id))


@router.get("/api/playbook-executions/{execution_id}", response_model=PlaybookExecutionRead)
def get_execution(execution_id: ExecutionId, principal: Viewer, session: DbSession) -> Any:
    """One execution with its steps."""
    execution = playbooks.get_execution(
        session, customer_id=principal.customer_id, execution_id=execution_id
    )
    return _with_report(session, principal.customer_id, execution)


@router.post(
    "/api/playbook-executions/{execution_id}/advance", response_model=PlaybookExecutionRead
)
def advance_execution(
    execution_id: ExecutionId,
    principal: Csm,
    session: DbSession,
    now: Now,
    body: PlaybookExecutionAdvance | None = None,
) -> Any:
    """Record the current step's outcome and move to the next step."""
    execution = playbooks.advance(
        session,
        customer_id=principal.customer_id,
        execution_id=execution_id,
        outcome=body.outcome if body is not None else None,
        user_id=principal.user_id,
        now=now,
    )
    return _with_report(session, principal.customer_id, execution)


@router.post(
    "/api/playbook-executions/{execution_id}/complete", response_model=PlaybookExecutionCompleted
)
def complete_execution(
    execution_id: ExecutionId,
    principal: Csm,
    session: DbSession,
    now: Now,
    body: PlaybookExecutionComplete | None = None,
) -> Any:
    """Complete an execution and generate its report (what is not given is generated)."""
    given = body or PlaybookExecutionComplete()
    execution, report = playbooks.complete(
        session,
        customer_id=principal.customer_id,
        execution_id=execution_id,
        completion=playbooks.Completion(
            outcome=given.outcome,
            executive_summary=given.executive_summary,
            outcomes_achieved=None
            if given.outcomes_achieved is None
            else {
                metric: outcome.model_dump(exclude_none=True)
                for metric, outcome in given.outcomes_achieved.items()
            },
            raci=None if given.raci is None else given.raci.model_dump(exclude_none=True),
            exit_criteria=None
            if given.exit_criteria is None
            else [criterion.model_dump() for criterion in given.exit_criteria],
            recommendations=given.recommendations,
        ),
        user_id=principal.user_id,
        now=now,
    )
    return PlaybookExecutionCompleted(
        execution=_execution(execution, report.report_id),
        report=PlaybookReportRead.model_validate(report),
    )


@router.get("/api/playbook-reports", response_model=PlaybookReportPagination)
def list_reports(
    principal: Viewer,
    session: DbSession,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List playbook reports, newest first, of one account or of all."""
    page = playbooks.list_reports(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        limit=limit,
        offset=offset,
    )
    return page_body(page)


@router.get("/api/playbook-reports/{report_id}", response_model=PlaybookReportRead)
def get_report(report_id: ReportId, principal: Viewer, session: DbSession) -> Any:
    """One playbook report: summary, outcomes, RACI, exit criteria, recommendations."""
    return playbooks.get_report(session, customer_id=principal.customer_id, report_id=report_id)


@router.get("/api/playbook-triggers", response_model=list[PlaybookTriggerRead])
def list_triggers(principal: Viewer, session: DbSession) -> Any:
    """The tenant's playbook triggers."""
    return playbooks.list_triggers(session, customer_id=principal.customer_id)


@router.put("/api/playbook-triggers/{playbook_type}", response_model=PlaybookTriggerRead)
def put_trigger(
    playbook_type: PlaybookType,
    body: PlaybookTriggerWrite,
    principal: Admin,
    session: DbSession,
    now: Now,
    response: Response,
) -> Any:
    """Set when a playbook is recommended and whether its trigger is on (201 when new)."""
    trigger, created = playbooks.put_trigger(
        session,
        customer_id=principal.customer_id,
        playbook_type=playbook_type,
        conditions=body.trigger_conditions,
        enabled=body.auto_trigger_enabled,
        now=now,
    )
    if created:
        response.status_code = 201
    return trigger


@router.delete("/api/playbook-triggers/{playbook_type}", status_code=204)
def delete_trigger(
    playbook_type: PlaybookType, principal: Admin, session: DbSession, now: Now
) -> None:
    """Remove a playbook's trigger."""
    playbooks.delete_trigger(
        session, customer_id=principal.customer_id, playbook_type=playbook_type, now=now
    )
