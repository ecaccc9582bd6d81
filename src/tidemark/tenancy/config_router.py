"""HTTP endpoints of the tenant's configuration: health weights, uploads, capture, time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tidemark.rest.deps import Admin, DbSession, Now, Viewer
from tidemark.tenancy import config
from tidemark.tenancy.models import CATEGORIES

router = APIRouter(prefix="/api/customer-config", tags=["configuration"])

_WEIGHTS_HELP = (
    f"Weight of each health category ({', '.join(CATEGORIES)}): every one of them, "
    "each at least 0, adding up to 1 (within 0.001)."
)


class CustomerConfigRead(BaseModel):
    """The tenant's configuration (defaults where it has set nothing)."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    timezone: str = Field(description="IANA time zone of the tenant's schedules.")
    category_weights: dict[str, float] = Field(description=_WEIGHTS_HELP)
    kpi_upload_mode: str = Field(description="corporate or account_rollup (seed 004).")
    snapshot_window_seconds: int = Field(
        description="Debounce window of automatic snapshots: one snapshot of the final "
        "state of a burst of changes, at most this long after it began."
    )
    master_file_name: str | None
    updated_at: datetime | None


class CustomerConfigUpdate(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    category_weights: dict[str, float] | None = Field(default=None, description=_WEIGHTS_HELP)
    kpi_upload_mode: Literal["account_rollup", "corporate"] | None = None
    snapshot_window_seconds: int | None = Field(
        default=None, ge=0, le=config.MAX_WINDOW_SECONDS, description="0 to 86400 seconds."
    )
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="An IANA time zone such as Asia/Bangkok."
    )


@router.get("", response_model=CustomerConfigRead)
def get_config(principal: Viewer, session: DbSession) -> Any:
    """The tenant's configuration."""
    return config.get(session, customer_id=principal.customer_id)


@router.put("", response_model=CustomerConfigRead)
def update_config(
    body: CustomerConfigUpdate, principal: Admin, session: DbSession, now: Now
) -> Any:
    """Change the fields sent; new category weights re-capture every account's health."""
    return config.update(
        session,
        customer_id=principal.customer_id,
        changes=body.model_dump(exclude_unset=True),
        now=now,
    )
