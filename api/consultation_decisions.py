"""Decisions taken in a consultation: what they may say, and how those that change
a warning are performed.

``upgrade``, ``downgrade`` and ``lift`` on a warning consultation are the
warning actions of ``store.actions``: same rules, same optimistic lock
(``expected_version``; when it is left out, the version current at the
request), same 409s. The action and the decision are written in one
transaction, so a decision that names a transition always has it and a
refused action leaves no decision. ``evacuate`` records households (at most
the households of the warning's risk point, when known); ``note`` records a
decision in words. An Idempotency-Key header makes a retried decision
return the first one (``Idempotent-Replayed: true``) instead of deciding twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal
from uuid import uuid4, uuid5

import orjson
from fastapi import BackgroundTasks, Header, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.roles import Principal
from api.officers import relay_actions
from api.push.consultations import relay_consultation_events
from api.responses import OrjsonResponse
from store.actions import ActionRequest, IdempotencyKeyReused, InvalidAction, act, perform
from store.consultations import (
    Access,
    DecisionRecord,
    InvalidConsultationRequest,
    decision_json,
    find_decision,
    lock_open,
    record_decision,
)
from store.db import session_scope
from store.tables import RiskPointRow, WarningRow
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.levels import Level

WARNING_ACTIONS = ("upgrade", "downgrade", "lift")

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=128,
    description="a fresh random value per decision, repeated on retries")]


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["evacuate", "upgrade", "downgrade", "lift", "note"]
    households: int | None = Field(None, ge=1, description="households to evacuate (evacuate)")
    level: str | None = Field(None, description="the new level (upgrade, downgrade)")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=2000)]
    expected_version: int | None = Field(
        None, ge=1, description="the warning's version the officer saw (upgrade, downgrade, "
                                "lift); unset: its current version")


def _fingerprint(consultation_id: str, body: DecisionBody) -> str:
    payload = {"consultation_id": consultation_id, **body.model_dump()}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check_fields(access: Access, body: DecisionBody) -> str | None:
    """The normalised level, or why the body does not fit its kind."""
    if body.kind in WARNING_ACTIONS and access.warning_id is None:
        raise InvalidConsultationRequest(
            f"kind: consultation {access.id} is about an area, not a warning: there is no "
            f"warning to {body.kind}; record an evacuate or a note decision")
    if (body.households is None) == (body.kind == "evacuate"):
        raise InvalidConsultationRequest("households: required for evacuate, and only there")
    wants_level = body.kind in ("upgrade", "downgrade")
    if (body.level is None) == wants_level:
        raise InvalidConsultationRequest("level: required for upgrade and downgrade, "
                                         "and only there")
    if body.expected_version is not None and body.kind not in WARNING_ACTIONS:
        raise InvalidConsultationRequest("expected_version: only upgrade, downgrade and lift "
                                         "act on the warning")
    try:
        return None if body.level is None else Level.parse(body.level).label
    except ValueError as exc:
        raise InvalidConsultationRequest(f"level: {exc}") from None


def _check_households(session: Session, access: Access, households: int) -> None:
    if access.warning_id is None:
        return
    row = session.execute(
        select(RiskPointRow.id, RiskPointRow.households)
        .join(WarningRow, WarningRow.point_id == RiskPointRow.id)
        .where(WarningRow.id == access.warning_id)).first()
    if row is not None and row.households > 0 and households > row.households:
        raise InvalidConsultationRequest(
            f"households: {households} is more than the {row.households} households "
            f"threatened at risk point {row.id} of warning {access.warning_id}")


def _current_version(session: Session, warning_id: str) -> int:
    return session.scalar(select(WarningRow.version).where(WarningRow.id == warning_id)) or 1


def decide(request: Request, background: BackgroundTasks, access: Access, body: DecisionBody,
           *, user: Principal, key: str | None, clock: Callable[[], datetime]
           ) -> OrjsonResponse:
    """Record the decision (performing its warning action); the caller checked access."""
    state = request.app.state
    sessions = state.sessions
    level = _check_fields(access, body)
    record = DecisionRecord(
        consultation_id=access.id,
        decision_id=str(uuid5(GEOWARN_NAMESPACE, f"decision|{user.name}|{key}") if key
                        else uuid4()),
        kind=body.kind, reason=body.reason, decided_by=user.name, key=key,
        request_hash=_fingerprint(access.id, body), households=body.households, level=level)
    if body.kind in WARNING_ACTIONS:
        payload, replayed, point_id = _perform(sessions, access, body, record, level, user,
                                               clock, state.rules)
        if not replayed:
            background.add_task(relay_actions, state, {point_id})
    else:
        payload, replayed = _record(sessions, access, body, record, clock)
    if not replayed:
        background.add_task(relay_consultation_events, state)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return OrjsonResponse(payload, status_code=201, headers=headers)


def _replayed(session: Session, record: DecisionRecord) -> dict | None:
    if record.key is None:
        return None
    row = find_decision(session, record.decided_by, record.key)
    if row is None:
        return None
    if row.request_hash != record.request_hash:
        raise IdempotencyKeyReused(f"Idempotency-Key {record.key!r} was already used by "
                                   f"{record.decided_by} for a different decision; use a new "
                                   "key for a new decision")
    return decision_json(row)


def _record(sessions, access: Access, body: DecisionBody, record: DecisionRecord,
            clock: Callable[[], datetime]) -> tuple[dict, bool]:
    with session_scope(sessions, write_lock=True) as session:
        if (replay := _replayed(session, record)) is not None:
            return replay, True
        lock_open(session, access.id)
        # Again under the lock: a retry that arrived while the first was being written
        # waited for it here (PostgreSQL) and now sees it.
        if (replay := _replayed(session, record)) is not None:
            return replay, True
        if body.households is not None:
            _check_households(session, access, body.households)
        return record_decision(session, record, transition_id=None, now=clock()), False


def _perform(sessions, access: Access, body: DecisionBody, record: DecisionRecord,
             level: str | None, user: Principal, clock: Callable[[], datetime], rules
             ) -> tuple[dict, bool, str]:
    """(decision, replayed, the warning's point id) of a warning-changing decision."""
    warning_id = access.warning_id
    with sessions() as session:
        if (replay := _replayed(session, record)) is not None:
            point = session.scalar(select(WarningRow.point_id).where(WarningRow.id == warning_id))
            return replay, True, point
        version = body.expected_version or _current_version(session, warning_id)
    action = ActionRequest(warning_id, body.kind, body.reason, version,
                           record.key or f"decision-{record.decision_id}", level)
    written: list[dict] = []

    def work(session: Session):
        written.clear()  # a retry by ``perform`` starts again
        lock_open(session, access.id)  # first: a closed consultation decides nothing
        result = act(session, action, actor=user.name, now=clock(), rules=rules)
        if not result.replayed:
            written.append(record_decision(session, record, transition_id=result.transition.id,
                                           now=clock()))
        return result

    result = perform(sessions, action, actor=user.name, work=work)
    if written:
        return written[0], False, result.point_id
    with sessions() as session:  # the key was used before: by this decision, or by an action
        replay = _replayed(session, record)
    if replay is None:
        raise InvalidAction(f"Idempotency-Key {record.key!r} was already used by {user.name} "
                            "for a warning action outside this consultation; use a new key")
    return replay, True, result.point_id
