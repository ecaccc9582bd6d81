"""Canonical encoding of snapshot sections, their digests, and a decoded cache."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tidemark.snapshots.fields import SECTION_FIELDS, FieldSpec, Kind, Section
from tidemark.snapshots.models import SnapshotSection

DIGEST_SIZE = 16


def encode_value(spec: FieldSpec, value: Any) -> Any:
    """A JSON-safe form of ``value``; decimals and dates become strings to stay exact."""
    if value is None:
        return None
    if spec.kind is Kind.DECIMAL:
        return str(value)
    if spec.kind in (Kind.DATE, Kind.DATETIME):
        return value.isoformat()
    return value


def decode_value(spec: FieldSpec, raw: Any) -> Any:
    """The Python value of a field from its JSON-safe form."""
    if raw is None:
        return None
    if spec.kind is Kind.DECIMAL:
        return Decimal(raw)
    if spec.kind is Kind.DATE:
        return date.fromisoformat(raw)
    if spec.kind is Kind.DATETIME:
        return datetime.fromisoformat(raw)
    return raw


def encode_section(section: Section, values: Mapping[str, Any]) -> str:
    """Canonical JSON of a section's fields: sorted keys, compact, nulls left out."""
    body = {
        spec.name: encode_value(spec, values.get(spec.name))
        for spec in SECTION_FIELDS[section]
        if values.get(spec.name) is not None
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def section_digest(section: Section, body: str) -> bytes:
    """The content address of a section value: BLAKE2b-128 of its kind and body."""
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(section.value.encode())
    h.update(b"\x00")
    h.update(body.encode())
    return h.digest()


def decode_section(section: Section, body: str) -> dict[str, Any]:
    """Every field of a section, decoded, with absent fields as None."""
    raw = json.loads(body)
    return {spec.name: decode_value(spec, raw.get(spec.name)) for spec in SECTION_FIELDS[section]}


class SectionCache:
    """Decoded sections by id, per engine.

    Sections are immutable and ids are never handed out twice for committed
    rows, so a decoded section can be reused by every later read. A rollback
    may give an uncommitted id back on SQLite, so any rollback on the engine
    clears its cache when that transaction wrote sections.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._by_engine: WeakKeyDictionary[Engine, OrderedDict[int, dict[str, Any]]] = (
            WeakKeyDictionary()
        )

    def _entries(self, engine: Engine) -> OrderedDict[int, dict[str, Any]]:
        entries = self._by_engine.get(engine)
        if entries is None:
            entries = OrderedDict()
            self._by_engine[engine] = entries
        return entries

    def clear(self, engine: Engine) -> None:
        """Forget every decoded section of ``engine``."""
        with self._lock:
            self._by_engine.pop(engine, None)

    def load(self, session: Session, section_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Decoded sections for ``section_ids``, reading only those not cached."""
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        wanted = set(section_ids)
        found: dict[int, dict[str, Any]] = {}
        with self._lock:
            entries = self._entries(engine)
            for sid in wanted:
                hit = entries.get(sid)
                if hit is not None:
                    found[sid] = hit
        missing = sorted(wanted - found.keys())
        for start in range(0, len(missing), 5000):
            chunk = missing[start : start + 5000]
            rows = session.execute(
                select(
                    SnapshotSection.section_id, SnapshotSection.kind, SnapshotSection.body
                ).where(SnapshotSection.section_id.in_(chunk))
            )
            for sid, kind, body in rows:
                found[sid] = decode_section(Section(kind), body)
        if missing:
            with self._lock:
                entries = self._entries(engine)
                for sid in missing:
                    if sid in found:
                        entries[sid] = found[sid]
                while len(entries) > self.capacity:
                    entries.popitem(last=False)
        return found


SECTION_CACHE = SectionCache()


WROTE_SECTIONS = "tidemark.wrote_sections"


def mark_sections_written(session: Session) -> None:
    """Note that this transaction inserted sections, so a rollback must clear the cache."""
    session.info[WROTE_SECTIONS] = True


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    if session.info.pop(WROTE_SECTIONS, False):
        bind = session.bind
        if isinstance(bind, Engine):
            SECTION_CACHE.clear(bind)


@event.listens_for(Session, "after_commit")
def _keep_after_commit(session: Session) -> None:
    session.info.pop(WROTE_SECTIONS, None)
