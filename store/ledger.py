"""The warning ledger: assessments in, warnings and transitions out, plus the outbox.

Rules per point, in event-time order (ties in arrival order):

==================  ================  =============================================
active warning      assessment level  effect
==================  ================  =============================================
none                none              nothing
none                > none            open a warning (transition "opened" from none)
at L                > L               "escalated"
at L                < L, > none       "downgraded"
at L                none              "lifted" (status lifted, lifted_at = event time)
at L                L                 evidence and last_assessment_id only
==================  ================  =============================================

A warning whose level an officer has set (``level_source = officer``) keeps
it: the model may still escalate it, but a lower or "none" assessment only
moves ``updated_at`` and ``last_assessment_id``; lowering and lifting are then
the officers' decisions.

Each transition also moves the warning's lifecycle (``store.lifecycle``): an
opening is issued at once or waits, raised, as the rules of its level say; an
escalation to a level that needs an acknowledgement asks for a new one. Every
transition bumps ``warnings.version`` and is written with ``actor =
system:scorer``. Active warnings are read ``FOR UPDATE`` (PostgreSQL), so an
officer's action and the ledger never overwrite each other.

When a ``JurisdictionResolver`` is given, the adcodes each new warning
concerns (``store.jurisdictions``) are stored with it.

Idempotence and order safety: a warning's id is uuid5 of its point and the
event time of its opening assessment, a transition's id uuid5 of its warning
and assessment. An assessment is ignored when it was already applied (it is
the warning's ``last_assessment_id`` or some transition's ``assessment_id``)
or when it is older in event time than the point's state: the active
warning's ``updated_at``, or, with no active warning, the time the last one
was lifted (a late assessment must not reopen a lifted warning). Replaying
any sequence of assessments therefore changes nothing.

Transition rows double as the outbox of ``geowarn.warning-events``:
``published_at`` stays null until the ledger worker has flushed the event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import uuid5

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, lazyload

from store.jurisdictions import JurisdictionResolver, record_jurisdictions
from store.lifecycle import LIFTED, SCORER, LifecycleRules, level_change, opening
from store.points import PointInfo, chunked, load_point_index
from store.tables import RiskPointRow, WarningJurisdictionRow, WarningRow, WarningTransitionRow
from streams.schemas import GEOWARN_NAMESPACE, Assessment, WarningEvent
from warning_models.levels import Level

QUERY_CHUNK = 2_000
"""Ids per ``IN (...)`` list: far below SQLite's and PostgreSQL's parameter limits."""

Effect = Literal["opened", "escalated", "downgraded", "lifted", "update"]


def warning_id(point_id: str, opened_at: datetime) -> str:
    """Deterministic id of the warning opened at ``point_id`` by an assessment observed at ``opened_at``."""
    return str(uuid5(GEOWARN_NAMESPACE, f"warning|{point_id}|{opened_at.astimezone(UTC).isoformat()}"))


def transition_id(warning: str, assessment_id: str) -> str:
    """Deterministic id of the transition (and of its WarningEvent)."""
    return str(uuid5(GEOWARN_NAMESPACE, f"{warning}|{assessment_id}"))


def effect_of(active: Level | None, assessed: Level) -> Effect | None:
    """What an assessment at ``assessed`` does to a point whose active warning is at ``active``.

    ``active`` is None when the point has no active warning; None is returned
    when nothing happens.
    """
    if active is None:
        return "opened" if assessed > Level.NONE else None
    if assessed == Level.NONE:
        return "lifted"
    if assessed > active:
        return "escalated"
    if assessed < active:
        return "downgraded"
    return "update"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An assessment the ledger cannot apply; ``index`` is its position in the input."""

    index: int
    assessment: Assessment
    reason: str


@dataclass
class LedgerResult:
    transitions: list[WarningTransitionRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0
    """Assessments already applied or older than the point's state."""
    updated: int = 0
    """Same-level assessments that only refreshed a warning's evidence."""


def apply_assessments(session: Session, assessments: Sequence[Assessment], *,
                      recorded_at: datetime, rules: LifecycleRules | None = None,
                      jurisdictions: JurisdictionResolver | None = None) -> LedgerResult:
    """Apply a batch of assessments; the caller commits.

    ``recorded_at`` is the wall clock: the time of the rows and of any issue
    (see ``store.lifecycle``); ``rules`` default to ``LifecycleRules()``.

    Reads the batch's points, active warnings, lift times and already-applied
    assessment ids in a few chunked queries, decides in memory and flushes
    once, so thousands of assessments cost a handful of round trips.
    Assessments for unknown points come back in ``rejected`` (to be
    dead-lettered) instead of failing the batch.
    """
    result = LedgerResult()
    if not assessments:
        return result
    points = load_point_index(session, {a.point_id for a in assessments})
    by_point: dict[str, list[Assessment]] = defaultdict(list)
    for index, assessment in enumerate(assessments):
        if assessment.point_id in points:
            by_point[assessment.point_id].append(assessment)
        else:
            result.rejected.append(
                Rejected(index, assessment, f"unknown risk point {assessment.point_id!r}"))
    if not by_point:
        return result

    applied = _applied_assessment_ids(session, {a.assessment_id for a in assessments})
    active = _active_warnings(session, by_point)
    lifted_until = _last_lifted(session, by_point)
    context = _Context(recorded_at, rules or LifecycleRules())
    for point_id, items in by_point.items():
        items.sort(key=lambda a: a.observed_at)  # stable: ties keep arrival (offset) order
        _apply_point(session, points[point_id], items, active.get(point_id),
                     lifted_until.get(point_id), applied, context, result)
    session.flush()
    if jurisdictions is not None and context.opened:
        places = jurisdictions.for_points(session, {w.point_id for w in context.opened})
        record_jurisdictions(session, {w.id: places.get(w.point_id, ()) for w in context.opened})
    return result


@dataclass
class _Context:
    recorded_at: datetime
    rules: LifecycleRules
    opened: list[WarningRow] = field(default_factory=list)


def _apply_point(session: Session, point: PointInfo, items: Iterable[Assessment],
                 warning: WarningRow | None, lifted_until: datetime | None, applied: set[str],
                 context: _Context, result: LedgerResult) -> None:
    recorded_at = context.recorded_at
    for a in items:
        if a.assessment_id in applied or (warning is not None and (
                a.assessment_id == warning.last_assessment_id or a.observed_at < warning.updated_at)):
            result.ignored += 1
            continue
        if warning is None and lifted_until is not None and a.observed_at <= lifted_until:
            result.ignored += 1
            continue
        level = Level.parse(a.level)
        effect = effect_of(None if warning is None else Level.parse(warning.level), level)
        if effect is None:
            continue
        applied.add(a.assessment_id)
        if warning is not None and warning.level_source == "officer" and effect in (
                "downgraded", "lifted"):
            warning.updated_at = a.observed_at  # the officer's level holds
            warning.last_assessment_id = a.assessment_id
            result.updated += 1
            continue
        evidence = [indicator.model_dump(mode="json") for indicator in a.evidence]
        from_level = Level.NONE.label if warning is None else warning.level
        from_state = None if warning is None else warning.state
        if effect == "opened":
            warning = WarningRow(
                id=warning_id(point.id, a.observed_at), point_id=point.id, level=level.label,
                status="active", hazard_type=point.hazard_type, province=point.province,
                county=point.county, opened_at=a.observed_at, updated_at=a.observed_at,
                lifted_at=None, model=a.model, model_version=a.model_version, evidence=evidence,
                last_assessment_id=a.assessment_id, level_source="model",
                **opening(level.label, detected_at=a.observed_at, now=recorded_at,
                          rules=context.rules))
            session.add(warning)
            context.opened.append(warning)
        else:
            warning.updated_at = a.observed_at
            warning.last_assessment_id = a.assessment_id
            if effect == "lifted":
                # The warning keeps the level and evidence that raised it; the
                # lifting evidence is on the transition.
                warning.status = "lifted"
                warning.lifted_at = a.observed_at
                warning.state = LIFTED
                warning.ack_due_at = None
            else:
                if effect != "update":
                    for name, value in level_change(warning, level.label, now=recorded_at,
                                                    rules=context.rules).items():
                        setattr(warning, name, value)
                warning.level = level.label
                warning.model, warning.model_version = a.model, a.model_version
                warning.evidence = evidence
            if effect != "update":
                warning.version += 1
        if effect == "update":
            result.updated += 1
            continue
        transition = WarningTransitionRow(
            id=transition_id(warning.id, a.assessment_id), warning_id=warning.id,
            point_id=point.id, kind=effect, from_level=from_level, to_level=level.label,
            observed_at=a.observed_at, recorded_at=recorded_at, assessment_id=a.assessment_id,
            model=a.model, model_version=a.model_version, evidence=evidence, published_at=None,
            actor=SCORER, from_state=from_state, to_state=warning.state, version=warning.version)
        session.add(transition)
        result.transitions.append(transition)
        if effect == "lifted":
            lifted_until, warning = a.observed_at, None


def _applied_assessment_ids(session: Session, ids: Collection[str]) -> set[str]:
    found: set[str] = set()
    column = WarningTransitionRow.assessment_id
    for chunk in chunked(ids, QUERY_CHUNK):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def _active_warnings(session: Session, point_ids: Collection[str]) -> dict[str, WarningRow]:
    warnings: dict[str, WarningRow] = {}
    for chunk in chunked(point_ids, QUERY_CHUNK):
        query = (select(WarningRow)
                 .where(WarningRow.status == "active", WarningRow.point_id.in_(chunk))
                 .options(lazyload(WarningRow.transitions))
                 .order_by(WarningRow.id).with_for_update())
        warnings.update((w.point_id, w) for w in session.scalars(query))
    return warnings


def _last_lifted(session: Session, point_ids: Collection[str]) -> dict[str, datetime]:
    lifted: dict[str, datetime] = {}
    for chunk in chunked(point_ids, QUERY_CHUNK):
        query = (select(WarningRow.point_id, func.max(WarningRow.updated_at))
                 .where(WarningRow.status == "lifted", WarningRow.point_id.in_(chunk))
                 .group_by(WarningRow.point_id))
        lifted.update((point_id, at) for point_id, at in session.execute(query))
    return lifted


# --- outbox -------------------------------------------------------------------------------

_EVENT_COLUMNS = (
    WarningTransitionRow.id, WarningTransitionRow.warning_id, WarningTransitionRow.point_id,
    WarningTransitionRow.kind, WarningTransitionRow.from_level, WarningTransitionRow.to_level,
    WarningTransitionRow.observed_at, WarningTransitionRow.recorded_at,
    WarningTransitionRow.model, WarningTransitionRow.model_version, WarningTransitionRow.evidence,
    WarningRow.hazard_type, WarningRow.province, WarningRow.county, RiskPointRow.name,
    RiskPointRow.lon, RiskPointRow.lat, RiskPointRow.threatened_people, RiskPointRow.households,
    WarningTransitionRow.actor, WarningTransitionRow.reason,
)
_EVENT_ORDER = (WarningTransitionRow.recorded_at, WarningTransitionRow.observed_at,
                WarningTransitionRow.id)


def unpublished_events(session: Session, limit: int = 10_000, *,
                       point_ids: Collection[str] | None = None,
                       recorded_before: datetime | None = None) -> list[WarningEvent]:
    """Transitions not yet on Kafka, oldest first, as WarningEvents.

    ``point_ids`` restricts them to some points: a worker publishes the
    outbox of its own batch, so that workers of one group do not race to
    publish each other's events (at start, it publishes everything).
    ``recorded_before`` leaves the newest rows to the process that wrote
    them (the periodic sweep of rows an API process wrote but did not publish).
    """
    base = (select(*_EVENT_COLUMNS)
            .join(WarningRow, WarningRow.id == WarningTransitionRow.warning_id)
            .join(RiskPointRow, RiskPointRow.id == WarningTransitionRow.point_id)
            .where(WarningTransitionRow.published_at.is_(None)))
    if recorded_before is not None:
        base = base.where(WarningTransitionRow.recorded_at < recorded_before)
    if point_ids is None:
        rows = list(session.execute(base.order_by(*_EVENT_ORDER).limit(limit)))
    else:
        rows = []
        for chunk in chunked(point_ids, QUERY_CHUNK):
            query = base.where(WarningTransitionRow.point_id.in_(chunk))
            rows.extend(session.execute(query.order_by(*_EVENT_ORDER).limit(limit)))
        rows.sort(key=lambda row: (row.recorded_at, row.observed_at, row.id))
        rows = rows[:limit]
    places = _stored_jurisdictions(session, {row.warning_id for row in rows})
    return [_event(row, places.get(row.warning_id, [])) for row in rows]


def _stored_jurisdictions(session: Session, warning_ids: Collection[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in chunked(warning_ids, QUERY_CHUNK):
        query = (select(WarningJurisdictionRow.warning_id, WarningJurisdictionRow.adcode)
                 .where(WarningJurisdictionRow.warning_id.in_(chunk))
                 .order_by(WarningJurisdictionRow.warning_id, WarningJurisdictionRow.adcode))
        for warning, adcode in session.execute(query):
            found[warning].append(adcode)
    return found


def _event(row, jurisdictions: list[str]) -> WarningEvent:
    return WarningEvent(
        event_id=row.id, warning_id=row.warning_id, point_id=row.point_id, transition=row.kind,
        from_level=row.from_level, to_level=row.to_level, tier=Level.parse(row.to_level).tier,
        hazard_type=row.hazard_type, point_name=row.name, province=row.province,
        county=row.county, lon=row.lon, lat=row.lat, threatened_people=row.threatened_people,
        households=row.households, observed_at=row.observed_at, issued_at=row.recorded_at,
        model=row.model, model_version=row.model_version, evidence=row.evidence,
        actor=row.actor, reason=row.reason, jurisdictions=jurisdictions)


def mark_published(session: Session, ids: Iterable[str], at: datetime) -> int:
    """Stamp transitions as published; ones already stamped keep their first time."""
    count = 0
    for chunk in chunked(ids, QUERY_CHUNK):
        statement = (update(WarningTransitionRow)
                     .where(WarningTransitionRow.id.in_(chunk),
                            WarningTransitionRow.published_at.is_(None))
                     .values(published_at=at)
                     .execution_options(synchronize_session=False))
        count += session.execute(statement).rowcount
    return count
