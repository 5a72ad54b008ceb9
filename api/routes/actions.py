"""Officers' actions: POST /warnings (raise by hand) and POST /warnings/{id}/actions
(issue, acknowledge, upgrade, downgrade, lift).

Every action names the warning version the officer saw (``expected_version``;
a stale one gets 409 with the current state) and carries an Idempotency-Key
header (or ``action_id``): the same action sent again returns the first
result, marked by the ``Idempotent-Replayed: true`` header, and writes
nothing. After the commit the action's event is published on
``geowarn.warning-events`` from the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClockDep, Officer, ResolverDep, RulesDep, SessionFactoryDep
from api.errors import MissingIdempotencyKey, RiskPointNotFound, WarningNotFound
from api.models import ErrorMessage
from api.officers import relay_actions
from api.responses import OrjsonResponse
from store.actions import (
    ActionRequest,
    ActionResult,
    InvalidAction,
    RaiseRequest,
    act,
    perform,
    raise_warning,
)
from store.jurisdictions import jurisdictions_of
from store.tables import RiskPointRow
from warning_models.levels import Level

router = APIRouter(tags=["warnings"])

KEY_LIMIT = 128


class RaiseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point_id: str = Field(min_length=1, max_length=64)
    level: str = Field(description="blue, yellow, orange, red or a tier IV..I")
    reason: str = Field(min_length=1, max_length=2000, description="why, for the audit trail")
    action_id: str | None = Field(None, min_length=1, max_length=KEY_LIMIT,
                                  description="client action id: an Idempotency-Key in the body")


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["issue", "acknowledge", "upgrade", "downgrade", "lift"]
    level: str | None = Field(None, description="the new level of an upgrade or a downgrade")
    reason: str = Field(min_length=1, max_length=2000, description="why, for the audit trail")
    expected_version: int = Field(ge=1, description="the warning's version the officer saw")
    action_id: str | None = Field(None, min_length=1, max_length=KEY_LIMIT,
                                  description="client action id: an Idempotency-Key in the body")


class AuditEntry(BaseModel):
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
    assessment_id: str
    model: str
    model_version: str


class ActionResponse(BaseModel):
    warning_id: str
    point_id: str
    status: Literal["active", "lifted"]
    level: str
    state: str
    version: int
    transition: AuditEntry


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=KEY_LIMIT,
    description="a fresh random value per action (e.g. a UUID), repeated on retries")]

CONFLICT = {"description": "stale expected_version, or not allowed in the warning's state; "
                           "`current` holds the warning's state",
            "content": {"application/json": {"example": {"detail": "...", "current": {}}}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage}, 403: {"model": ErrorMessage}, 404: {"model": ErrorMessage},
    409: CONFLICT}


def _key(header: str | None, body_key: str | None) -> str:
    if header and body_key and header != body_key:
        raise InvalidAction("the Idempotency-Key header and action_id differ; send one of them")
    key = header or body_key
    if not key:
        raise MissingIdempotencyKey()
    return key


def _level(text: str | None) -> str | None:
    try:
        return None if text is None else Level.parse(text).label
    except ValueError as exc:
        raise InvalidAction(str(exc)) from None


def _response(result: ActionResult, status_code: int) -> OrjsonResponse:
    row = result.transition
    entry = {name: getattr(row, name) for name in AuditEntry.model_fields}
    body = {"warning_id": result.warning_id, "point_id": result.point_id,
            "status": result.status, "level": result.level, "state": row.to_state,
            "version": row.version, "transition": entry}
    headers = {"Location": f"/warnings/{result.warning_id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return OrjsonResponse(body, status_code=status_code, headers=headers)


@router.post("/warnings", status_code=201, response_class=OrjsonResponse,
             responses={201: {"model": ActionResponse}, **RESPONSES},
             summary="Raise a warning by hand at a risk point (issued at once)")
def raise_by_hand(body: RaiseBody, user: Officer, sessions: SessionFactoryDep, clock: ClockDep,
                  rules: RulesDep, resolver: ResolverDep, request: Request,
                  background: BackgroundTasks, key: IdempotencyKey = None) -> OrjsonResponse:
    request_key = _key(key, body.action_id)
    level = _level(body.level)
    with sessions() as session:
        point = session.get(RiskPointRow, body.point_id)
        if point is None:
            raise RiskPointNotFound(body.point_id)
        geometry, own = point.geometry, point.province_adcode
    adcodes = resolver.adcodes(geometry)
    user.check_scope({*adcodes, *([own] if own else [])}, "raise", "warnings at risk points")
    req = RaiseRequest(body.point_id, level, body.reason, request_key)
    result = perform(sessions, req, actor=user.name, work=lambda session: raise_warning(
        session, req, actor=user.name, now=clock(), rules=rules, adcodes=adcodes))
    if not result.replayed:
        background.add_task(relay_actions, request.app.state, {result.point_id})
    return _response(result, 201)


@router.post("/warnings/{warning_id}/actions", response_class=OrjsonResponse,
             responses={200: {"model": ActionResponse}, **RESPONSES},
             summary="Issue, acknowledge, upgrade, downgrade or lift a warning")
def act_on_warning(warning_id: Annotated[str, Path(max_length=64)], body: ActionBody,
                   user: Officer, sessions: SessionFactoryDep, clock: ClockDep, rules: RulesDep,
                   request: Request, background: BackgroundTasks,
                   key: IdempotencyKey = None) -> OrjsonResponse:
    request_key = _key(key, body.action_id)
    with sessions() as session:
        places = jurisdictions_of(session, [warning_id]).get(warning_id)
    if places is None:
        raise WarningNotFound(warning_id)
    user.check_scope(places, "act on")
    req = ActionRequest(warning_id, body.action, body.reason, body.expected_version, request_key,
                        _level(body.level))
    result = perform(sessions, req, actor=user.name, work=lambda session: act(
        session, req, actor=user.name, now=clock(), rules=rules))
    if not result.replayed:
        background.add_task(relay_actions, request.app.state, {result.point_id})
    return _response(result, 200)
