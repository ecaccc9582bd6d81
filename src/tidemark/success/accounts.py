"""Find, list and update a tenant's accounts, and write the events of their changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit, emit_each, revenue_change_significant
from tidemark.success.models import Account


def get(session: Session, *, customer_id: int, account_id: int, lock: bool = False) -> Account:
    """The tenant's account with this id; another tenant's id is NotFound.

    With ``lock`` the row stays locked until the transaction ends (PostgreSQL),
    so two writers of one account take turns instead of losing an update.
    """
    query = select(Account).where(
        Account.customer_id == customer_id, Account.account_id == account_id
    )
    if lock:
        query = query.with_for_update()
    account = session.execute(query).scalar_one_or_none()
    if account is None:
        raise NotFound("account", account_id)
    return account


def find(session: Session, *, customer_id: int, ref: str, where: str = "account") -> Account:
    """The tenant's account by id, else exact name, else case-insensitive name."""
    text = ref.strip()
    if not text:
        raise InvalidInput(where, "must not be empty")
    base = select(Account).where(Account.customer_id == customer_id)
    if text.isascii() and text.isdigit() and len(text) <= 18:
        by_id = session.execute(base.where(Account.account_id == int(text))).scalar_one_or_none()
        if by_id is not None:
            return by_id
    exact = session.execute(base.where(Account.account_name == text)).scalar_one_or_none()
    if exact is not None:
        return exact
    folded = list(
        session.execute(base.where(func.lower(Account.account_name) == text.lower()).limit(2))
        .scalars()
        .all()
    )
    if not folded and not text.isascii():
        # SQLite's lower() folds ASCII only, so compare the rest in Python.
        wanted = text.casefold()
        names = session.execute(
            select(Account.account_id, Account.account_name).where(
                Account.customer_id == customer_id
            )
        ).all()
        ids = [account_id for account_id, name in names if name.casefold() == wanted]
        folded = [session.get_one(Account, account_id) for account_id in ids[:2]]
    if len(folded) > 1:
        raise InvalidInput(where, f"{text!r} matches several accounts; give the exact name")
    if not folded:
        raise NotFound("account", text)
    return folded[0]


#: The lifecycle states of an account.
ACCOUNT_STATUSES: tuple[str, ...] = ("active", "inactive", "at_risk", "churn")
#: Columns of ``accounts`` an update may set.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account_name",
    "revenue",
    "industry",
    "region",
    "account_status",
    "external_account_id",
)
#: Text fields kept in ``profile_metadata``, with their longest allowed length.
PROFILE_TEXT: dict[str, int] = {
    "assigned_csm": 100,
    "csm_manager": 100,
    "account_owner": 100,
    "account_tier": 50,
    "primary_product": 100,
}
#: Every ``profile_metadata`` field an update may set.
PROFILE_FIELDS: tuple[str, ...] = (*PROFILE_TEXT, "products_used", "engagement", "champions")
ENGAGEMENT_TEXT: tuple[str, ...] = ("lifecycle_stage", "onboarding_status")
ENGAGEMENT_DATES: tuple[str, ...] = ("last_qbr_date", "next_qbr_date")
ENGAGEMENT_FIELDS: tuple[str, ...] = (*ENGAGEMENT_TEXT, *ENGAGEMENT_DATES, "score")
CHAMPION_FIELDS: tuple[str, ...] = ("name", "status", "title", "email", "role")
_REVENUE_LIMIT = Decimal(10) ** 13
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class AccountPage:
    """One page of accounts with the number that match."""

    items: list[Account]
    total: int
    limit: int
    offset: int


def list_accounts(
    session: Session,
    *,
    customer_id: int,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AccountPage:
    """The tenant's accounts by name, one page at a time, optionally of one status."""
    conditions = [Account.customer_id == customer_id]
    if status is not None:
        check_status(status)
        conditions.append(Account.account_status == status)
    total = session.execute(
        select(func.count()).select_from(Account).where(*conditions)
    ).scalar_one()
    items = (
        session.execute(
            select(Account)
            .where(*conditions)
            .order_by(Account.account_name, Account.account_id)
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return AccountPage(list(items), total, limit, offset)


def check_status(status: object, where: str = "account_status") -> str:
    """Raise InvalidInput unless ``status`` is one of the account statuses."""
    if status not in ACCOUNT_STATUSES:
        raise InvalidInput(where, f"expected one of {', '.join(ACCOUNT_STATUSES)}")
    return str(status)


def update(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> Account:
    """Change an account's columns and merge profile fields into its profile_metadata.

    ``changes`` holds only the fields to change; a profile field set to None is
    removed, ``engagement`` is merged key by key, ``champions`` and
    ``products_used`` are replaced whole. Every value is checked before anything
    changes; a name or external id another account of the tenant has is a Conflict.
    """
    account = get(session, customer_id=customer_id, account_id=account_id, lock=True)
    unknown = sorted(set(changes) - set(ACCOUNT_COLUMNS) - set(PROFILE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "is not a field of an account")
    columns = {
        name: _column_value(name, changes[name]) for name in ACCOUNT_COLUMNS if name in changes
    }
    profile = dict(account.profile_metadata or {})
    for name in PROFILE_FIELDS:
        if name in changes:
            _merge_profile(profile, name, changes[name])
    _check_unique(session, account, columns)
    current = dict(account.profile_metadata or {})
    change = AccountChange(
        account_id=account.account_id,
        fields=(
            *(name for name, value in columns.items() if getattr(account, name) != value),
            *changed_keys(current, profile),
        ),
        status=(account.account_status, columns.get("account_status", account.account_status)),
        revenue=(account.revenue, columns.get("revenue", account.revenue)),
    )
    for name, value in columns.items():
        setattr(account, name, value)
    if profile != current:
        account.profile_metadata = profile
    account.updated_at = now
    try:
        session.flush()
    except IntegrityError as error:
        # Another request took the name or external id between the check and the write.
        raise Conflict("account_name or external_account_id is already in use") from error
    if change.fields:
        emit_changes(session, customer_id=customer_id, changes=[change], at=now)
    return account


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What one write did to an account: the fields it changed, status and revenue before/after."""

    account_id: int
    #: Names of the changed columns and profile fields; empty for a created account.
    fields: tuple[str, ...] = ()
    created: bool = False
    status: tuple[str | None, str | None] = (None, None)
    revenue: tuple[Decimal | None, Decimal | None] = (None, None)


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs between two profiles (added and removed ones too)."""
    return sorted(key for key in {*before, *after} if before.get(key) != after.get(key))


def emit_changes(
    session: Session, *, customer_id: int, changes: Sequence[AccountChange], at: datetime
) -> None:
    """Write the events of changed accounts in the caller's transaction (seed 000 §4.1.B).

    Every account gets ``account_data_changed`` (its payload names the changed
    fields); one whose status moved also gets ``account_status_changed``, one
    whose revenue moved by more than 10 % also ``revenue_changed``, each with its
    from and to. At most one statement per event type, whatever the number of accounts.
    """
    created: list[int] = []
    updated: dict[int, dict[str, Any]] = {}
    status: dict[int, dict[str, Any]] = {}
    revenue: dict[int, dict[str, Any]] = {}
    for change in changes:
        if change.created:
            created.append(change.account_id)
            continue
        updated[change.account_id] = {"change": "updated", "fields": sorted(change.fields)}
        old_status, new_status = change.status
        if old_status != new_status:
            status[change.account_id] = {"from": old_status, "to": new_status}
        old_revenue, new_revenue = change.revenue
        if revenue_change_significant(old_revenue, new_revenue):
            revenue[change.account_id] = {"from": str(old_revenue), "to": str(new_revenue)}
    emit(
        session,
        customer_id=customer_id,
        event_type=EventType.ACCOUNT_DATA_CHANGED,
        account_ids=created,
        at=at,
        payload={"change": "created"},
    )
    for event_type, payloads in (
        (EventType.ACCOUNT_DATA_CHANGED, updated),
        (EventType.ACCOUNT_STATUS_CHANGED, status),
        (EventType.REVENUE_CHANGED, revenue),
    ):
        emit_each(session, customer_id=customer_id, event_type=event_type, payloads=payloads, at=at)


def _text(where: str, value: object, max_length: int, *, nullable: bool = True) -> str | None:
    if value is None:
        if not nullable:
            raise InvalidInput(where, "must not be null")
        return None
    if not isinstance(value, str):
        raise InvalidInput(where, "expected a string")
    text = value.strip()
    if not text:
        if not nullable:
            raise InvalidInput(where, "must not be empty")
        return None
    if len(text) > max_length:
        raise InvalidInput(where, f"at most {max_length} characters")
    if "\x00" in text:
        raise InvalidInput(where, "must not contain NUL characters")
    return text


def _column_value(name: str, value: object) -> Any:
    if name == "account_name":
        return _text(name, value, 255, nullable=False)
    if name in ("industry", "region"):
        return _text(name, value, 100)
    if name == "external_account_id":
        return _text(name, value, 100)
    if name == "account_status":
        if value is None:
            raise InvalidInput(name, "must not be null")
        return check_status(value)
    return _revenue(value)


def _revenue(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput("revenue", "expected a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput("revenue", "expected a number") from None
    if not number.is_finite():
        raise InvalidInput("revenue", "expected a finite number")
    if number < 0:
        raise InvalidInput("revenue", "must be 0 or more")
    if number >= _REVENUE_LIMIT:
        raise InvalidInput("revenue", "must be less than 10,000,000,000,000")
    if number != number.quantize(_CENT):
        raise InvalidInput("revenue", "at most two decimal places")
    return number.quantize(_CENT)


def _merge_profile(profile: dict[str, Any], name: str, value: object) -> None:
    if value is None:
        profile.pop(name, None)
        return
    if name in PROFILE_TEXT:
        text = _text(name, value, PROFILE_TEXT[name])
        if text is None:
            profile.pop(name, None)
        else:
            profile[name] = text
    elif name == "products_used":
        profile[name] = _products(value)
    elif name == "engagement":
        engagement = _engagement(dict(profile.get("engagement") or {}), value)
        if engagement:
            profile[name] = engagement
        else:
            profile.pop(name, None)
    else:
        profile[name] = _champions(value)


def _products(value: object) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput("products_used", "expected a list of product names")
    names: list[str] = []
    for i, item in enumerate(value):
        text = _text(f"products_used[{i}]", item, 100, nullable=False)
        assert text is not None
        if text not in names:
            names.append(text)
    return names


def _engagement(current: dict[str, Any], value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput("engagement", "expected an object")
    for key, item in value.items():
        where = f"engagement.{key}"
        if key not in ENGAGEMENT_FIELDS:
            raise InvalidInput(where, f"expected one of {', '.join(ENGAGEMENT_FIELDS)}")
        if item is None:
            current.pop(key, None)
        elif key in ENGAGEMENT_TEXT:
            current[key] = _text(where, item, 50)
        elif key in ENGAGEMENT_DATES:
            current[key] = _iso_date(where, item)
        else:
            current[key] = _engagement_score(where, item)
    return {key: item for key, item in current.items() if item is not None}


def _iso_date(where: str, value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise InvalidInput(where, "expected a date as YYYY-MM-DD")


def _engagement_score(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput(where, "expected a number from 0 to 100")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(where, "expected a number from 0 to 100") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(where, "expected a number from 0 to 100")
    # Stored as a JSON number, as profile uploads and imports write it.
    return float(number.quantize(_CENT))


def _champions(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise InvalidInput("champions", "expected a list of champions")
    champions: list[dict[str, str]] = []
    for i, item in enumerate(value):
        where = f"champions[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise InvalidInput(where, "expected an object with a name")
        champion: dict[str, str] = {}
        for key, text in item.items():
            if key not in CHAMPION_FIELDS:
                raise InvalidInput(
                    f"{where}.{key}", f"expected one of {', '.join(CHAMPION_FIELDS)}"
                )
            clean = _text(f"{where}.{key}", text, 100, nullable=key != "name")
            if clean is not None:
                champion[str(key)] = clean
        if "name" not in champion:
            raise InvalidInput(f"{where}.name", "is required")
        champions.append(champion)
    return champions


def _check_unique(session: Session, account: Account, columns: Mapping[str, Any]) -> None:
    for name, column in (
        ("account_name", Account.account_name),
        ("external_account_id", Account.external_account_id),
    ):
        value = columns.get(name)
        if value is None or value == getattr(account, name):
            continue
        taken = session.execute(
            select(Account.account_id).where(
                Account.customer_id == account.customer_id,
                column == value,
                Account.account_id != account.account_id,
            )
        ).first()
        if taken is not None:
            raise Conflict(f"{name} {value!r} is already used by account {taken[0]}")
