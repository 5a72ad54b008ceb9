"""The warning lifecycle: states, rules per level, the acknowledgement deadline, audit views.

``raised → issued → acknowledged``, with level changes (escalated / downgraded)
at any point and ``lifted`` at the end. Every step is a row of
``warning_transitions`` (the audit trail and the outbox of
``geowarn.warning-events``) naming who took it (a user, ``system:scorer`` or
``system:lifecycle``), why, the states it moved between and the warning's
version after it. ``warnings.version`` is bumped by every step, so an officer
acting on a stale view is refused instead of silently overriding another.

An auto-issued opening is one row (``opened``, state none → issued): the
warning is raised and issued in the same instant, by the same rule.

Times: ``detected_at`` is the event time of the detection; every other
lifecycle time (issue, acknowledgement, deadlines) is wall-clock time,
because deadlines are about people answering, not about sensors. A replay of
old readings therefore issues its warnings now and gives officers the
configured minutes from now, never a deadline already decades past.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid5

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.jurisdictions import jurisdictions_of
from store.points import chunked
from store.tables import WarningRow, WarningTransitionRow
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.levels import Level

RAISED, ISSUED, ACKNOWLEDGED, LIFTED = "raised", "issued", "acknowledged", "lifted"
ACTIVE_STATES = (RAISED, ISSUED, ACKNOWLEDGED)
SCORER = "system:scorer"
LIFECYCLE = "system:lifecycle"
"""Actor of the deadline check's rows."""
ID_CHUNK = 2_000


class LevelRule(BaseModel):
    """What happens when a warning reaches one level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_issue: bool = Field(True, description="issued when the model raises it; "
                                               "otherwise it waits, raised, for an officer")
    requires_ack: bool = Field(False, description="an officer must acknowledge it in time, "
                                                  "or it is re-notified and sent to the national centre")
    ack_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60,
                                      description="deadline; unset: the rules' ack_minutes")


class LifecycleRules(BaseModel):
    """Issue and acknowledgement rules per level. Defaults: blue and yellow are issued
    automatically; orange and red are issued at once and need an acknowledgement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ack_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60,
                               description="acknowledgement deadline of levels that need one")
    blue: LevelRule = LevelRule()
    yellow: LevelRule = LevelRule()
    orange: LevelRule = LevelRule(requires_ack=True)
    red: LevelRule = LevelRule(requires_ack=True)

    def rule(self, level: str | Level) -> LevelRule:
        parsed = Level.parse(level)
        if parsed == Level.NONE:
            raise ValueError("'none' is not a warning level")
        return getattr(self, parsed.label)

    def ack_minutes_of(self, level: str | Level) -> float | None:
        rule = self.rule(level)
        return (rule.ack_minutes or self.ack_minutes) if rule.requires_ack else None

    def ack_due(self, level: str | Level, issued_at: datetime) -> datetime | None:
        minutes = self.ack_minutes_of(level)
        return None if minutes is None else issued_at + timedelta(minutes=minutes)


# --- state changes shared by the ledger and the officers ------------------------------------

def opening(level: str, *, detected_at: datetime, now: datetime, rules: LifecycleRules,
            issue: bool | None = None) -> dict[str, Any]:
    """Lifecycle columns of a warning opening at ``level``; ``issue`` overrides the rule."""
    issued = rules.rule(level).auto_issue if issue is None else issue
    return {"state": ISSUED if issued else RAISED, "version": 1, "peak_level": level,
            "detected_at": detected_at, "issued_at": now if issued else None,
            "ack_due_at": rules.ack_due(level, now) if issued else None}


def level_change(warning: Any, level: str, *, now: datetime, rules: LifecycleRules
                 ) -> dict[str, Any]:
    """Column updates when ``warning`` (anything with the WarningRow attributes) moves to ``level``.

    An escalation to a level that needs an acknowledgement asks for a new one
    (state back to issued; the deadline is the earlier of the pending one and
    the new one); a raised warning reaching an auto-issued level is issued.
    A downgrade keeps the state and drops a deadline the new level does not need.
    """
    changes: dict[str, Any] = {"level": level}
    new, old = Level.parse(level), Level.parse(warning.level)
    peak = Level.parse(warning.peak_level or warning.level)
    changes["peak_level"] = max(new, peak).label
    needs_ack = rules.rule(new).requires_ack
    if new > old:
        if warning.state == RAISED and rules.rule(new).auto_issue:
            changes.update(state=ISSUED, issued_at=now, ack_due_at=rules.ack_due(new, now))
        elif warning.state in (ISSUED, ACKNOWLEDGED) and needs_ack:
            due = rules.ack_due(new, now)
            if warning.state == ISSUED and warning.ack_due_at is not None:
                due = min(due, warning.ack_due_at)
            changes.update(state=ISSUED, ack_due_at=due, ack_overdue_at=None)
    elif new < old and warning.state == ISSUED and not needs_ack:
        changes.update(ack_due_at=None, ack_overdue_at=None)
    return changes


# --- the acknowledgement deadline -----------------------------------------------------------

def deadline_id(warning_id: str, kind: str, due: datetime) -> str:
    """Deterministic id of a deadline row, so that concurrent or repeated checks write it once."""
    return str(uuid5(GEOWARN_NAMESPACE, f"{warning_id}|{kind}|{due.isoformat()}"))


def check_deadlines(session: Session, *, now: datetime, rules: LifecycleRules,
                    limit: int = 1000) -> list[WarningTransitionRow]:
    """Re-notify and escalate to the national centre every issued warning whose
    acknowledgement deadline has passed at ``now``; the caller commits.

    ``now`` is the wall clock (see the module docstring): the ledger worker
    calls this periodically. Each missed deadline gives two rows,
    ``renotified`` and ``escalated_to_national``, once: the warning is marked
    overdue under its version, so a second check (or a second worker) finds
    nothing to do.
    """
    query = (select(WarningRow)
             .where(WarningRow.status == "active", WarningRow.state == ISSUED,
                    WarningRow.ack_due_at <= now, WarningRow.ack_overdue_at.is_(None))
             .order_by(WarningRow.ack_due_at).limit(limit))
    made: list[WarningTransitionRow] = []
    for warning in session.scalars(query).all():
        due, version = warning.ack_due_at, warning.version
        claimed = session.execute(
            update(WarningRow).where(WarningRow.id == warning.id, WarningRow.version == version)
            .values(version=version + 2, ack_overdue_at=now, national_at=warning.national_at or now)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            continue  # another checker or an officer got there first
        minutes = rules.ack_minutes_of(warning.level)
        reason = (f"not acknowledged by {due.isoformat()} "
                  f"({minutes:g} min after issue at level {warning.level})" if minutes else
                  f"not acknowledged by {due.isoformat()}")
        for offset, kind in enumerate(("renotified", "escalated_to_national"), start=1):
            row = WarningTransitionRow(
                id=deadline_id(warning.id, kind, due), warning_id=warning.id,
                point_id=warning.point_id, kind=kind, from_level=warning.level,
                to_level=warning.level, observed_at=now, recorded_at=now,
                assessment_id=warning.last_assessment_id, model=warning.model,
                model_version=warning.model_version, evidence=warning.evidence,
                published_at=None, actor=LIFECYCLE, reason=reason, from_state=ISSUED,
                to_state=ISSUED, version=version + offset)
            session.add(row)
            made.append(row)
        session.expire(warning)
    session.flush()
    return made


# --- read side ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LifecycleView:
    state: str
    version: int
    level_source: str
    peak_level: str | None
    detected_at: datetime | None
    issued_at: datetime | None
    acknowledged_at: datetime | None
    acted_at: datetime | None
    ack_due_at: datetime | None
    ack_overdue_at: datetime | None
    national_at: datetime | None
    jurisdictions: tuple[str, ...] = ()


_LIFECYCLE_COLUMNS = (
    WarningRow.id, WarningRow.state, WarningRow.version, WarningRow.level_source,
    WarningRow.peak_level, WarningRow.detected_at, WarningRow.issued_at,
    WarningRow.acknowledged_at, WarningRow.acted_at, WarningRow.ack_due_at,
    WarningRow.ack_overdue_at, WarningRow.national_at,
)


def lifecycle_views(session: Session, warning_ids: Collection[str]) -> dict[str, LifecycleView]:
    """Lifecycle state, times and jurisdictions of each warning (ids not found are absent)."""
    views: dict[str, LifecycleView] = {}
    places = jurisdictions_of(session, warning_ids)
    for chunk in chunked(warning_ids, ID_CHUNK):
        for row in session.execute(select(*_LIFECYCLE_COLUMNS).where(WarningRow.id.in_(chunk))):
            views[row.id] = LifecycleView(*row[1:], jurisdictions=tuple(sorted(places[row.id])))
    return views


@dataclass(frozen=True, slots=True)
class AuditView:
    """One row of a warning's audit trail."""

    id: str
    kind: str
    actor: str
    reason: str | None
    from_level: str
    to_level: str
    from_state: str | None
    to_state: str | None
    version: int | None
    observed_at: datetime
    recorded_at: datetime
    published_at: datetime | None
    assessment_id: str
    model: str
    model_version: str
    evidence: list


_AUDIT_COLUMNS = tuple(getattr(WarningTransitionRow, name) for name in AuditView.__slots__)


def audit_view(row: WarningTransitionRow) -> AuditView:
    return AuditView(*(getattr(row, name) for name in AuditView.__slots__))


def audit_trail(session: Session, warning_id: str) -> list[AuditView]:
    """Every step of a warning in the order it happened: by the version it made
    (rows from before versions first), then by when it was written."""
    rows = session.execute(
        select(*_AUDIT_COLUMNS).where(WarningTransitionRow.warning_id == warning_id)
        .order_by(func.coalesce(WarningTransitionRow.version, 0), WarningTransitionRow.recorded_at,
                  WarningTransitionRow.observed_at, WarningTransitionRow.id))
    return [AuditView(*row) for row in rows]
