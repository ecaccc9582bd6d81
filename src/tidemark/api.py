"""The FastAPI application: mounts each domain's router; OpenAPI at /docs."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from tidemark import __version__
from tidemark.assistant.router import router as assistant_router
from tidemark.clock import Clock, clock_from_env
from tidemark.db.engine import make_engine
from tidemark.events.router import router as events_router
from tidemark.events.schedule_router import router as schedule_router
from tidemark.events.worker import Worker, WorkerConfig
from tidemark.rest import problems
from tidemark.rest.limits import BodyLimit
from tidemark.settings import Settings, get_settings
from tidemark.snapshots.router import router as snapshots_router
from tidemark.success.accounts_router import router as accounts_router
from tidemark.success.health_router import router as health_router
from tidemark.success.notes_router import router as notes_router
from tidemark.success.playbooks_router import router as playbooks_router
from tidemark.success.upload_router import router as upload_router
from tidemark.tenancy.config_router import router as config_router

ROUTERS = (
    snapshots_router,
    accounts_router,
    health_router,
    playbooks_router,
    notes_router,
    upload_router,
    events_router,
    schedule_router,
    config_router,
    assistant_router,
)


def create_app(
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    worker: WorkerConfig | None = None,
) -> FastAPI:
    """The app on ``engine`` (else the configured database) with ``clock`` (else the process's).

    With ``worker`` the app runs an event worker in a thread while it serves (the
    embedded default: one process does everything).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if worker is None:
            yield
            return
        stop = threading.Event()
        runner = Worker(app.state.engine, clock=app.state.clock, config=worker)
        thread = threading.Thread(target=runner.run, args=(stop,), name="worker", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    app = FastAPI(
        lifespan=lifespan,
        title="Tidemark",
        version=__version__,
        description="Immutable point-in-time snapshots of accounts, and their history. "
        "Authenticate with `Authorization: Bearer <API key>` (`tidemark keys create`).",
    )
    app.state.engine = engine or make_engine(settings.resolved_database_url())
    app.state.clock = clock or clock_from_env()
    app.state.settings = settings
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, str]:
        """Whether the service is up (no authentication)."""
        return {"status": "ok", "version": __version__}

    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return app
