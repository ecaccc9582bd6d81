"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidemark.errors import Conflict, InvalidInput, NotFound, TidemarkError

PROBLEM_JSON = "application/problem+json"


class Unauthorized(TidemarkError):
    """No API key, or one that is unknown or revoked."""


class Forbidden(TidemarkError):
    """A valid key whose role does not allow the request."""


class PayloadTooLarge(TidemarkError):
    """A request body over the configured limit."""


class InvalidRows(InvalidInput):
    """A file with bad rows: every bad row and column is listed."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(str(first.get("where", "file")), f"{len(errors)} bad row(s) in the file")
        self.errors = errors


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _tidemark_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFound):
        return problem(404, "Not Found", str(exc))
    if isinstance(exc, InvalidRows):
        return problem(422, "Invalid file", str(exc), errors=exc.errors)
    if isinstance(exc, InvalidInput):
        return problem(
            422, "Invalid input", str(exc), errors=[{"where": exc.where, "message": exc.message}]
        )
    if isinstance(exc, Conflict):
        return problem(409, "Conflict", str(exc))
    if isinstance(exc, Unauthorized):
        return problem(401, "Unauthorized", str(exc))
    if isinstance(exc, Forbidden):
        return problem(403, "Forbidden", str(exc))
    if isinstance(exc, PayloadTooLarge):
        return problem(413, "Content Too Large", str(exc))
    return problem(400, "Bad Request", str(exc))


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "where": ".".join(str(part) for part in error.get("loc", ())),
            "message": error.get("msg", "invalid"),
        }
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['where']}: {e['message']}" for e in errors[:5])
    return problem(422, "Invalid request", detail, errors=errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), str(exc.detail))


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json."""
    app.add_exception_handler(TidemarkError, _tidemark_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
