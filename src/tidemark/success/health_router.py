"""HTTP endpoints of health trends, their bulk generation, and the corporate rollup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidemark.rest.deps import Admin, Csm, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.success import health
from tidemark.success.schemas import (
    MAX_ID,
    GeneratedScore,
    HealthGenerate,
    HealthGenerated,
    HealthTrendCreate,
    HealthTrendPagination,
    HealthTrendRead,
    HealthTrendUpdate,
    RollupRead,
)

router = APIRouter(tags=["health"])

TrendId = Annotated[int, Path(ge=1, le=MAX_ID, description="The health trend's id.")]
_SCORES = set(health.SCORE_FIELDS)


@router.post("/api/health-trends", response_model=HealthTrendRead, status_code=201)
def create_trend(body: HealthTrendCreate, principal: Csm, session: DbSession, now: Now) -> Any:
    """Record an account's health scores for one month (one trend per account and month)."""
    return health.create(
        session,
        customer_id=principal.customer_id,
        account_id=body.account_id,
        year=body.year,
        month=body.month,
        scores=body.model_dump(include=_SCORES),
        now=now,
    )


@router.get("/api/health-trends", response_model=HealthTrendPagination)
def list_trends(
    principal: Viewer,
    session: DbSession,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 120,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List health trends, newest month first, of one account or of all."""
    page = health.list_trends(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        limit=limit,
        offset=offset,
    )
    return page_body(page)


@router.post("/api/health-trends/generate", response_model=HealthGenerated)
def generate_trends(
    principal: Csm, session: DbSession, now: Now, body: HealthGenerate | None = None
) -> Any:
    """Score this month's health of every account (or the given ones) from current KPIs."""
    result = health.generate(
        session,
        customer_id=principal.customer_id,
        now=now,
        account_ids=body.account_ids if body is not None else None,
    )
    return HealthGenerated(
        year=result.year,
        month=result.month,
        created=result.created,
        updated=result.updated,
        recalculated=result.recalculated,
        skipped_account_ids=result.skipped,
        scores=[
            GeneratedScore(account_id=account_id, overall_health_score=score)
            for account_id, score in result.overall.items()
        ],
    )


@router.get("/api/health-trends/{trend_id}", response_model=HealthTrendRead)
def get_trend(trend_id: TrendId, principal: Viewer, session: DbSession) -> Any:
    """One health trend."""
    return health.get(session, customer_id=principal.customer_id, trend_id=trend_id)


@router.put("/api/health-trends/{trend_id}", response_model=HealthTrendRead)
def replace_trend(
    trend_id: TrendId, body: HealthTrendUpdate, principal: Csm, session: DbSession, now: Now
) -> Any:
    """Replace a trend's scores; a category left out becomes unknown."""
    return health.update(
        session,
        customer_id=principal.customer_id,
        trend_id=trend_id,
        scores=body.model_dump(),
        now=now,
    )


@router.post("/api/corporate/rollup", response_model=RollupRead, tags=["corporate"])
def corporate_rollup(principal: Admin, session: DbSession, now: Now) -> Any:
    """Recalculate every account's health for this month from its current KPIs."""
    result = health.rollup(session, customer_id=principal.customer_id, now=now)
    return RollupRead(
        year=result.year,
        month=result.month,
        accounts_recalculated=result.recalculated,
        accounts_skipped=len(result.skipped),
        average_health_score=result.average_overall,
    )
