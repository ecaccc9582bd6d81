"""Canonical encoding of snapshot sections, their digests, and a decoded cache."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Engine,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    event,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tidemark.snapshots.fields import SECTION_FIELDS, STORED_SECTIONS, FieldSpec, Kind, Section
from tidemark.snapshots.models import SnapshotSection
from tidemark.snapshots.source import plain_rows

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


_CONVERTERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.DECIMAL: str,
    Kind.DATE: date.isoformat,
    Kind.DATETIME: datetime.isoformat,
}
#: Each section's field names in key order, and the fields whose kind needs a conversion.
_NAMES = {
    section: tuple(sorted(spec.name for spec in SECTION_FIELDS[section])) for section in Section
}
_CONVERTED = {
    section: tuple(
        (spec.name, _CONVERTERS[spec.kind])
        for spec in SECTION_FIELDS[section]
        if spec.kind in _CONVERTERS
    )
    for section in Section
}


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_encoder() -> Callable[[Any], str]:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text as is.

    ``json.dumps`` with options sets up a new encoder on every call, which is
    half the cost of encoding a small section; the C encoder is built once
    here (without the circular-reference check: sections are plain trees).
    """
    options = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    c_encode_basestring = getattr(json.encoder, "c_encode_basestring", None)
    if c_make_encoder is None or c_encode_basestring is None:
        return options.encode
    encode = c_make_encoder(None, _not_json, c_encode_basestring, None, ":", ",", True, False, True)

    def encode_json(value: Any) -> str:
        return "".join(encode(value, 0))

    return encode_json


_encode_json = _json_encoder()
_DIGEST_PREFIX = {section: section.value.encode() + b"\x00" for section in Section}


def encode_section(section: Section, values: Mapping[str, Any]) -> str:
    """Canonical JSON of a section's fields: sorted keys, compact, nulls left out."""
    get = values.get
    body = {name: value for name in _NAMES[section] if (value := get(name)) is not None}
    for name, convert in _CONVERTED[section]:
        value = body.get(name)
        if value is not None:
            body[name] = convert(value)
    return _encode_json(body)


def section_digest(section: Section, body: str) -> bytes:
    """The content address of a section value: BLAKE2b-128 of its kind and body."""
    return hashlib.blake2b(
        _DIGEST_PREFIX[section] + body.encode(), digest_size=DIGEST_SIZE
    ).digest()


#: Per stored section: its names in key order, its conversions and its digest prefix.
_STORED_PLANS = tuple(
    (_NAMES[section], _CONVERTED[section], _DIGEST_PREFIX[section]) for section in STORED_SECTIONS
)


def encode_stored_sections(values: Mapping[str, Any]) -> tuple[list[str], list[bytes]]:
    """Bodies and digests of the five stored sections of ``values``, in ``STORED_SECTIONS`` order.

    The same as ``encode_section`` and ``section_digest`` for each section, in
    one call: the writer does this for every snapshot.
    """
    get = values.get
    blake2b = hashlib.blake2b
    bodies: list[str] = []
    digests: list[bytes] = []
    for names, converted, prefix in _STORED_PLANS:
        body = {name: value for name in names if (value := get(name)) is not None}
        for name, convert in converted:
            value = body.get(name)
            if value is not None:
                body[name] = convert(value)
        text = _encode_json(body)
        bodies.append(text)
        digests.append(blake2b(prefix + text.encode(), digest_size=DIGEST_SIZE).digest())
    return bodies, digests


_DECODERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.DECIMAL: Decimal,
    Kind.DATE: date.fromisoformat,
    Kind.DATETIME: datetime.fromisoformat,
}
_SECTION_TEMPLATE = {
    section: dict.fromkeys(spec.name for spec in SECTION_FIELDS[section]) for section in Section
}
_DECODED = {
    section: tuple(
        (spec.name, _DECODERS[spec.kind])
        for spec in SECTION_FIELDS[section]
        if spec.kind in _DECODERS
    )
    for section in Section
}


def decode_section(section: Section, body: str) -> dict[str, Any]:
    """Every field of a section, decoded, with absent fields as None."""
    template = _SECTION_TEMPLATE[section]
    record = template.copy()
    record.update(json.loads(body))
    if len(record) != len(template):
        # A body written by a newer version may carry fields this one does not know.
        record = {name: record[name] for name in template}
    for name, decode in _DECODED[section]:
        value = record[name]
        if value is not None:
            record[name] = decode(value)
    return record


_SECTIONS_BY_VALUE = {section.value: section for section in Section}


def _section_query(postgres: bool) -> Select[int, str, str]:
    """Sections by id (bound as one array), of one tenant or of any: built once."""
    section = SnapshotSection
    if postgres:
        wanted: ColumnElement[bool] = section.section_id == any_(
            bindparam("ids", type_=ARRAY(Integer))
        )
    else:
        wanted = section.section_id.in_(
            select(literal_column("value"))
            .select_from(func.json_each(bindparam("ids", type_=String())))
            .scalar_subquery()
        )
    return select(section.section_id, section.kind, section.body).where(
        wanted,
        or_(
            bindparam("any_customer", type_=Boolean()),
            section.customer_id == bindparam("customer_id"),
        ),
    )


_SECTION_QUERIES = {postgres: _section_query(postgres) for postgres in (False, True)}


class SectionCache:
    """Decoded sections by id, and their combinations as snapshots use them, per engine.

    Sections are immutable and ids are never handed out twice for committed
    rows, so a decoded section can be reused by every later read. A rollback
    may give an uncommitted id back on SQLite, so any rollback on the engine
    clears its cache when that transaction wrote sections.

    A snapshot's five section ids form a combination that consecutive
    snapshots of an account share, and that every read of "latest" asks for
    again: the union of each combination's fields is kept too (up to
    ``combinations`` of them, about 2 KB each), so a warm read merges one dict
    per record, not five.
    """

    def __init__(self, capacity: int = 200_000, combinations: int = 20_000) -> None:
        self.capacity = capacity
        self.combinations = combinations
        self._lock = threading.Lock()
        self._by_engine: WeakKeyDictionary[Engine, OrderedDict[int, dict[str, Any]]] = (
            WeakKeyDictionary()
        )
        self._combined: WeakKeyDictionary[Engine, OrderedDict[tuple[int, ...], dict[str, Any]]] = (
            WeakKeyDictionary()
        )

    def _entries(self, engine: Engine) -> OrderedDict[int, dict[str, Any]]:
        entries = self._by_engine.get(engine)
        if entries is None:
            entries = OrderedDict()
            self._by_engine[engine] = entries
        return entries

    def _combinations(self, engine: Engine) -> OrderedDict[tuple[int, ...], dict[str, Any]]:
        entries = self._combined.get(engine)
        if entries is None:
            entries = OrderedDict()
            self._combined[engine] = entries
        return entries

    def clear(self, engine: Engine) -> None:
        """Forget every decoded section of ``engine``."""
        with self._lock:
            self._by_engine.pop(engine, None)
            self._combined.pop(engine, None)

    def combined(
        self,
        session: Session,
        combinations: Iterable[tuple[int, ...]],
        *,
        customer_id: int | None = None,
    ) -> dict[tuple[int, ...], dict[str, Any]]:
        """For each combination of section ids, every field of those sections in one dict.

        Treat the dicts as read-only: they are shared by every read that asks.
        """
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        wanted = set(combinations)
        found: dict[tuple[int, ...], dict[str, Any]] = {}
        with self._lock:
            entries = self._combinations(engine)
            for combination in wanted:
                hit = entries.get(combination)
                if hit is not None:
                    found[combination] = hit
        missing = [c for c in wanted if c not in found]
        if not missing:
            return found
        sections = self.load(session, {sid for c in missing for sid in c}, customer_id=customer_id)
        for combination in missing:
            merged: dict[str, Any] = {}
            for section_id in combination:
                merged.update(sections[section_id])
            found[combination] = merged
        with self._lock:
            entries = self._combinations(engine)
            for combination in missing:
                entries[combination] = found[combination]
            while len(entries) > self.combinations:
                entries.popitem(last=False)
        return found

    def load(
        self, session: Session, section_ids: Iterable[int], *, customer_id: int | None = None
    ) -> dict[int, dict[str, Any]]:
        """Decoded sections for ``section_ids``, reading only those not cached.

        With ``customer_id`` the read is limited to that tenant's sections.
        """
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
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        for start in range(0, len(missing), 50_000):
            chunk = missing[start : start + 50_000]
            parameters = {
                "ids": chunk if postgres else json.dumps(chunk),
                "customer_id": customer_id,
                "any_customer": customer_id is None,
            }
            rows = plain_rows(connection, _SECTION_QUERIES[postgres], parameters)
            for sid, kind, body in rows:
                found[sid] = decode_section(_SECTIONS_BY_VALUE[kind], body)
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
KNOWN_SECTIONS = "tidemark.known_sections"


def mark_sections_written(session: Session) -> None:
    """Note that this transaction inserted sections, so a rollback must clear the cache."""
    session.info[WROTE_SECTIONS] = True


def known_section_ids(session: Session, customer_id: int) -> dict[bytes, int]:
    """Section ids by digest that this transaction has already found or written.

    Lets the batches of one capture share their sections without looking them
    up again. Forgotten at commit and at any rollback, savepoints included,
    since a rolled-back insert may give its id to another row.
    """
    known: dict[int, dict[bytes, int]] = session.info.setdefault(KNOWN_SECTIONS, {})
    return known.setdefault(customer_id, {})


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(KNOWN_SECTIONS, None)
    if session.info.pop(WROTE_SECTIONS, False):
        bind = session.bind
        if isinstance(bind, Engine):
            SECTION_CACHE.clear(bind)


@event.listens_for(Session, "after_commit")
def _keep_after_commit(session: Session) -> None:
    session.info.pop(WROTE_SECTIONS, None)
    session.info.pop(KNOWN_SECTIONS, None)
