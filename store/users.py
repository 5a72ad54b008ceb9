"""Users and their API tokens.

Only hashes are stored, and they are made by the caller (``api.auth``): this
module never sees a password or a token in clear, so it can never log one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.tables import ApiTokenRow, UserRow


class UserExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} already exists")


class UnknownUser(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no user named {name!r}")


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    provinces: tuple[str, ...]
    password_hash: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: UserRow) -> UserRecord:
        return cls(row.id, row.name, row.role, tuple(row.provinces or ()), row.password_hash,
                   row.disabled, row.created_at, row.updated_at)


def add_user(session: Session, *, name: str, role: str, provinces: Sequence[str],
             password_hash: str | None, now: datetime) -> UserRecord:
    """Create a user; the caller has validated the role and the provinces."""
    row = UserRow(name=name, role=role, provinces=sorted(set(provinces)),
                  password_hash=password_hash, disabled=False, created_at=now, updated_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UserExists(name) from exc
    return UserRecord.of(row)


def get_user(session: Session, name: str) -> UserRecord | None:
    row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
    return None if row is None else UserRecord.of(row)


def list_users(session: Session) -> list[UserRecord]:
    return [UserRecord.of(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]


def active_token_counts(session: Session) -> Counter[int]:
    """user id -> number of tokens not revoked."""
    return Counter(session.scalars(select(ApiTokenRow.user_id)
                                   .where(ApiTokenRow.revoked_at.is_(None))))


def _update(session: Session, name: str, **values) -> None:
    changed = session.execute(update(UserRow).where(UserRow.name == name).values(**values)
                              .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise UnknownUser(name)


def set_disabled(session: Session, name: str, disabled: bool, *, now: datetime) -> None:
    """Disable (or re-enable) a user: every JWT and API token of it stops working at once,
    because each request reloads the user."""
    _update(session, name, disabled=disabled, updated_at=now)


def set_password_hash(session: Session, name: str, password_hash: str | None, *,
                      now: datetime) -> None:
    _update(session, name, password_hash=password_hash, updated_at=now)


def add_api_token(session: Session, name: str, token_hash: str, *, label: str,
                  now: datetime) -> int:
    """Store the hash of a new token for ``name``; returns the token's id."""
    user = get_user(session, name)
    if user is None:
        raise UnknownUser(name)
    row = ApiTokenRow(user_id=user.id, token_hash=token_hash, label=label, created_at=now,
                      revoked_at=None)
    session.add(row)
    session.flush()
    return row.id


def user_by_token_hash(session: Session, token_hash: str) -> UserRecord | None:
    """The user holding a token that is not revoked (disabled users included: the caller decides)."""
    row = session.scalars(
        select(UserRow).join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
        .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))).first()
    return None if row is None else UserRecord.of(row)
