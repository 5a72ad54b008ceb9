"""Notification subscriptions of regional authorities and the delivery log.

A subscription names a jurisdiction by adcode: a province (``510000``), a
county (``513221``) or the national centre (``100000``, the code of the whole
country), a lowest level, a channel (``webhook`` or ``email``) and where to
send. The notifier writes one delivery row per (subscription, warning event)
(unique, so a redelivered event never notifies twice) and then sends the due
ones; each attempt updates the row:

- ``pending`` until the receiver accepts it (``delivered``) or refuses it for
  good, or the attempts run out (``failed``);
- ``next_attempt_at`` is when a pending delivery is due: after a temporary
  failure, ``RetryPolicy.delay(attempts)`` later (exponential backoff). A
  sender claims a due row by moving it a lease into the future, so several
  notifier processes never send the same row at once, and a sender that dies
  mid-send leaves a row that falls due again when its lease ends.

The pending state lives here, so deliveries survive restarts of the notifier.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.db import dialect_insert
from store.points import chunked
from store.tables import (
    NotificationDeliveryRow,
    NotificationSubscriptionRow,
    RiskPointRow,
    WarningJurisdictionRow,
    WarningTransitionRow,
)
from streams.schemas import GEOWARN_NAMESPACE

NATIONAL = "100000"
"""Adcode of the whole country: a subscription of the national centre."""
CHANNELS = ("webhook", "email")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ID_CHUNK = 2_000


# --- subscriptions ----------------------------------------------------------------------------

def scope_of(adcode: str) -> tuple[str, str | None]:
    """(scope, province adcode) of a subscription's adcode: national, province or county."""
    if adcode == NATIONAL:
        return "national", None
    if adcode.endswith("0000"):
        return "province", adcode
    return "county", adcode[:2] + "0000"


def new_secret() -> str:
    """A webhook signing key: 256 random bits, URL-safe."""
    return "gws_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    id: str
    name: str
    adcode: str
    scope: str
    province_adcode: str | None
    min_level: str
    channel: str
    target: str
    enabled: bool
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


_SUBSCRIPTION_COLUMNS = tuple(getattr(NotificationSubscriptionRow, name)
                              for name in SubscriptionView.__slots__)


def create_subscription(session: Session, *, name: str, adcode: str, min_level: str,
                        channel: str, target: str, created_by: str, now: datetime
                        ) -> tuple[SubscriptionView, str | None]:
    """Store a subscription; returns it and the webhook secret (None for e-mail), which is
    not shown again. The caller validates the values and commits."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    scope, province = scope_of(adcode)
    secret = new_secret() if channel == "webhook" else None
    row = NotificationSubscriptionRow(
        id=str(uuid.uuid4()), name=name, adcode=adcode, scope=scope, province_adcode=province,
        min_level=min_level, channel=channel, target=target, secret=secret, enabled=True,
        created_by=created_by, created_at=now, disabled_at=None)
    session.add(row)
    session.flush()
    return _view(row), secret


def _view(row: NotificationSubscriptionRow) -> SubscriptionView:
    return SubscriptionView(*(getattr(row, name) for name in SubscriptionView.__slots__))


def get_subscription(session: Session, subscription_id: str) -> SubscriptionView | None:
    row = session.execute(select(*_SUBSCRIPTION_COLUMNS).where(
        NotificationSubscriptionRow.id == subscription_id)).first()
    return None if row is None else SubscriptionView(*row)


def list_subscriptions(session: Session, *, provinces: Collection[str] | None = None,
                       enabled: bool | None = None, limit: int = 1000, offset: int = 0
                       ) -> list[SubscriptionView]:
    """Subscriptions, newest first; ``provinces`` limits them to those provinces' own
    (province and county scopes; None: all, national ones included)."""
    query = select(*_SUBSCRIPTION_COLUMNS)
    if provinces is not None:
        query = query.where(NotificationSubscriptionRow.province_adcode.in_(sorted(provinces)))
    if enabled is not None:
        query = query.where(NotificationSubscriptionRow.enabled.is_(enabled))
    query = query.order_by(NotificationSubscriptionRow.created_at.desc(),
                           NotificationSubscriptionRow.id).limit(limit).offset(offset)
    return [SubscriptionView(*row) for row in session.execute(query)]


def enabled_subscriptions(session: Session) -> list[SubscriptionView]:
    """Every enabled subscription (the notifier matches each batch of events against them)."""
    query = select(*_SUBSCRIPTION_COLUMNS).where(NotificationSubscriptionRow.enabled.is_(True))
    return [SubscriptionView(*row) for row in session.execute(query)]


def disable_subscription(session: Session, subscription_id: str, *, now: datetime
                         ) -> SubscriptionView | None:
    """Disable a subscription (again: no change) and fail its pending deliveries; None if
    unknown. The caller commits."""
    row = session.get(NotificationSubscriptionRow, subscription_id)
    if row is None:
        return None
    if row.enabled:
        row.enabled, row.disabled_at = False, now
        session.execute(
            update(NotificationDeliveryRow)
            .where(NotificationDeliveryRow.subscription_id == subscription_id,
                   NotificationDeliveryRow.status == PENDING)
            .values(status=FAILED, next_attempt_at=None, last_error="subscription disabled")
            .execution_options(synchronize_session=False))
        session.flush()
    return _view(row)


# --- where a warning event belongs ----------------------------------------------------------

@dataclass(frozen=True)
class EventContext:
    """What the database knows about some warning events."""

    places: dict[str, frozenset[str]]
    """warning id -> adcodes: its point's province and county and the stored jurisdictions."""
    unissued: frozenset[str]
    """event ids whose transition left the warning raised (not issued: nobody is told yet)."""


def event_context(session: Session, *, point_by_warning: dict[str, str],
                  event_ids: Collection[str]) -> EventContext:
    """Jurisdictions of the events' warnings and the events that did not issue them."""
    found: dict[str, set[str]] = defaultdict(set)
    point_places: dict[str, set[str]] = defaultdict(set)
    for chunk in chunked(set(point_by_warning.values()), ID_CHUNK):
        query = (select(RiskPointRow.id, RiskPointRow.province_adcode, RiskPointRow.county_adcode)
                 .where(RiskPointRow.id.in_(chunk)))
        for point_id, province, county in session.execute(query):
            point_places[point_id].update(code for code in (province, county) if code)
    for warning_id, point_id in point_by_warning.items():
        found[warning_id].update(point_places.get(point_id, ()))
    for chunk in chunked(point_by_warning, ID_CHUNK):
        query = (select(WarningJurisdictionRow.warning_id, WarningJurisdictionRow.adcode)
                 .where(WarningJurisdictionRow.warning_id.in_(chunk)))
        for warning_id, adcode in session.execute(query):
            found[warning_id].add(adcode)
    unissued: set[str] = set()
    for chunk in chunked(event_ids, ID_CHUNK):
        query = select(WarningTransitionRow.id).where(WarningTransitionRow.id.in_(chunk),
                                                      WarningTransitionRow.to_state == "raised")
        unissued.update(session.scalars(query))
    return EventContext({w: frozenset(found[w]) for w in point_by_warning}, frozenset(unissued))


# --- the delivery log -----------------------------------------------------------------------

def delivery_id(subscription_id: str, event_id: str) -> str:
    """Deterministic id of the delivery of one event to one subscription."""
    return str(uuid.uuid5(GEOWARN_NAMESPACE, f"delivery|{subscription_id}|{event_id}"))


@dataclass(frozen=True, slots=True)
class NewDelivery:
    subscription_id: str
    event_id: str
    warning_id: str
    point_id: str
    transition: str
    level: str
    payload: dict


def enqueue_deliveries(session: Session, deliveries: Iterable[NewDelivery], *, now: datetime
                       ) -> int:
    """Insert pending deliveries, due now; ones already logged are left as they are.
    Returns how many were new. The caller commits."""
    rows = [{"id": delivery_id(d.subscription_id, d.event_id), "subscription_id": d.subscription_id,
             "event_id": d.event_id, "warning_id": d.warning_id, "point_id": d.point_id,
             "transition": d.transition, "level": d.level, "payload": d.payload,
             "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}
            for d in deliveries]
    added = 0
    for start in range(0, len(rows), 500):
        statement = (dialect_insert(session, NotificationDeliveryRow.__table__)
                     .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
                     .returning(NotificationDeliveryRow.id))
        # RETURNING counts the new rows: executemany's rowcount is -1 on PostgreSQL.
        added += len(session.execute(statement, rows[start:start + 500]).all())
    return added


class RetryPolicy(BaseModel):
    """How often and how long a delivery is retried after temporary failures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(8, ge=1, le=100, description="attempts before a delivery fails")
    first_delay_s: float = Field(30.0, gt=0, description="wait after the first failed attempt")
    max_delay_s: float = Field(3600.0, gt=0, description="longest wait between attempts")
    lease_s: float = Field(120.0, gt=0, description="how long a claimed delivery is the "
                                                    "claimant's before it falls due again")

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_delay_s < self.first_delay_s:
            raise ValueError("max_delay_s must be at least first_delay_s")
        return self

    def delay(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` (>= 1) failed attempts: first_delay_s doubled
        per further attempt, at most max_delay_s."""
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        return min(self.first_delay_s * 2.0 ** min(attempts - 1, 60), self.max_delay_s)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt. ``retry`` only matters when not delivered."""

    delivered: bool
    retry: bool = False
    status_code: int | None = None
    error: str | None = None

    @classmethod
    def ok(cls, status_code: int | None) -> Outcome:
        return cls(True, False, status_code, None)

    @classmethod
    def temporary(cls, status_code: int | None, error: str) -> Outcome:
        return cls(False, True, status_code, error)

    @classmethod
    def permanent(cls, status_code: int | None, error: str) -> Outcome:
        return cls(False, False, status_code, error)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A claimed delivery with what is needed to send it."""

    id: str
    attempts: int
    subscription_id: str
    subscription_name: str
    channel: str
    target: str
    secret: str | None
    payload: dict


def claim_due(session: Session, *, now: datetime, limit: int, lease_s: float
              ) -> list[DueDelivery]:
    """Claim up to ``limit`` pending deliveries due at ``now`` of enabled subscriptions,
    oldest due first, by moving them ``lease_s`` into the future. The caller commits."""
    d, s = NotificationDeliveryRow, NotificationSubscriptionRow
    query = (select(d.id, d.attempts, d.next_attempt_at, d.subscription_id, s.name, s.channel,
                    s.target, s.secret, d.payload)
             .join(s, s.id == d.subscription_id)
             .where(d.status == PENDING, d.next_attempt_at <= now, s.enabled.is_(True))
             .order_by(d.next_attempt_at, d.id).limit(limit))
    leased = now + timedelta(seconds=lease_s)
    claimed: list[DueDelivery] = []
    for row in session.execute(query).all():
        taken = session.execute(
            update(d).where(d.id == row.id, d.status == PENDING,
                            d.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=leased).execution_options(synchronize_session=False)).rowcount
        if taken == 1:  # else another sender claimed it first
            claimed.append(DueDelivery(row.id, row.attempts, row.subscription_id, row.name,
                                       row.channel, row.target, row.secret, row.payload))
    return claimed


def record_outcome(session: Session, delivery: str, outcome: Outcome, *, now: datetime,
                   policy: RetryPolicy) -> str:
    """Count an attempt and move the delivery on; returns its new status. The caller commits."""
    row = session.get(NotificationDeliveryRow, delivery, with_for_update=True)
    if row is None or row.status != PENDING:
        return FAILED if row is None else row.status
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status_code = outcome.status_code
    if outcome.delivered:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = (
            DELIVERED, now, None, None)
    elif outcome.retry and row.attempts < policy.max_attempts:
        row.last_error = outcome.error
        row.next_attempt_at = now + timedelta(seconds=policy.delay(row.attempts))
    else:
        row.status, row.next_attempt_at = FAILED, None
        row.last_error = (outcome.error if not outcome.retry else
                          f"{outcome.error} (gave up after {row.attempts} attempts)")
    session.flush()
    return row.status


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: str
    subscription_id: str
    event_id: str
    warning_id: str
    point_id: str
    transition: str
    level: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


_DELIVERY_COLUMNS = tuple(getattr(NotificationDeliveryRow, name)
                          for name in DeliveryView.__slots__)


def deliveries_of(session: Session, subscription_id: str, *, status: str | None = None,
                  limit: int = 1000, offset: int = 0) -> list[DeliveryView]:
    """A subscription's delivery log, newest first."""
    query = select(*_DELIVERY_COLUMNS).where(
        NotificationDeliveryRow.subscription_id == subscription_id)
    if status is not None:
        query = query.where(NotificationDeliveryRow.status == status)
    query = query.order_by(NotificationDeliveryRow.created_at.desc(),
                           NotificationDeliveryRow.id).limit(limit).offset(offset)
    return [DeliveryView(*row) for row in session.execute(query)]
