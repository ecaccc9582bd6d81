"""HTTP endpoints of the upload write paths: KPI files, reference ranges, customer profiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile

from tidemark.rest.deps import Admin, Csm, DbSession, Now, Viewer
from tidemark.success import ranges
from tidemark.success.profiles import upload_profiles
from tidemark.success.upload_schemas import (
    KPIUploadRead,
    ProfileUploadRead,
    ReferenceRangeRead,
    ReferenceRangeUpdate,
    ReferenceRangeUploadRead,
)
from tidemark.success.uploads import upload_kpis

router = APIRouter(tags=["uploads"])

KpiParameter = Annotated[
    str, Path(min_length=1, max_length=200, description="The KPI parameter (any case).")
]


def _read(file: UploadFile) -> tuple[str, bytes]:
    return file.filename or "", file.file.read()


@router.post("/api/upload", response_model=KPIUploadRead, status_code=201)
def upload_kpi_file(
    principal: Csm,
    session: DbSession,
    now: Now,
    file: Annotated[UploadFile, File(description="A CSV or XLSX file of KPI rows.")],
    account_name: Annotated[
        str | None,
        Form(max_length=255, description="The account of a file without an account column."),
    ] = None,
    month: Annotated[
        int | None, Form(ge=1, le=12, description="Month of rows without one (default: now).")
    ] = None,
    year: Annotated[
        int | None, Form(ge=2000, le=9999, description="Year of rows without one (default: now).")
    ] = None,
) -> Any:
    """Upload KPI values (CSV or XLSX); all rows are applied, or none with every bad row listed."""
    filename, content = _read(file)
    result = upload_kpis(
        session,
        customer_id=principal.customer_id,
        user_id=principal.user_id,
        filename=filename,
        content=content,
        now=now,
        account_name=account_name,
        month=month,
        year=year,
    )
    return KPIUploadRead(
        upload_id=result.upload_id,
        version=result.version,
        rows=result.rows,
        account_id=result.account_id,
        accounts_created=result.accounts_created,
        accounts_matched=result.accounts_matched,
        products_created=result.products_created,
        kpis_created=result.kpis_created,
        kpis_updated=result.kpis_updated,
        series_created=result.series_created,
        series_updated=result.series_updated,
        months=result.months,
    )


@router.get("/api/reference-ranges", response_model=list[ReferenceRangeRead])
def list_reference_ranges(principal: Viewer, session: DbSession) -> Any:
    """The tenant's KPI reference ranges."""
    return ranges.list_ranges(session, customer_id=principal.customer_id)


@router.post(
    "/api/reference-ranges/upload", response_model=ReferenceRangeUploadRead, status_code=201
)
def upload_reference_ranges(
    principal: Admin,
    session: DbSession,
    now: Now,
    file: Annotated[UploadFile, File(description="A CSV or XLSX file of ranges.")],
) -> Any:
    """Set many reference ranges from a CSV or XLSX file; all rows or none."""
    filename, content = _read(file)
    result = ranges.upload(
        session, customer_id=principal.customer_id, filename=filename, content=content, now=now
    )
    return ReferenceRangeUploadRead(
        rows=result.rows, created=result.created, updated=result.updated
    )


@router.get("/api/reference-ranges/{kpi_parameter:path}", response_model=ReferenceRangeRead)
def get_reference_range(kpi_parameter: KpiParameter, principal: Viewer, session: DbSession) -> Any:
    """One reference range by KPI parameter."""
    return ranges.get(session, customer_id=principal.customer_id, kpi_parameter=kpi_parameter)


@router.put("/api/reference-ranges/{kpi_parameter:path}", response_model=ReferenceRangeRead)
def put_reference_range(
    kpi_parameter: KpiParameter,
    body: ReferenceRangeUpdate,
    principal: Admin,
    session: DbSession,
    now: Now,
) -> Any:
    """Set the reference range of a KPI parameter, creating it when the tenant has none."""
    values = ranges.check(
        kpi_parameter,
        body.direction,
        body.critical_threshold,
        body.risk_threshold,
        body.unit,
        body.description,
    )
    stored, _created = ranges.put(
        session, customer_id=principal.customer_id, values=values, now=now
    )
    return stored


@router.post("/api/customer-profile/upload", response_model=ProfileUploadRead, status_code=201)
def upload_customer_profiles(
    principal: Csm,
    session: DbSession,
    now: Now,
    file: Annotated[UploadFile, File(description="A CSV, XLSX or JSON file of account profiles.")],
) -> Any:
    """Update (or create) accounts from a profile file (CSV, XLSX or JSON); all rows or none."""
    filename, content = _read(file)
    result = upload_profiles(
        session, customer_id=principal.customer_id, filename=filename, content=content, now=now
    )
    return ProfileUploadRead(
        rows=result.rows,
        accounts_created=result.accounts_created,
        accounts_updated=result.accounts_updated,
        accounts_unchanged=result.accounts_unchanged,
        products_created=result.products_created,
    )
