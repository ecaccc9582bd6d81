"""API schemas of the upload write paths: KPI files, reference ranges, customer profiles."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KPIUploadRead(BaseModel):
    """What a KPI upload wrote; the file itself is kept as upload ``upload_id``."""

    upload_id: int
    version: int = Field(description="Increases by one with every upload of the tenant.")
    rows: int = Field(description="Data rows in the file.")
    account_id: int | None = Field(description="The account, when the file has only one.")
    accounts_created: int
    accounts_matched: int
    products_created: int
    kpis_created: int
    kpis_updated: int
    series_created: int = Field(description="Monthly KPI series rows added.")
    series_updated: int = Field(
        description="Monthly KPI series rows replaced (month uploaded again)."
    )
    months: list[str] = Field(description="The months the file covers, as YYYY-MM.")


class ReferenceRangeRead(BaseModel):
    """A KPI reference range: how a value grades as Healthy, Risk or Critical."""

    model_config = ConfigDict(from_attributes=True)

    range_id: int
    kpi_parameter: str
    direction: str = Field(description="`higher` when bigger values are better, else `lower`.")
    critical_threshold: Decimal
    risk_threshold: Decimal
    unit: str | None
    description: str | None
    is_default: bool
    updated_at: datetime | None


class ReferenceRangeUpdate(BaseModel):
    """A range to set; for `higher`, critical <= risk; for `lower`, critical >= risk."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["higher", "lower"]
    critical_threshold: Decimal = Field(allow_inf_nan=False, gt=-(10**14), lt=10**14)
    risk_threshold: Decimal = Field(allow_inf_nan=False, gt=-(10**14), lt=10**14)
    unit: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=255)


class ReferenceRangeUploadRead(BaseModel):
    """What a range upload wrote."""

    rows: int
    created: int
    updated: int


class ProfileUploadRead(BaseModel):
    """What a customer profile upload wrote."""

    rows: int
    accounts_created: int
    accounts_updated: int = Field(description="Matched accounts whose fields changed.")
    accounts_unchanged: int = Field(description="Matched accounts the file left as they were.")
    products_created: int
