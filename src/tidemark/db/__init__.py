"""Database access: engines, units of work, column types and migrations."""

from tidemark.db.base import Base
from tidemark.db.engine import make_engine, session_factory, unit_of_work

__all__ = ["Base", "make_engine", "session_factory", "unit_of_work"]
