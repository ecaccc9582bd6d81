"""FastAPI dependencies: one unit of work per request, the caller's tenant and role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tidemark.clock import Clock
from tidemark.db.engine import unit_of_work
from tidemark.rest.problems import Forbidden, Unauthorized
from tidemark.tenancy import keys
from tidemark.tenancy.keys import Principal

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tmk_...`")


def get_engine(request: Request) -> Engine:
    """The engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


def get_clock(request: Request) -> Clock:
    """The app's clock (injectable for tests)."""
    clock: Clock = request.app.state.clock
    return clock


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back on error."""
    with unit_of_work(engine) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
AppClock = Annotated[Clock, Depends(get_clock)]


def get_now(clock: AppClock) -> datetime:
    """The current moment from the app's clock."""
    return clock.now()


Now = Annotated[datetime, Depends(get_now)]


def current_principal(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The tenant, user and role of the request's API key; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    principal = keys.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    return principal


def require(role: str) -> object:
    """A dependency that lets the request through only with at least ``role``."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(f"this needs the {role} role; the key has {principal.role}")
        return principal

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Csm = Annotated[Principal, require("csm")]
Admin = Annotated[Principal, require("admin")]
