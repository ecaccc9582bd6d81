"""API keys: create (shown once), authenticate, list and revoke.

A key reads ``tmk_<prefix>_<secret>``. The prefix finds the row; only the
SHA-256 of the secret is stored, and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.tenancy.models import ROLES, ApiKey, Customer, User

KEY_PREFIX = "tmk"
_PREFIX_BYTES = 6
_SECRET_BYTES = 32
# Hashed when a presented key matches no row, so a miss costs what a hit costs.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the tenant, the key's user and its role."""

    customer_id: int
    user_id: int
    role: str
    key_id: int

    def can(self, role: str) -> bool:
        """Whether this principal's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> None:
    """Raise InvalidInput unless ``role`` is one of viewer, csm, admin."""
    if role not in ROLES:
        raise InvalidInput("role", f"expected one of {', '.join(ROLES)}")


def create(
    session: Session,
    *,
    customer_id: int,
    role: str,
    now: datetime,
    user_email: str | None = None,
    name: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for a user of the tenant (the oldest user when none is named) and its text."""
    check_role(role)
    users = select(User).where(User.customer_id == customer_id)
    if user_email is not None:
        user = session.execute(users.where(User.email == user_email)).scalar_one_or_none()
        if user is None:
            raise NotFound("user", user_email)
    else:
        user = session.execute(users.order_by(User.user_id).limit(1)).scalar_one_or_none()
        if user is None:
            raise InvalidInput("user", "the customer has no user; create one first")
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    key = ApiKey(
        customer_id=customer_id,
        user_id=user.user_id,
        name=name,
        role=role,
        prefix=prefix,
        secret_hash=_hash(secret),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a presented key, or None when it is unknown, malformed or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        hmac.compare_digest(_DUMMY_HASH, _hash(token))
        return None
    _, prefix, secret = parts
    row = session.execute(
        select(ApiKey.key_id, ApiKey.customer_id, ApiKey.user_id, ApiKey.role, ApiKey.secret_hash)
        .join(Customer, Customer.customer_id == ApiKey.customer_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).first()
    expected = row.secret_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        return None
    return Principal(
        customer_id=row.customer_id, user_id=row.user_id, role=row.role, key_id=row.key_id
    )


def list_keys(session: Session, *, customer_id: int) -> Sequence[ApiKey]:
    """The tenant's keys, newest first (secrets are never shown again)."""
    return (
        session.execute(
            select(ApiKey).where(ApiKey.customer_id == customer_id).order_by(ApiKey.key_id.desc())
        )
        .scalars()
        .all()
    )


def revoke(session: Session, *, customer_id: int, key_id: int, now: datetime) -> ApiKey:
    """Revoke one of the tenant's keys; it stops working at once."""
    key = session.execute(
        select(ApiKey).where(ApiKey.customer_id == customer_id, ApiKey.key_id == key_id)
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("API key", key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    return key
