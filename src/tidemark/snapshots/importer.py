"""Import account-snapshot history from another tool: one JSON object per line.

Every line is read and checked before anything is written, so one bad line fails
the whole import and names itself, and the caller's rollback leaves nothing.
Accounts are matched by external id, then by name, and created when missing.
Snapshots then go through ``writer.write_snapshots`` in time order per account,
so sequence, changes, trend and days since last come out as if each snapshot
had been captured live at its timestamp. The file format is in ``docs/IMPORT.md``.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.clock import ensure_utc
from tidemark.errors import Conflict, InvalidInput
from tidemark.snapshots.fields import FIELD_BY_NAME, FieldSpec, Kind
from tidemark.snapshots.writer import PendingSnapshot, load_heads, write_snapshots
from tidemark.success.models import Account
from tidemark.tenancy import service as tenants

log = logging.getLogger(__name__)

#: The snapshot type every imported snapshot gets.
SNAPSHOT_TYPE = "imported"
#: Longest accepted line, in UTF-8 bytes without its line break.
MAX_LINE_BYTES = 1 << 20
#: Snapshots handed to the writer per call; bounds the memory of the write phase.
WRITE_BATCH = 5000

_MAX_INT = 2**31 - 1
_MAX_ID = 2**63 - 1
_MAX_DEPTH = 32
_CHUNK = 5000
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SCORES = frozenset(
    spec.name
    for spec in FIELD_BY_NAME.values()
    if spec.kind is Kind.DECIMAL and spec.name.endswith("_score")
)
#: List fields whose count field defaults to the list's length.
_COUNTED_LISTS = {"products_used": "product_count", "playbooks_running": "playbooks_running_count"}
_HEADER_TEXT = ("snapshot_reason", "trigger_event")
_IMPORTABLE = {spec.name: spec for spec in FIELD_BY_NAME.values() if spec.importable}


class FieldError(ValueError):
    """A value that does not fit its field; the caller adds the line and field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote: snapshot ids in file order, accounts created and matched."""

    snapshot_ids: list[int]
    accounts_created: int
    accounts_matched: int
    #: Lines read, blank ones included (the number of the last line).
    lines: int


@dataclass(slots=True)
class ImportLine:
    """One checked line of a history file: which account, when, and its field values."""

    number: int
    at: datetime
    external_id: str | None
    name: str | None
    #: Names of the snapshot fields the line gives, and their parsed values in the
    #: same order: two tuples (the names shared by lines alike) take far less
    #: memory than a dict per line when a file holds hundreds of thousands.
    names: tuple[str, ...]
    data: tuple[Any, ...]
    reason: str | None = None
    trigger_event: str | None = None

    @property
    def values(self) -> dict[str, Any]:
        """The parsed values of the snapshot fields the line gives (absent means null)."""
        return dict(zip(self.names, self.data, strict=True))


class _Pool:
    """Equal text values and field-name tuples of one import, stored once."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.names: dict[tuple[str, ...], tuple[str, ...]] = {}


# --------------------------------------------------------------------------- values


def _json_type(raw: Any) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true/false"
    if isinstance(raw, int | float | Decimal):
        return "a number"
    if isinstance(raw, str):
        return "text"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    return type(raw).__name__


def _check_text(text: str) -> None:
    # PostgreSQL cannot store NUL in text, and a lone surrogate (also what
    # undecodable bytes become when the file is read) cannot be encoded at all.
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise FieldError("text must not contain NUL characters")
    raise FieldError("text is not valid UTF-8")


def _decimal(spec: FieldSpec, raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise FieldError("expected a number, got true/false")
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int):
        number = Decimal(raw)
    elif isinstance(raw, float):
        number = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = raw.strip()
        if not _NUMBER.fullmatch(text):
            raise FieldError(f"expected a number, got {_show(raw)}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise FieldError(f"{_show(raw)} is too large") from None
    else:
        raise FieldError(f"expected a number, got {_json_type(raw)}")
    if not number.is_finite():
        raise FieldError("expected a finite number")
    whole_digits = spec.precision - spec.scale
    limit = Decimal(10) ** whole_digits
    quantum = Decimal(1).scaleb(-spec.scale)
    if number.is_zero():
        return Decimal(0).quantize(quantum)
    if number.adjusted() >= whole_digits:
        raise FieldError(f"at most {whole_digits} digits before the decimal point")
    exact = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if abs(exact) >= limit:
        raise FieldError(f"at most {whole_digits} digits before the decimal point")
    if exact.is_zero():
        # Rounding can leave -0.00, which would hash differently from 0.00.
        return Decimal(0).quantize(quantum)
    if spec.name in _SCORES and not 0 <= exact <= 100:
        raise FieldError("a score must be between 0 and 100")
    if exact < 0:
        raise FieldError("must not be negative")
    return exact


def _integer(raw: Any, *, minimum: int, maximum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise FieldError(f"expected a whole number, got {_json_type(raw)}")
    if not isinstance(raw, int):
        number = Decimal(repr(raw)) if isinstance(raw, float) else raw
        if not number.is_finite():
            raise FieldError("expected a finite number")
        if number.adjusted() > 20:
            raise FieldError(f"must be at most {maximum}" if number > 0 else "must not be negative")
        if number != number.to_integral_value():
            raise FieldError(f"expected a whole number, got {number}")
        raw = int(number)
    if raw < minimum:
        raise FieldError("must not be negative" if minimum == 0 else f"must be at least {minimum}")
    if raw > maximum:
        raise FieldError(f"must be at most {maximum}")
    return int(raw)


def _plain_json(raw: Any, depth: int = 0) -> Any:
    """A JSON value as the section encoder can store it: numbers as int or float."""
    if depth > _MAX_DEPTH:
        raise FieldError(f"nested more than {_MAX_DEPTH} levels deep")
    if isinstance(raw, Decimal):
        number = float(raw)
        if not math.isfinite(number):
            raise FieldError(
                "a number is too large" if raw.is_finite() else "expected a finite number"
            )
        return number
    if isinstance(raw, str):
        _check_text(raw)
        return raw
    if isinstance(raw, list):
        return [_plain_json(item, depth + 1) for item in raw]
    if isinstance(raw, dict):
        for key in raw:
            _check_text(key)
        return {key: _plain_json(value, depth + 1) for key, value in raw.items()}
    if isinstance(raw, float) and not math.isfinite(raw):
        raise FieldError("expected a finite number")
    return raw


def _json_field(spec: FieldSpec, raw: Any) -> Any:
    if spec.name == "top_critical_kpis" and not (
        isinstance(raw, list) and all(isinstance(item, dict) for item in raw)
    ):
        raise FieldError(f"expected a list of objects, got {_json_type(raw)}")
    if spec.name == "last_playbook_executed" and not isinstance(raw, dict):
        raise FieldError(f"expected an object, got {_json_type(raw)}")
    return _plain_json(raw)


def _text(spec: FieldSpec, raw: Any) -> str | None:
    if not isinstance(raw, str):
        raise FieldError(f"expected text, got {_json_type(raw)}")
    _check_text(raw)
    # Exports often pad cells; "Acme " must match and create the same account as "Acme".
    text = raw.strip()
    if not text:
        return None
    if spec.max_length and len(text) > spec.max_length:
        raise FieldError(f"at most {spec.max_length} characters (got {len(text)})")
    return text


def _bool(spec: FieldSpec, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise FieldError(f"expected true or false, got {_json_type(raw)}")
    return raw


def _date(spec: FieldSpec, raw: Any) -> date:
    if not isinstance(raw, str):
        raise FieldError(f"expected a date like 2025-01-31, got {_json_type(raw)}")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise FieldError(f"expected a date like 2025-01-31, got {_show(raw)}") from None


def _text_list(spec: FieldSpec, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise FieldError(f"expected a list of text, got {_json_type(raw)}")
    for item in raw:
        _check_text(item)
    return raw


def _id_list(spec: FieldSpec, raw: Any) -> list[int]:
    if not isinstance(raw, list):
        raise FieldError(f"expected a list of ids, got {_json_type(raw)}")
    return [_integer(item, minimum=1, maximum=_MAX_ID) for item in raw]


_PARSERS: dict[Kind, Callable[[FieldSpec, Any], Any]] = {
    Kind.DECIMAL: _decimal,
    Kind.INT: lambda spec, raw: _integer(raw, minimum=0, maximum=_MAX_INT),
    Kind.TEXT: _text,
    Kind.BOOL: _bool,
    Kind.DATE: _date,
    Kind.DATETIME: lambda spec, raw: _timestamp(raw),
    Kind.TEXT_LIST: _text_list,
    Kind.INT_LIST: _id_list,
    Kind.JSON: _json_field,
}


def parse_value(spec: FieldSpec, raw: Any) -> Any:
    """The stored value of one field from its JSON form; FieldError when it does not fit.

    ``None`` (JSON null) means the value is absent. Decimal numbers are best
    given already as ``Decimal`` (``json.loads(..., parse_float=Decimal)``) so
    that no digits are lost on the way.
    """
    if raw is None:
        return None
    return _PARSERS[spec.kind](spec, raw)


def _timestamp(raw: Any) -> datetime:
    hint = "expected an ISO 8601 timestamp like 2025-01-31T09:30:00Z"
    if not isinstance(raw, str):
        raise FieldError(f"{hint}, got {_json_type(raw)}")
    try:
        return ensure_utc(datetime.fromisoformat(raw.strip()))
    except (ValueError, OverflowError):
        raise FieldError(f"{hint}, got {_show(raw)}") from None


def _show(raw: str, limit: int = 60) -> str:
    """A short, one-line rendering of text for an error message."""
    shown = repr(raw)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


# --------------------------------------------------------------------------- lines


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# One decoder for every line: building one per call costs more than decoding a short line.
_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_no_constants, object_pairs_hook=_unique_keys
)


def _check_length(body: str, number: int) -> None:
    # len() is free and a character is at least one byte; encode only when the
    # character count alone cannot decide.
    too_long = len(body) > MAX_LINE_BYTES or (
        len(body) * 4 > MAX_LINE_BYTES
        and len(body.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES
    )
    if too_long:
        raise InvalidInput(f"line {number}", "line is longer than 1 MB")


def parse_line(
    text: str, number: int, *, now: datetime, pool: _Pool | None = None
) -> ImportLine | None:
    """Check one line of a history file; None for a blank line, InvalidInput when it is bad.

    Text values are shared through ``pool`` when one is given: a history repeats
    the same names, regions and CSMs on line after line.
    """
    body = text.rstrip("\r\n")
    if number == 1:
        body = body.removeprefix("\ufeff")
    _check_length(body, number)
    if not body.strip():
        return None
    where = f"line {number}"
    try:
        raw = _DECODER.decode(body)
    except _DuplicateKey as exc:
        raise InvalidInput(where, f"key {_show(exc.key)} appears twice in one object") from None
    except RecursionError:
        raise InvalidInput(where, "not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(where, f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except ArithmeticError:
        # decimal.InvalidOperation: an exponent beyond what Decimal can hold.
        raise InvalidInput(where, "not valid JSON: a number is out of range") from None
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits with a long hint.
        detail = "a number has too many digits" if "4300" in str(exc) else str(exc)
        raise InvalidInput(where, f"not valid JSON: {detail}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(where, f"expected a JSON object, got {_json_type(raw)}")
    return _line_from_object(raw, number, ensure_utc(now), pool or _Pool())


def _unknown_field(key: str) -> str:
    close = difflib.get_close_matches(key, [*FIELD_BY_NAME, "snapshot_type"], n=1)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"


def _refuse_key(key: str, raw: Any, number: int) -> None:
    """Raise the error for a key that is not an importable field (or a harmless snapshot_type)."""
    if key == "snapshot_type":
        if raw == SNAPSHOT_TYPE:
            return
        raise InvalidInput(
            f"line {number}, field snapshot_type", f'must be "{SNAPSHOT_TYPE}" or left out'
        )
    if key in FIELD_BY_NAME:
        raise InvalidInput(
            f"line {number}, field {key}", "is set by Tidemark and cannot be imported"
        )
    raise InvalidInput(f"line {number}, field {_show(key)}", _unknown_field(key))


def _line_from_object(obj: dict[str, Any], number: int, now: datetime, pool: _Pool) -> ImportLine:
    values: dict[str, Any] = {}
    header: dict[str, Any] = {}
    at: datetime | None = None
    for key, raw in obj.items():
        spec = _IMPORTABLE.get(key)
        if spec is None:
            _refuse_key(key, raw, number)
            continue
        if raw is None:
            continue
        try:
            value = _PARSERS[spec.kind](spec, raw)
            if key == "snapshot_timestamp" and value > now:
                raise FieldError(f"{value.isoformat()} is in the future (now is {now.isoformat()})")
        except FieldError as exc:
            raise InvalidInput(f"line {number}, field {key}", exc.message) from None
        if value is None:
            continue
        if spec.kind is Kind.TEXT:
            value = pool.texts.setdefault(value, value)
        elif spec.kind is Kind.TEXT_LIST:
            value = [pool.texts.setdefault(item, item) for item in value]
        if key == "snapshot_timestamp":
            at = value
        elif key in _HEADER_TEXT:
            header[spec.name] = value
        else:
            values[spec.name] = value
    if at is None:
        raise InvalidInput(f"line {number}, field snapshot_timestamp", "is required")
    name = values.get("account_name")
    external_id = values.get("external_account_id")
    if name is None and external_id is None:
        raise InvalidInput(
            f"line {number}", "needs account_name or external_account_id to find its account"
        )
    for list_name, count_name in _COUNTED_LISTS.items():
        if list_name in values and count_name not in values:
            values[count_name] = len(values[list_name])
    return ImportLine(
        number=number,
        at=at,
        external_id=external_id,
        name=name,
        names=pool.names.setdefault(tuple(values), tuple(values)),
        data=tuple(values.values()),
        reason=header.get("snapshot_reason"),
        trigger_event=header.get("trigger_event"),
    )


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a history file, read lazily as UTF-8.

    An over-long line is yielded cut at the limit (the import refuses it by
    length) and the rest of it is skipped unread, so a huge line never sits in
    memory whole. Bytes that are not UTF-8 are passed on as surrogate escapes,
    which the import reports with the exact line number.
    """
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        while piece := handle.readline(MAX_LINE_BYTES + 2):
            yield piece
            if len(piece) > MAX_LINE_BYTES + 1 and not piece.endswith("\n"):
                while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith("\n"):
                    pass


def _read_all(lines: Iterable[str], now: datetime) -> tuple[list[ImportLine], int]:
    parsed: list[ImportLine] = []
    pool = _Pool()
    number = 0
    iterator = iter(lines)
    while True:
        try:
            text = next(iterator)
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise InvalidInput(f"line {number + 1}", "the file is not UTF-8 text") from None
        number += 1
        line = parse_line(text, number, now=now, pool=pool)
        if line is not None:
            parsed.append(line)
    return parsed, number


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class _Known:
    account_id: int
    name: str
    external_id: str | None


@dataclass(slots=True)
class _Target:
    """The lines of one account, and which account: a stored one or one to create."""

    lines: list[ImportLine] = field(default_factory=list)
    known: _Known | None = None
    name: str = ""
    external_id: str | None = None
    account_id: int = 0


class _Directory:
    """The tenant's accounts that a file's external ids and names can match."""

    def __init__(self, session: Session, customer_id: int, lines: Sequence[ImportLine]) -> None:
        exts = sorted({line.external_id for line in lines if line.external_id is not None})
        names = sorted({line.name for line in lines if line.name is not None})
        base = select(Account.account_id, Account.account_name, Account.external_account_id).where(
            Account.customer_id == customer_id
        )
        self.by_ext: dict[str, _Known] = {}
        for start in range(0, len(exts), _CHUNK):
            query = base.where(Account.external_account_id.in_(exts[start : start + _CHUNK]))
            for account_id, name, ext in session.execute(query):
                self.by_ext[str(ext)] = _Known(account_id, name, ext)
        self.by_name: dict[str, _Known] = {}
        for start in range(0, len(names), _CHUNK):
            query = base.where(Account.account_name.in_(names[start : start + _CHUNK]))
            for account_id, name, ext in session.execute(query):
                self.by_name[name] = _Known(account_id, name, ext)
        # Case-insensitive matching is done here rather than with SQL lower(),
        # which folds only ASCII letters on SQLite; streamed, so a large tenant
        # costs time but not memory, and only when some name has no exact match.
        folds = {name.casefold() for name in names if name not in self.by_name}
        self.by_fold: dict[str, list[_Known]] = {}
        if folds:
            rows = session.execute(base.execution_options(yield_per=10_000))
            for account_id, name, ext in rows:
                if name.casefold() in folds:
                    self.by_fold.setdefault(name.casefold(), []).append(
                        _Known(account_id, name, ext)
                    )

    def match(self, line: ImportLine) -> _Known | None:
        """The stored account a line names: by external id, then exact name, then any case."""
        if line.external_id is not None and line.external_id in self.by_ext:
            return self.by_ext[line.external_id]
        if line.name is None:
            return None
        known = self.by_name.get(line.name)
        if known is None:
            candidates = self.by_fold.get(line.name.casefold(), [])
            if len(candidates) > 1:
                listed = ", ".join(sorted(repr(c.name) for c in candidates))
                raise InvalidInput(
                    f"line {line.number}, field account_name",
                    f"{_show(line.name)} matches several accounts when case is ignored: {listed}",
                )
            known = candidates[0] if candidates else None
        if (
            known is not None
            and line.external_id is not None
            and known.external_id is not None
            and known.external_id != line.external_id
        ):
            raise InvalidInput(
                f"line {line.number}, field external_account_id",
                f"{_show(line.external_id)} does not match account {_show(known.name)}, "
                f"whose external id is {_show(known.external_id)}",
            )
        return known


class _Links:
    """Union-find over a file's external ids and names: lines that share one are one account."""

    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, node: tuple[str, str]) -> tuple[str, str]:
        parent = self.parent.setdefault(node, node)
        while parent != node:
            grand = self.parent[parent]
            self.parent[node] = grand
            node, parent = parent, grand
        return node

    def union(self, nodes: list[tuple[str, str]]) -> tuple[str, str]:
        root = self.find(nodes[0])
        for node in nodes[1:]:
            other = self.find(node)
            if other != root:
                self.parent[other] = root
        return root


def _plan(session: Session, customer_id: int, lines: list[ImportLine]) -> list[_Target]:
    """Group the lines by account, matching stored accounts and naming the ones to create."""
    directory = _Directory(session, customer_id, lines)
    matched: list[_Known | None] = [directory.match(line) for line in lines]

    links = _Links()
    roots: list[tuple[str, str]] = []
    for line, known in zip(lines, matched, strict=True):
        nodes: list[tuple[str, str]] = []
        if line.external_id is not None:
            nodes.append(("ext", line.external_id))
        if line.name is not None:
            # A name that is some account's exact name stays apart from other
            # spellings, so "Acme" and "ACME" can be two stored accounts.
            exact_match = directory.by_name.get(line.name)
            exact = exact_match is not None and known == exact_match
            nodes.append(("name", line.name) if exact else ("fold", line.name.casefold()))
        roots.append(links.union(nodes))

    components: dict[tuple[str, str], list[int]] = {}
    for index, root in enumerate(roots):
        components.setdefault(links.find(root), []).append(index)

    targets: dict[object, _Target] = {}
    for indexes in components.values():
        stored: dict[int, int] = {}
        for index in indexes:
            known = matched[index]
            if known is not None:
                stored.setdefault(known.account_id, index)
        if len(stored) > 1:
            first, second = sorted(stored.values())[:2]
            a, b = matched[first], matched[second]
            assert a is not None and b is not None
            raise InvalidInput(
                f"line {lines[second].number}",
                f"matches account {_show(b.name)}, but shares an external id or name with "
                f"line {lines[first].number}, which matches account {_show(a.name)}",
            )
        if stored:
            known = matched[next(iter(stored.values()))]
            assert known is not None
            key: object = known.account_id
            target = targets.setdefault(key, _Target(known=known))
        else:
            key = ("new", indexes[0])
            target = targets.setdefault(key, _Target())
        target.lines.extend(lines[index] for index in indexes)

    ordered = sorted(targets.values(), key=lambda t: min(line.number for line in t.lines))
    for target in ordered:
        _settle(target)
    return ordered


def _settle(target: _Target) -> None:
    """Sort a target's lines by time and check them as one account's history."""
    target.lines.sort(key=lambda line: (line.at, line.number))
    for earlier, later in zip(target.lines, target.lines[1:], strict=False):
        if earlier.at == later.at:
            first, second = sorted((earlier.number, later.number))
            raise InvalidInput(
                f"line {second}, field snapshot_timestamp",
                f"line {first} has a snapshot of the same account at {later.at.isoformat()}",
            )
    ext_lines: dict[str, int] = {}
    for line in sorted(target.lines, key=lambda line: line.number):
        if line.external_id is not None:
            ext_lines.setdefault(line.external_id, line.number)
    if len(ext_lines) > 1:
        (ext_a, line_a), (ext_b, line_b) = sorted(ext_lines.items(), key=lambda kv: kv[1])[:2]
        raise InvalidInput(
            f"line {line_b}, field external_account_id",
            f"{_show(ext_b)} differs from {_show(ext_a)} on line {line_a}, "
            "which names the same account",
        )
    if target.known is not None:
        target.name = target.known.name
        target.external_id = target.known.external_id
        target.account_id = target.known.account_id
        return
    named = [line for line in target.lines if line.name is not None]
    if not named:
        oldest = min(target.lines, key=lambda line: line.number)
        raise InvalidInput(
            f"line {oldest.number}, field account_name",
            f"is needed to create an account: no account has external id "
            f"{_show(oldest.external_id or '')}",
        )
    target.name = named[-1].name or ""
    target.external_id = next(iter(ext_lines), None)


def _check_heads(session: Session, customer_id: int, targets: Sequence[_Target]) -> None:
    """Refuse lines at or before the newest snapshot a stored account already has."""
    ids = sorted(t.account_id for t in targets if t.known is not None)
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Lock the accounts as capture does, so no capture slips in between this
        # check and the write.
        for start in range(0, len(ids), _CHUNK):
            session.execute(
                select(Account.account_id)
                .where(
                    Account.customer_id == customer_id,
                    Account.account_id.in_(ids[start : start + _CHUNK]),
                )
                .order_by(Account.account_id)
                .with_for_update()
            ).all()
    heads = load_heads(session, customer_id, ids)
    for target in targets:
        head = heads.get(target.account_id) if target.known is not None else None
        if head is None:
            continue
        late = [line for line in target.lines if line.at <= head.snapshot_timestamp]
        if late:
            line = min(late, key=lambda item: item.number)
            raise InvalidInput(
                f"line {line.number}, field snapshot_timestamp",
                f"account {_show(target.name)} already has snapshots up to "
                f"{head.snapshot_timestamp.isoformat()}; only newer history can be imported",
            )


def _profile_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """An account's profile_metadata from one line, in the shape capture reads."""
    meta: dict[str, Any] = {
        name: values[name]
        for name in (
            "account_tier",
            "assigned_csm",
            "csm_manager",
            "account_owner",
            "products_used",
            "primary_product",
        )
        if values.get(name) is not None
    }
    engagement: dict[str, Any] = {
        key: values[name]
        for key, name in (
            ("lifecycle_stage", "lifecycle_stage"),
            ("onboarding_status", "onboarding_status"),
        )
        if values.get(name) is not None
    }
    for key in ("last_qbr_date", "next_qbr_date"):
        if values.get(key) is not None:
            engagement[key] = values[key].isoformat()
    if values.get("engagement_score") is not None:
        engagement["score"] = float(values["engagement_score"])
    if engagement:
        meta["engagement"] = engagement
    if values.get("primary_champion") is not None:
        champion = {"name": values["primary_champion"]}
        if values.get("champion_status") is not None:
            champion["status"] = values["champion_status"]
        meta["champions"] = [champion]
    return meta


def _create_accounts(
    session: Session, customer_id: int, targets: Sequence[_Target], now: datetime
) -> int:
    """Insert the accounts no stored one matched, with the fields of their newest line."""
    created: list[tuple[_Target, Account]] = []
    for target in targets:
        if target.known is not None:
            continue
        newest = target.lines[-1].values
        created.append(
            (
                target,
                Account(
                    customer_id=customer_id,
                    account_name=target.name,
                    revenue=newest.get("revenue"),
                    industry=newest.get("industry"),
                    region=newest.get("region"),
                    account_status=newest.get("account_status") or "active",
                    external_account_id=target.external_id,
                    profile_metadata=_profile_metadata(newest),
                    created_at=now,
                ),
            )
        )
    session.add_all(account for _, account in created)
    try:
        session.flush()
    except IntegrityError:
        # Only a concurrent writer can get here: every name and external id was
        # looked up a moment ago and none of these matched.
        raise Conflict(
            "an account with one of the imported names or external ids was created "
            "during the import; run it again"
        ) from None
    for target, account in created:
        target.account_id = account.account_id
    return len(created)


# --------------------------------------------------------------------------- writing


def _conflict_at(
    session: Session, customer_id: int, batch: Sequence[PendingSnapshot], numbers: Sequence[int]
) -> InvalidInput:
    """Name the line the writer refused: the first one older than its account's latest."""
    latest = {
        account_id: head.snapshot_timestamp
        for account_id, head in load_heads(
            session, customer_id, [item.account_id for item in batch]
        ).items()
    }
    for item, number in zip(batch, numbers, strict=True):
        at = ensure_utc(item.at)
        previous = latest.get(item.account_id)
        if previous is not None and at < previous:
            return InvalidInput(
                f"line {number}, field snapshot_timestamp",
                f"is before the account's latest snapshot at {previous.isoformat()}; "
                "only newer history can be imported",
            )
        latest[item.account_id] = at
    return InvalidInput(f"line {numbers[0]}", "the account's history changed during the import")


def _write(
    session: Session,
    customer_id: int,
    targets: list[_Target],
    now: datetime,
    progress: Callable[[int], object] | None,
) -> list[int]:
    """Write every target's lines oldest first, WRITE_BATCH at a time; ids in file order."""
    ids_by_line: list[tuple[int, int]] = []
    batch: list[PendingSnapshot] = []
    numbers: list[int] = []

    def flush() -> None:
        try:
            written = write_snapshots(session, customer_id=customer_id, pending=batch)
        except Conflict:
            raise _conflict_at(session, customer_id, batch, numbers) from None
        ids_by_line.extend(zip(numbers, written.snapshot_ids, strict=True))
        if progress is not None:
            progress(len(batch))
        batch.clear()
        numbers.clear()

    for target in targets:
        identity = {"account_name": target.name, "external_account_id": target.external_id}
        # Lines are let go as they are queued, so the parsed file shrinks while it is written.
        lines, target.lines = target.lines, []
        for line in lines:
            values = {**identity, **line.values}
            batch.append(
                PendingSnapshot(
                    account_id=target.account_id,
                    at=line.at,
                    snapshot_type=SNAPSHOT_TYPE,
                    values=values,
                    reason=line.reason,
                    trigger_event=line.trigger_event,
                    recorded_at=now,
                )
            )
            numbers.append(line.number)
            if len(batch) >= WRITE_BATCH:
                flush()
    if batch:
        flush()
    ids_by_line.sort()
    return [snapshot_id for _, snapshot_id in ids_by_line]


def import_snapshots(
    session: Session,
    *,
    customer_id: int,
    lines: Iterable[str],
    now: datetime,
    progress: Callable[[int], object] | None = None,
) -> ImportResult:
    """Import a tenant's snapshot history from JSON lines; every line is checked first.

    Raises InvalidInput naming the line (and field) of the first problem before
    anything is written; NotFound for an unknown customer. ``progress`` is
    called with the number of snapshots in each written batch. Does not commit.
    """
    now = ensure_utc(now)
    tenants.get(session, customer_id=customer_id)
    parsed, line_count = _read_all(lines, now)
    targets = _plan(session, customer_id, parsed)
    del parsed
    _check_heads(session, customer_id, targets)
    matched = sum(1 for target in targets if target.known is not None)
    created = _create_accounts(session, customer_id, targets, now)
    snapshot_ids = _write(session, customer_id, targets, now, progress)
    log.info(
        "Imported %d snapshots for %d accounts (%d created) from %d lines",
        len(snapshot_ids),
        len(targets),
        created,
        line_count,
    )
    return ImportResult(
        snapshot_ids=snapshot_ids,
        accounts_created=created,
        accounts_matched=matched,
        lines=line_count,
    )
