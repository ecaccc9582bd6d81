"""FastAPI dependencies: one unit of work per request, the caller's tenant and role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import anyio
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from tidemark.clock import Clock
from tidemark.db.engine import session_factory, writer
from tidemark.rest.problems import Forbidden, Unauthorized
from tidemark.tenancy import keys
from tidemark.tenancy.keys import Principal

#: The largest id a row can have: ids are 32-bit integers on PostgreSQL. Bound every id
#: parameter with it (``Query(ge=1, le=MAX_ID)``) so a bigger one is a 422, not a database error.
MAX_ID = 2_147_483_647

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tmk_...`")


#: Requests that may hold a connection at once when the pool does not say (no QueuePool).
UNPOOLED_CONCURRENCY = 40

# Trivial dependencies are ``async def`` so that they run on the event loop: a
# plain ``def`` would cost each request one more hop to a worker thread.


async def get_engine(request: Request) -> Engine:
    """The engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


async def get_clock(request: Request) -> Clock:
    """The app's clock (injectable for tests)."""
    clock: Clock = request.app.state.clock
    return clock


# One admission gate per engine and event loop (anyio primitives belong to one loop).
_GATES: RunVar[WeakKeyDictionary[Engine, anyio.Semaphore]] = RunVar("tidemark_session_gates")


def _gate(engine: Engine) -> anyio.Semaphore:
    gates = _GATES.get(None)
    if gates is None:
        gates = WeakKeyDictionary()
        _GATES.set(gates)
    gate = gates.get(engine)
    if gate is None:
        pool = engine.pool
        size = UNPOOLED_CONCURRENCY
        if isinstance(pool, QueuePool):
            # Not the overflow: those connections are closed when given back, and
            # opening one costs more than the query (SQLite reads the whole schema).
            size = pool.size()
        gate = gates[engine] = anyio.Semaphore(size)
    return gate


async def _in_thread(work: Callable[[], Any]) -> None:
    # A limiter of its own, as FastAPI does for the exit of its dependencies: the
    # shared worker threads may all be busy with requests waiting for this one.
    await anyio.to_thread.run_sync(work, limiter=anyio.CapacityLimiter(1))


def _finish(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


#: Methods whose requests write; on SQLite their transaction takes the write lock at once.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def get_session(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
) -> AsyncIterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on error.

    Requests wait (on the event loop, holding no thread) until one of the pool's
    kept connections is free: a request holds its connection across several
    worker threads, so letting more requests in than there are connections
    would have every thread wait for a connection that only a thread can free.
    """
    async with _gate(engine):
        bind = writer(engine) if request.method in WRITE_METHODS else engine
        session = session_factory(bind)()
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _in_thread(lambda: _finish(session, commit=False))
            raise
        with anyio.CancelScope(shield=True):
            await _in_thread(lambda: _finish(session, commit=True))


#: The request's session. ``scope="function"`` commits before the response is sent, so a
#: client never sees a success whose commit then failed, and its next request sees the write.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppClock = Annotated[Clock, Depends(get_clock)]


async def get_now(clock: AppClock) -> datetime:
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

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(f"this needs the {role} role; the key has {principal.role}")
        return principal

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Csm = Annotated[Principal, require("csm")]
Admin = Annotated[Principal, require("admin")]
