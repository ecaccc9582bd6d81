"""Import every domain's models so the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from tidemark.assistant import models as assistant_models
from tidemark.db.base import Base
from tidemark.events import models as event_models
from tidemark.snapshots import models as snapshot_models
from tidemark.success import models as success_models
from tidemark.tenancy import models as tenancy_models

metadata = Base.metadata

__all__ = [
    "assistant_models",
    "event_models",
    "metadata",
    "snapshot_models",
    "success_models",
    "tenancy_models",
]
