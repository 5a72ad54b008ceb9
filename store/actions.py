"""Officer actions on warnings: raise, issue, acknowledge, upgrade, downgrade, lift.

Concurrency is optimistic: an action names the ``version`` of the warning the
officer saw; the update is ``... WHERE version = expected``, so of two
officers acting on the same version one wins and the other gets
``StaleVersion`` carrying the current state, to decide again on what
actually happened. No row lock is held while a person reads.

Idempotence: every action carries a client key (the HTTP Idempotency-Key).
The audit row stores it with a hash of the request; the same key replayed
by the same user returns the row written the first time and writes nothing,
and the key reused for a different request is refused. ``perform`` also
turns the loser of a race between two deliveries of one request into a replay.

Officer rows go into ``warning_transitions`` like the scorer's, and so into
the outbox of ``geowarn.warning-events``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import uuid5

import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.jurisdictions import record_jurisdictions
from store.lifecycle import (
    ACKNOWLEDGED,
    ISSUED,
    LIFTED,
    RAISED,
    AuditView,
    LifecycleRules,
    audit_view,
    level_change,
    opening,
)
from store.tables import RiskPointRow, WarningRow, WarningTransitionRow
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.levels import Level

Action = Literal["issue", "acknowledge", "upgrade", "downgrade", "lift"]
KIND_OF_ACTION: dict[str, str] = {"issue": "issued", "acknowledge": "acknowledged",
                                  "upgrade": "escalated", "downgrade": "downgraded",
                                  "lift": "lifted"}
MANUAL_MODEL = "officer"


class LifecycleConflict(Exception):
    """The warning's state does not allow the action; ``current`` is that state (for a 409)."""

    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class StaleVersion(LifecycleConflict):
    """The officer acted on an older version of the warning."""


class InvalidTransition(LifecycleConflict):
    """E.g. acknowledging a warning that is already acknowledged, or acting on a lifted one."""


class ActiveWarningExists(LifecycleConflict):
    """A manual raise at a point that already has an active warning."""


class InvalidAction(ValueError):
    """A request that contradicts itself whatever the state (e.g. an upgrade to a lower level)."""


class IdempotencyKeyReused(ValueError):
    """The key was already used by this user for a different request."""


class UnknownWarning(LookupError):
    def __init__(self, warning_id: str) -> None:
        super().__init__(f"no warning with id {warning_id!r}")


class UnknownPoint(LookupError):
    def __init__(self, point_id: str) -> None:
        super().__init__(f"no risk point with id {point_id!r}")


def _fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class ActionRequest:
    warning_id: str
    action: Action
    reason: str
    expected_version: int
    key: str
    level: str | None = None

    def fingerprint(self) -> str:
        return _fingerprint({"op": "act", **asdict(self)})


@dataclass(frozen=True)
class RaiseRequest:
    point_id: str
    level: str
    reason: str
    key: str

    def fingerprint(self) -> str:
        return _fingerprint({"op": "raise", **asdict(self)})


@dataclass(frozen=True)
class ActionResult:
    """The audit row an action wrote (or wrote the first time, when ``replayed``)."""

    warning_id: str
    point_id: str
    transition: AuditView
    replayed: bool = False

    @property
    def status(self) -> str:
        return "lifted" if self.transition.to_state == LIFTED else "active"

    @property
    def level(self) -> str:
        row = self.transition
        return row.from_level if row.to_state == LIFTED else row.to_level


def snapshot(warning: WarningRow) -> dict[str, Any]:
    """What a client needs to decide again after a conflict."""
    names = ("id", "point_id", "level", "status", "state", "version", "level_source", "updated_at",
             "issued_at", "acknowledged_at", "ack_due_at", "national_at", "lifted_at")
    return {name: getattr(warning, name) for name in names}


def _replay(session: Session, actor: str, key: str, fingerprint: str) -> ActionResult | None:
    row = session.scalars(select(WarningTransitionRow).where(
        WarningTransitionRow.actor == actor, WarningTransitionRow.idempotency_key == key)).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was already used by {actor} for a "
                                   "different request; use a new key for a new action")
    return ActionResult(row.warning_id, row.point_id, audit_view(row), replayed=True)


def perform(sessions: sessionmaker[Session], request: ActionRequest | RaiseRequest, *,
            actor: str, work: Callable[[Session], ActionResult]) -> ActionResult:
    """Run ``work`` in one write transaction; a lost race against the same request is a replay.

    Two deliveries of one request can pass the replay check together (on
    PostgreSQL); the second then fails on the version or the unique key, and
    finds the first one's row here. Another conflict is re-raised; a unique
    violation without such a row (two raises at one point) is retried once,
    so that it reports the active warning as a conflict.
    """
    try:
        with session_scope(sessions, write_lock=True) as session:
            return work(session)
    except (LifecycleConflict, IntegrityError) as exc:
        with session_scope(sessions) as session:
            replay = _replay(session, actor, request.key, request.fingerprint())
        if replay is not None:
            return replay
        if not isinstance(exc, IntegrityError):
            raise
    with session_scope(sessions, write_lock=True) as session:
        return work(session)


def _row_id(actor: str, key: str) -> str:
    return str(uuid5(GEOWARN_NAMESPACE, f"action|{actor}|{key}"))


def act(session: Session, request: ActionRequest, *, actor: str, now: datetime,
        rules: LifecycleRules) -> ActionResult:
    """Apply one officer action to a warning; the caller commits (see ``perform``)."""
    fingerprint = request.fingerprint()
    if (replay := _replay(session, actor, request.key, fingerprint)) is not None:
        return replay
    warning = session.get(WarningRow, request.warning_id, populate_existing=True)
    if warning is None:
        raise UnknownWarning(request.warning_id)
    if warning.version != request.expected_version:
        raise StaleVersion(_stale(warning, request.expected_version), snapshot(warning))
    kind, changes = _plan(warning, request, now, rules)
    changes["version"] = warning.version + 1
    claimed = session.execute(
        update(WarningRow)
        .where(WarningRow.id == warning.id, WarningRow.version == request.expected_version)
        .values(**changes).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # another officer committed in between
        session.refresh(warning)
        raise StaleVersion(_stale(warning, request.expected_version), snapshot(warning))
    lifted = kind == "lifted"
    row = WarningTransitionRow(
        id=_row_id(actor, request.key), warning_id=warning.id, point_id=warning.point_id,
        kind=kind, from_level=warning.level,
        to_level=Level.NONE.label if lifted else changes.get("level", warning.level),
        observed_at=now, recorded_at=now, assessment_id=warning.last_assessment_id,
        model=warning.model, model_version=warning.model_version, evidence=warning.evidence,
        published_at=None, actor=actor, reason=request.reason, from_state=warning.state,
        to_state=changes.get("state", warning.state), version=changes["version"],
        idempotency_key=request.key, request_hash=fingerprint)
    session.add(row)
    session.flush()
    session.expire(warning)  # the Core update bypassed the identity map
    return ActionResult(row.warning_id, row.point_id, audit_view(row))


def _stale(warning: WarningRow, expected: int) -> str:
    return (f"warning {warning.id} is at version {warning.version}, not {expected}: someone "
            "acted on it meanwhile; reload it and decide again")


def _plan(warning: WarningRow, request: ActionRequest, now: datetime, rules: LifecycleRules
          ) -> tuple[str, dict[str, Any]]:
    """(transition kind, column updates) of an action, or the reason it cannot be taken."""
    action, current = request.action, snapshot(warning)
    if warning.status != "active":
        raise InvalidTransition(f"warning {warning.id} was lifted at {warning.lifted_at}; "
                                f"it cannot be {KIND_OF_ACTION[action]}", current)
    level = None if request.level is None else Level.parse(request.level)
    if action in ("issue", "acknowledge", "lift") and level is not None \
            and level != Level.parse(warning.level):
        raise InvalidAction(f"{action} does not change the level; "
                            "use upgrade or downgrade with a level")
    if action == "issue":
        if warning.state != RAISED:
            raise InvalidTransition(f"warning {warning.id} is {warning.state}, "
                                    "only a raised warning can be issued", current)
        return "issued", {"state": ISSUED, "issued_at": now,
                          "ack_due_at": rules.ack_due(warning.level, now)}
    if action == "acknowledge":
        if warning.state != ISSUED:
            why = ("issue it first" if warning.state == RAISED
                   else f"it was acknowledged at {warning.acknowledged_at}")
            raise InvalidTransition(f"warning {warning.id} is {warning.state}: {why}", current)
        return "acknowledged", {"state": ACKNOWLEDGED,
                                "acknowledged_at": warning.acknowledged_at or now}
    acted = {"acted_at": warning.acted_at or now}
    if action == "lift":
        return "lifted", {"status": "lifted", "state": LIFTED, "lifted_at": now,
                          "updated_at": max(warning.updated_at, now), **acted}
    old = Level.parse(warning.level)
    if action == "upgrade" and (level is None or level <= old):
        raise InvalidAction(f"upgrade needs a level above {old.label}"
                            + ("" if level is None else f", not {level.label}"))
    if action == "downgrade" and (level is None or level >= old or level == Level.NONE):
        raise InvalidAction(f"downgrade needs a level below {old.label} and above none "
                            "(to end the warning, lift it)"
                            + ("" if level is None else f", not {level.label}"))
    changes = level_change(warning, level.label, now=now, rules=rules)
    return KIND_OF_ACTION[action], {**changes, "level_source": "officer", **acted}


def raise_warning(session: Session, request: RaiseRequest, *, actor: str, now: datetime,
                  rules: LifecycleRules, adcodes: Collection[str] = ()) -> ActionResult:
    """Open a warning by hand at a point, issued at once; ``adcodes`` are its jurisdictions.

    The officer owns its level from then on (the model may raise it, never
    lower or lift it). Its id derives from the actor and the key, so a replay
    after a crash can only ever write the same warning.
    """
    fingerprint = request.fingerprint()
    if (replay := _replay(session, actor, request.key, fingerprint)) is not None:
        return replay
    level = Level.parse(request.level)
    if level == Level.NONE:
        raise InvalidAction("a warning needs a level: blue, yellow, orange or red")
    point = session.get(RiskPointRow, request.point_id)
    if point is None:
        raise UnknownPoint(request.point_id)
    active = session.scalars(select(WarningRow).where(
        WarningRow.point_id == point.id, WarningRow.status == "active")).first()
    if active is not None:
        raise ActiveWarningExists(
            f"risk point {point.id} already has active warning {active.id} at {active.level}; "
            "act on that warning instead", snapshot(active))
    warning_id = str(uuid5(GEOWARN_NAMESPACE, f"warning|{point.id}|manual|{actor}|{request.key}"))
    row_id = _row_id(actor, request.key)
    warning = WarningRow(
        id=warning_id, point_id=point.id, level=level.label, status="active",
        hazard_type=point.hazard_type, province=point.province, county=point.county,
        opened_at=now, updated_at=now, lifted_at=None, model=MANUAL_MODEL, model_version="1",
        evidence=[], last_assessment_id=row_id, level_source="officer",
        **opening(level.label, detected_at=now, now=now, rules=rules, issue=True))
    session.add(warning)
    session.flush()
    record_jurisdictions(session, {warning_id: adcodes})
    row = WarningTransitionRow(
        id=row_id, warning_id=warning_id, point_id=point.id, kind="opened",
        from_level=Level.NONE.label, to_level=level.label, observed_at=now, recorded_at=now,
        assessment_id=row_id, model=MANUAL_MODEL, model_version="1", evidence=[],
        published_at=None, actor=actor, reason=request.reason, from_state=None,
        to_state=warning.state, version=1, idempotency_key=request.key,
        request_hash=fingerprint)
    session.add(row)
    session.flush()
    return ActionResult(warning_id, point.id, audit_view(row))
