"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidemark.errors import Conflict, InvalidInput, InvalidRows, NotFound, TidemarkError

PROBLEM_JSON = "application/problem+json"

#: The OpenAPI schema of a problem (RFC 9457) as this API writes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error as RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "Always `about:blank`."},
        "title": {"type": "string", "description": "The status in words."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "errors": {
            "type": "array",
            "description": "Every bad field, parameter or file row (422 only).",
            "items": {"$ref": "#/components/schemas/ProblemError"},
        },
    },
}
PROBLEM_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemError",
    "description": "One bad input: where it is and what is wrong with it.",
    "type": "object",
    "required": ["where", "message"],
    "properties": {
        "where": {"type": "string", "description": "`body.reason`, `query.at`, `row 5, ...`"},
        "message": {"type": "string"},
        "row": {"type": ["integer", "null"], "description": "The file's row (files only)."},
        "column": {"type": ["string", "null"], "description": "The file's column (files only)."},
    },
}
#: The errors any authenticated operation can answer; 413 only where there is a body.
_STANDARD_ERRORS: dict[str, str] = {
    "400": "The request cannot be carried out.",
    "401": "No API key, or one that is unknown or revoked.",
    "403": "The key's role does not allow this operation.",
    "404": "Not found in the key's tenant (another tenant's ids answer 404 too).",
    "409": "The request conflicts with the current state.",
    "413": "The request body is larger than the configured limit.",
    "422": "Invalid input: every bad field, parameter or file row is listed in `errors`.",
}


class Unauthorized(TidemarkError):
    """No API key, or one that is unknown or revoked."""


class Forbidden(TidemarkError):
    """A valid key whose role does not allow the request."""


class PayloadTooLarge(TidemarkError):
    """A request body over the configured limit."""


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
    """Answer every error of ``app`` as problem+json, and say so in its OpenAPI document."""
    app.add_exception_handler(TidemarkError, _tidemark_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.openapi = _documented(app, app.openapi)  # type: ignore[method-assign]


def _documented(
    app: FastAPI, generate: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    # FastAPI documents 422 as its own {"detail": [...]} JSON and no other error,
    # while every error here is problem+json: clients and schema-driven tests
    # must see the responses the API really gives.
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document_problems(document)
        app.openapi_schema = document
        return document

    return openapi


def document_problems(document: dict[str, Any]) -> None:
    """Declare the problem+json error responses on every operation of an OpenAPI document."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemError"] = PROBLEM_ERROR_SCHEMA
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = ["422"] if "422" in responses else []
            if operation.get("security"):
                codes = ["400", "401", "403", "404", "409", "422"]
                if "requestBody" in operation:
                    codes.insert(5, "413")
            for code in codes:
                declared = responses.setdefault(code, {"description": _STANDARD_ERRORS[code]})
                if code == "422":
                    declared["description"] = _STANDARD_ERRORS[code]
                    declared["content"] = content
                else:
                    declared.setdefault("content", content)
    # FastAPI's own validation-error schemas are referenced no more once 422 is replaced.
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)
