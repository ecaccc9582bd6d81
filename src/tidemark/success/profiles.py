"""Customer profile upload: CRM fields of many accounts from one CSV, XLSX or JSON file.

Each row names an account by external id or name (external id first) and
carries any of its profile fields. A field left empty (or absent, or null in
JSON) keeps its stored value; a given one replaces it. Columns of ``accounts``
(revenue, industry, region, status, external id, name) are updated in place;
the rest is merged into ``profile_metadata`` in the shape snapshots read
(``engagement`` key by key; ``champions`` and ``products_used`` whole).
Products named in ``products_used`` that the account lacks are created, so
snapshots, which list an account's products, show them. Accounts no row
matches are created. All rows are checked before anything is written; the
events of the changed accounts (``account_data_changed``, and status and
revenue changes) are written with them, in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput
from tidemark.success.accounts import (
    ACCOUNT_STATUSES,
    CHAMPION_FIELDS,
    PROFILE_TEXT,
    AccountChange,
    changed_keys,
    emit_changes,
)
from tidemark.success.files import (
    CSV,
    JSON,
    MAX_ROWS,
    XLSX,
    CellError,
    CellValue,
    Columns,
    Sheet,
    canonical,
    number_cell,
    raise_if_errors,
    read_table,
    text_cell,
)
from tidemark.success.models import Account, Product
from tidemark.success.uploads import (
    AccountDirectory,
    StoredAccount,
    bulk_update,
    chunks,
    fold,
    lock_tenant,
    table_of,
)
from tidemark.success.values import plain

PROFILE_COLUMNS: Final = Columns(
    known=(
        "account_name",
        "external_account_id",
        "revenue",
        "industry",
        "region",
        "account_status",
        "assigned_csm",
        "csm_manager",
        "account_owner",
        "account_tier",
        "primary_product",
        "products_used",
        "lifecycle_stage",
        "onboarding_status",
        "last_qbr_date",
        "next_qbr_date",
        "engagement_score",
        "champions",
    ),
    aliases={
        "account": "account_name",
        "account_id": "external_account_id",
        "external_id": "external_account_id",
        "status": "account_status",
        "csm": "assigned_csm",
        "tier": "account_tier",
        "products": "products_used",
        "owner": "account_owner",
    },
)
ENGAGEMENT: Final[dict[str, str]] = {
    "lifecycle_stage": "lifecycle_stage",
    "onboarding_status": "onboarding_status",
    "last_qbr_date": "last_qbr_date",
    "next_qbr_date": "next_qbr_date",
    "engagement_score": "score",
}
#: Revenue is numeric(15, 2).
MAX_REVENUE: Final = Decimal(10) ** 13
_CENT: Final = Decimal("0.01")
_CHAMPION: Final = re.compile(r"^(?P<name>.*?)\s*\((?P<status>[^()]*)\)\s*$")
_LIST_SPLIT: Final = re.compile(r"[;,]")


@dataclass(slots=True)
class ProfileRow:
    """One checked row: the account it names and the fields it sets."""

    number: int
    name: str | None
    external_id: str | None
    columns: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    engagement: dict[str, Any] = field(default_factory=dict)
    stored: StoredAccount | None = None


@dataclass(slots=True)
class ProfileUploadResult:
    """What a profile upload wrote."""

    rows: int
    accounts_created: int
    accounts_updated: int
    accounts_unchanged: int
    products_created: int
    #: Accounts created or changed, for the event of a later snapshot.
    account_ids: list[int] = field(default_factory=list)


def upload_profiles(
    session: Session,
    *,
    customer_id: int,
    filename: str,
    content: bytes,
    now: datetime,
    max_rows: int = MAX_ROWS,
) -> ProfileUploadResult:
    """Update (or create) the accounts a profile file lists; all rows or none."""
    sheet = read_table(
        content, filename, PROFILE_COLUMNS, allowed=(CSV, XLSX, JSON), max_rows=max_rows
    )
    if not (sheet.has("account_name") or sheet.has("external_account_id")):
        raise InvalidInput("header", "missing required column: account_name or external_account_id")
    errors: list[dict[str, Any]] = []
    rows = [
        row
        for number, cells in zip(sheet.numbers, sheet.rows, strict=True)
        if (row := _parse(sheet, number, cells, errors)) is not None
    ]
    directory = AccountDirectory(
        session,
        customer_id,
        names=(r.name for r in rows if r.name is not None),
        external_ids=(r.external_id for r in rows if r.external_id is not None),
    )
    _match(sheet, rows, directory, errors)
    raise_if_errors(errors)

    matched = sum(1 for r in rows if r.stored is not None)
    lock_tenant(session, customer_id)
    try:
        created_ids = _create(session, customer_id, [r for r in rows if r.stored is None], now)
        updated = _update(session, customer_id, [r for r in rows if r.stored is not None], now)
        products = _add_products(session, customer_id, rows, now)
    except IntegrityError:
        raise Conflict(
            "accounts of this file were changed by another request at the same time; "
            "upload the file again"
        ) from None
    changes = [AccountChange(account_id, created=True) for account_id in created_ids]
    changes.extend(updated)
    # Snapshots list an account's products: new products change an otherwise unchanged account.
    seen = {change.account_id for change in changes}
    changes.extend(
        AccountChange(account_id, fields=("products",))
        for account_id in sorted(set(products) - seen)
    )
    emit_changes(session, customer_id=customer_id, changes=changes, at=now)
    return ProfileUploadResult(
        rows=len(rows),
        accounts_created=len(created_ids),
        accounts_updated=len(updated),
        accounts_unchanged=matched - len(updated),
        products_created=sum(products.values()),
        account_ids=sorted(change.account_id for change in changes),
    )


# --------------------------------------------------------------------------- cells


def _parse(
    sheet: Sheet, number: int, cells: tuple[CellValue, ...], errors: list[dict[str, Any]]
) -> ProfileRow | None:
    values = dict(zip(sheet.columns, cells, strict=True))
    row = ProfileRow(number, None, None)
    failed = False
    for column, cell in values.items():
        try:
            _set(row, column, cell)
        except CellError as exc:
            errors.append(sheet.error(number, column, str(exc)))
            failed = True
    if row.name is None and row.external_id is None and not failed:
        errors.append(
            sheet.error(
                number, "account_name", "is empty: give account_name or external_account_id"
            )
        )
        failed = True
    return None if failed else row


def _set(row: ProfileRow, column: str, cell: CellValue) -> None:
    if column == "account_name":
        row.name = text_cell(cell, 255)
    elif column == "external_account_id":
        row.external_id = text_cell(cell, 100)
    elif column == "revenue":
        _put(row.columns, column, _revenue(cell))
    elif column in ("industry", "region"):
        _put(row.columns, column, text_cell(cell, 100))
    elif column == "account_status":
        _put(row.columns, column, _status(cell))
    elif column in PROFILE_TEXT:
        _put(row.profile, column, text_cell(cell, PROFILE_TEXT[column]))
    elif column == "products_used":
        _put(row.profile, column, _products(cell))
    elif column == "champions":
        _put(row.profile, column, _champions(cell))
    elif column in ("lifecycle_stage", "onboarding_status"):
        _put(row.engagement, ENGAGEMENT[column], text_cell(cell, 50))
    elif column in ("last_qbr_date", "next_qbr_date"):
        _put(row.engagement, column, _date(cell))
    else:
        _put(row.engagement, "score", _score(cell))


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _revenue(cell: CellValue) -> Decimal | None:
    number = number_cell(cell)
    if number is None:
        return None
    if number < 0:
        raise CellError(f"{plain(number)} is negative; revenue must be 0 or more")
    if number >= MAX_REVENUE:
        raise CellError(f"{plain(number)} is too large (less than 10,000,000,000,000)")
    if number != number.quantize(_CENT):
        raise CellError(f"{plain(number)} has more than two decimal places")
    return number.quantize(_CENT)


def _status(cell: CellValue) -> str | None:
    text = text_cell(cell, 50)
    if text is None:
        return None
    status = canonical(text)
    if status not in ACCOUNT_STATUSES:
        raise CellError(f"{text!r} is not one of {', '.join(ACCOUNT_STATUSES)}")
    return status


def _products(cell: CellValue) -> list[str] | None:
    items: list[Any]
    if isinstance(cell, list):
        items = cell
    else:
        text = text_cell(cell, 10_000)
        if text is None:
            return None
        items = _LIST_SPLIT.split(text)
    names: list[str] = []
    folded: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise CellError("expected product names as text")
        name = item.strip()
        if len(name) > 100:
            raise CellError(f"product {name[:40]!r}… is longer than 100 characters")
        if "\x00" in name:
            raise CellError("contains a NUL character")
        if name and fold(name) not in folded:
            names.append(name)
            folded.add(fold(name))
    return names or None


def _champions(cell: CellValue) -> list[dict[str, str]] | None:
    items: list[Any]
    if isinstance(cell, list):
        items = cell
    else:
        text = text_cell(cell, 10_000)
        if text is None:
            return None
        items = []
        for part in text.split(";"):
            if not part.strip():
                continue
            match = _CHAMPION.match(part.strip())
            if match is None:
                items.append({"name": part.strip()})
            else:
                items.append({"name": match["name"], "status": match["status"]})
    champions: list[dict[str, str]] = []
    for position, item in enumerate(items, start=1):
        entry = {"name": item} if isinstance(item, str) else item
        if not isinstance(entry, dict):
            raise CellError(f"champion {position} is not a name or an object with a name")
        champion: dict[str, str] = {}
        for key, value in entry.items():
            if key not in CHAMPION_FIELDS:
                raise CellError(
                    f"champion {position} has the field {key!r}; "
                    f"the fields are {', '.join(CHAMPION_FIELDS)}"
                )
            if value is None:
                continue
            if not isinstance(value, str):
                raise CellError(f"champion {position}: {key} must be text")
            clean = value.strip()
            if len(clean) > 100 or "\x00" in clean:
                raise CellError(f"champion {position}: {key} is longer than 100 characters")
            if clean:
                champion[key] = clean
        if "name" not in champion:
            raise CellError(f"champion {position} has no name")
        champions.append(champion)
    return champions or None


def _date(cell: CellValue) -> str | None:
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    text = text_cell(cell, 40)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10] if "T" in text else text).isoformat()
    except ValueError:
        raise CellError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _score(cell: CellValue) -> float | None:
    number = number_cell(cell)
    if number is None:
        return None
    if not 0 <= number <= 100:
        raise CellError(f"{plain(number)} is not a score from 0 to 100")
    # A JSON number, as the account API and imports store it.
    return float(number.quantize(_CENT))


# --------------------------------------------------------------------------- matching


def _match(
    sheet: Sheet, rows: list[ProfileRow], directory: AccountDirectory, errors: list[dict[str, Any]]
) -> None:
    """Attach each row's stored account, check renames and external ids, refuse repeats."""
    seen_accounts: dict[int, int] = {}
    claimed_names: dict[str, int] = {}
    claimed_exts: dict[str, int] = {}
    for row in rows:
        try:
            stored = _stored_account(row, directory)
        except CellError as exc:
            errors.append(sheet.error(row.number, "account_name", str(exc)))
            continue
        row.stored = stored
        if stored is not None:
            first = seen_accounts.setdefault(stored.account_id, row.number)
            if first != row.number:
                errors.append(
                    sheet.error(row.number, "account_name", f"repeats the account of row {first}")
                )
                continue
            by_external = row.external_id is not None and row.external_id == stored.external_id
            # Only a row that names its account by external id can rename it.
            if by_external and row.name is not None and row.name != stored.name:
                other = _other_named(directory, row.name, stored)
                if other is not None:
                    errors.append(
                        sheet.error(
                            row.number,
                            "account_name",
                            f"cannot rename account {stored.name!r} to {row.name!r}: "
                            "another account has that name",
                        )
                    )
                    continue
                row.columns["account_name"] = row.name
            if row.external_id is not None and stored.external_id is None:
                row.columns["external_account_id"] = row.external_id
        elif row.name is None:
            errors.append(
                sheet.error(
                    row.number,
                    "external_account_id",
                    f"no account has external id {row.external_id!r}; "
                    "add account_name to create it",
                )
            )
            continue
        name = row.columns.get("account_name", row.name if stored is None else None)
        if name is not None:
            first = claimed_names.setdefault(fold(name), row.number)
            if first != row.number:
                errors.append(
                    sheet.error(row.number, "account_name", f"repeats the name of row {first}")
                )
        ext = row.columns.get("external_account_id", row.external_id if stored is None else None)
        if ext is not None:
            first = claimed_exts.setdefault(ext, row.number)
            if first != row.number:
                errors.append(
                    sheet.error(
                        row.number, "external_account_id", f"repeats the external id of row {first}"
                    )
                )


def _stored_account(row: ProfileRow, directory: AccountDirectory) -> StoredAccount | None:
    if row.external_id is not None and row.external_id in directory.by_ext:
        return directory.by_ext[row.external_id]
    if row.name is None:
        return None
    stored = directory.by_account_name(row.name)
    if (
        stored is not None
        and row.external_id is not None
        and stored.external_id is not None
        and stored.external_id != row.external_id
    ):
        raise CellError(
            f"account {stored.name!r} has external id {stored.external_id!r}, "
            f"not {row.external_id!r}"
        )
    return stored


def _other_named(
    directory: AccountDirectory, name: str, stored: StoredAccount
) -> StoredAccount | None:
    """Another account that already has ``name`` (exactly, or in another case)."""
    try:
        other = directory.by_account_name(name)
    except CellError:
        return stored  # several other accounts have it
    if other is None or other.account_id == stored.account_id:
        return None
    return other


# --------------------------------------------------------------------------- writing


def _metadata(current: dict[str, Any], row: ProfileRow) -> dict[str, Any]:
    merged = dict(current)
    merged.update(row.profile)
    if row.engagement:
        engagement = dict(merged.get("engagement") or {})
        engagement.update(row.engagement)
        merged["engagement"] = engagement
    return merged


def _create(
    session: Session, customer_id: int, rows: Sequence[ProfileRow], now: datetime
) -> list[int]:
    if not rows:
        return []
    records = [
        {
            "customer_id": customer_id,
            "account_name": row.name,
            "external_account_id": row.external_id,
            "revenue": row.columns.get("revenue"),
            "industry": row.columns.get("industry"),
            "region": row.columns.get("region"),
            "account_status": row.columns.get("account_status", "active"),
            "profile_metadata": _metadata({}, row),
            "created_at": now,
        }
        for row in rows
    ]
    for part in chunks(records, 20_000):
        session.execute(insert(table_of(Account)), part)
    by_name = {row.name: row for row in rows}
    ids: list[int] = []
    for part in chunks(list(by_name)):
        for account_id, name, ext in session.execute(
            select(Account.account_id, Account.account_name, Account.external_account_id).where(
                Account.customer_id == customer_id, Account.account_name.in_(part)
            )
        ):
            by_name[name].stored = StoredAccount(account_id, name, ext)
            ids.append(account_id)
    return ids


def _update(
    session: Session, customer_id: int, rows: Sequence[ProfileRow], now: datetime
) -> list[AccountChange]:
    """Write the rows' changes to their stored accounts; returns what changed of each."""
    by_id = {row.stored.account_id: row for row in rows if row.stored is not None}
    changes: list[dict[str, Any]] = []
    done: list[AccountChange] = []
    for part in chunks(sorted(by_id)):
        for stored in session.execute(
            select(
                Account.account_id,
                Account.account_name,
                Account.external_account_id,
                Account.revenue,
                Account.industry,
                Account.region,
                Account.account_status,
                Account.profile_metadata,
            ).where(Account.customer_id == customer_id, Account.account_id.in_(part))
        ).mappings():
            row = by_id[stored["account_id"]]
            change: dict[str, Any] = {
                name: value for name, value in row.columns.items() if stored[name] != value
            }
            current = dict(stored["profile_metadata"] or {})
            merged = _metadata(current, row)
            if merged != current:
                change["profile_metadata"] = merged
            if change:
                done.append(
                    AccountChange(
                        stored["account_id"],
                        fields=(
                            *(name for name in change if name != "profile_metadata"),
                            *changed_keys(current, merged),
                        ),
                        status=(
                            stored["account_status"],
                            change.get("account_status", stored["account_status"]),
                        ),
                        revenue=(stored["revenue"], change.get("revenue", stored["revenue"])),
                    )
                )
                change["account_id"] = stored["account_id"]
                change["updated_at"] = now
                changes.append(change)
    bulk_update(session, Account, "account_id", changes)
    return done


def _add_products(
    session: Session, customer_id: int, rows: Sequence[ProfileRow], now: datetime
) -> dict[int, int]:
    """Create the listed products the accounts lack; returns how many each account got."""
    wanted = {
        row.stored.account_id: row.profile["products_used"]
        for row in rows
        if row.stored is not None and "products_used" in row.profile
    }
    if not wanted:
        return {}
    have: set[tuple[int, str]] = set()
    for part in chunks(sorted(wanted)):
        for account_id, name in session.execute(
            select(Product.account_id, Product.product_name).where(
                Product.customer_id == customer_id, Product.account_id.in_(part)
            )
        ):
            have.add((account_id, fold(name)))
    new = [
        {
            "customer_id": customer_id,
            "account_id": account_id,
            "product_name": name,
            "created_at": now,
        }
        for account_id, names in wanted.items()
        for name in names
        if (account_id, fold(name)) not in have
    ]
    for part in chunks(new, 20_000):
        session.execute(insert(table_of(Product)), part)
    added: dict[int, int] = {}
    for product in new:
        added[product["account_id"]] = added.get(product["account_id"], 0) + 1
    return added
