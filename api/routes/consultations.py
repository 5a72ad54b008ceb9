"""Consultations: officers and invited experts discuss a warning or an area, post
messages with attachments, take decisions and close with a summary.

Every change is committed first, then published on
``geowarn.consultation-events`` (see ``api.push.consultations``) for the
participants following /ws/consultations/{id}. Decisions that change a
warning (upgrade, downgrade, lift) are performed through ``store.actions``
in the same transaction as the decision, which records the transition id;
their warning events go out like those of POST /warnings/{id}/actions.
Who may do what: ``api.consultation_access``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import uuid4

import shapely
from fastapi import APIRouter, BackgroundTasks, Path, Query, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from shapely.geometry import shape
from sqlalchemy.orm import Session

from api.auth.roles import Role, provinces_of
from api.consultation_access import check_officer, check_post, check_read
from api.consultation_decisions import DecisionBody, IdempotencyKey, decide
from api.deps import (
    ClockDep,
    Officer,
    PagingDep,
    Reader,
    ResolverDep,
    SessionDep,
    SessionFactoryDep,
)
from api.errors import ConsultationNotFoundError, WarningNotFound
from api.models import ErrorMessage
from api.push.consultations import relay_consultation_events
from api.responses import OrjsonResponse
from store.consultations import (
    Access,
    InvalidConsultationRequest,
    access_of,
    add_participant,
    close_consultation,
    consultation_detail,
    list_consultations,
    open_consultation,
    post_message,
)
from store.db import session_scope
from store.jurisdictions import jurisdictions_of
from store.users import get_user

router = APIRouter(tags=["consultations"])

MAX_INVITEES = 100
MAX_AREA_VERTICES = 10_000
ConsultationId = Annotated[str, Path(max_length=36, description="consultation id")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "no or invalid credentials"},
    403: {"model": ErrorMessage, "description": "the role or the provinces do not allow it"},
    404: {"model": ErrorMessage, "description": "no such consultation"},
    409: {"description": "the consultation is closed (`current` holds its closing)"}}


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warning_id: str | None = Field(None, min_length=1, max_length=36)
    area: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon (lon/lat, EPSG:4326), when not about one warning")
    title: Title
    invitees: list[Username] = Field(default_factory=list, max_length=MAX_INVITEES,
                                     description="user names of officers and experts to invite")

    @field_validator("area")
    @classmethod
    def _polygon(cls, area: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if area is None else check_area(area)

    @model_validator(mode="after")
    def _one_subject(self) -> OpenBody:
        if (self.warning_id is None) == (self.area is None):
            raise ValueError("give either warning_id or area, not both or neither")
        return self


def check_area(area: dict[str, Any]) -> dict[str, Any]:
    """A valid GeoJSON Polygon in lon/lat, or a ValueError saying what is wrong."""
    if area.get("type") != "Polygon":
        raise ValueError(f"area must be a GeoJSON Polygon, not {area.get('type')!r}")
    try:
        geometry = shape(area)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            shapely.errors.ShapelyError) as exc:
        raise ValueError(f"area is not a readable GeoJSON Polygon: {exc}") from None
    if geometry.is_empty:
        raise ValueError("area is empty")
    if shapely.get_num_coordinates(geometry) > MAX_AREA_VERTICES:
        raise ValueError(f"area has more than {MAX_AREA_VERTICES} vertices")
    min_x, min_y, max_x, max_y = geometry.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise ValueError("area coordinates must be longitude, latitude in degrees")
    if not geometry.is_valid:
        raise ValueError(f"area is not a valid polygon: {shapely.is_valid_reason(geometry)}")
    return {"type": "Polygon", "coordinates": area["coordinates"]}


class InviteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username


class MessageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=20_000)]
    parent_id: str | None = Field(None, max_length=36, description="the message answered")
    attachment_ids: list[str] = Field(default_factory=list, max_length=20,
                                      description="ids from POST .../attachments")


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=20_000)]


def load_access(session: Session, consultation_id: str) -> Access:
    access = access_of(session, consultation_id)
    if access is None:
        raise ConsultationNotFoundError(consultation_id)
    return access


def detail_json(detail: dict[str, Any]) -> dict[str, Any]:
    return {**detail, "provinces": provinces_of(detail["jurisdictions"])}


def _participant_role(session: Session, username: str) -> str:
    user = get_user(session, username)
    if user is None:
        raise InvalidConsultationRequest(f"no user named {username!r}")
    if user.disabled:
        raise InvalidConsultationRequest(f"user {username} is disabled")
    if user.role == Role.sensor_gateway:
        raise InvalidConsultationRequest(f"{username} is a sensor gateway, not a person: "
                                         "it cannot take part")
    return user.role


def _relay(background: BackgroundTasks, request: Request) -> None:
    background.add_task(relay_consultation_events, request.app.state)


@router.post("/consultations", status_code=201, response_class=OrjsonResponse,
             responses=RESPONSES, summary="Open a consultation on a warning or an area")
def open_route(body: OpenBody, user: Officer, sessions: SessionFactoryDep, clock: ClockDep,
               resolver: ResolverDep) -> OrjsonResponse:
    with sessions() as session:
        if body.warning_id is not None:
            adcodes = jurisdictions_of(session, [body.warning_id]).get(body.warning_id)
            if adcodes is None:
                raise WarningNotFound(body.warning_id)
            user.check_scope(adcodes, "open consultations on")
        invitees = [(name, _participant_role(session, name))
                    for name in dict.fromkeys(body.invitees)]
    if body.area is not None:
        adcodes = frozenset(resolver.adcodes(body.area))
        if not adcodes:
            raise InvalidConsultationRequest("area: it lies outside every province")
        user.check_scope(adcodes, "open consultations on", "areas")
    consultation_id = str(uuid4())
    with session_scope(sessions, write_lock=True) as session:
        open_consultation(session, consultation_id=consultation_id, title=body.title,
                          warning_id=body.warning_id, area=body.area, adcodes=adcodes,
                          creator=(user.name, user.role.value), invitees=invitees, now=clock())
        detail = consultation_detail(session, consultation_id)
    return OrjsonResponse(detail_json(detail), status_code=201,
                          headers={"Location": f"/consultations/{consultation_id}"})


def _page(request: Request, items: list[dict[str, Any]], total: int, limit: int,
          offset: int) -> dict[str, Any]:
    """The paging of the other lists (counts and links), with ``consultations`` as items."""
    def link(rel: str, at: int) -> dict[str, str]:
        return {"rel": rel, "type": "application/json",
                "href": str(request.url.include_query_params(limit=limit, offset=at))}

    links = [link("self", offset)]
    if offset + len(items) < total:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return {"numberMatched": total, "numberReturned": len(items), "links": links,
            "consultations": [detail_json(item) for item in items]}


StatusQuery = Annotated[Literal["open", "closed"] | None, Query(description="open or closed")]


@router.get("/consultations", response_class=OrjsonResponse, responses=RESPONSES,
            summary="Consultations the caller may read, newest first")
def list_route(request: Request, session: SessionDep, user: Reader, page: PagingDep,
               warning_id: Annotated[str | None, Query(max_length=36)] = None,
               status: StatusQuery = None) -> OrjsonResponse:
    items, total = list_consultations(session, warning_id=warning_id, status=status,
                                      scope=user.scope, username=user.name, limit=page.limit,
                                      offset=page.offset)
    return OrjsonResponse(_page(request, items, total, page.limit, page.offset))


@router.get("/warnings/{warning_id}/consultations", response_class=OrjsonResponse,
            responses=RESPONSES, tags=["warnings"],
            summary="A warning's consultations with their closing summaries")
def warning_consultations(request: Request, session: SessionDep, user: Reader, page: PagingDep,
                          warning_id: Annotated[str, Path(max_length=64)],
                          status: StatusQuery = None) -> OrjsonResponse:
    places = jurisdictions_of(session, [warning_id]).get(warning_id)
    if places is None:
        raise WarningNotFound(warning_id)
    user.check_scope(places, "read")
    items, total = list_consultations(session, warning_id=warning_id, status=status,
                                      scope=None, username=user.name, limit=page.limit,
                                      offset=page.offset)
    return OrjsonResponse(_page(request, items, total, page.limit, page.offset))


@router.get("/consultations/{consultation_id}", response_class=OrjsonResponse,
            responses=RESPONSES, summary="One consultation: participants, thread, decisions")
def read_route(session: SessionDep, user: Reader,
               consultation_id: ConsultationId) -> OrjsonResponse:
    check_read(user, load_access(session, consultation_id))
    return OrjsonResponse(detail_json(consultation_detail(session, consultation_id)))


@router.post("/consultations/{consultation_id}/participants", response_class=OrjsonResponse,
             status_code=201, responses={200: {"description": "already a participant"},
                                         **RESPONSES},
             summary="Invite a user (an officer or an expert)")
def invite_route(body: InviteBody, user: Officer, sessions: SessionFactoryDep, clock: ClockDep,
                 consultation_id: ConsultationId, request: Request,
                 background: BackgroundTasks) -> OrjsonResponse:
    with sessions() as session:
        check_officer(user, load_access(session, consultation_id), "invite to")
        role = _participant_role(session, body.username)
    with session_scope(sessions, write_lock=True) as session:
        participant, new = add_participant(session, consultation_id, username=body.username,
                                           role=role, invited_by=user.name, now=clock())
    if new:
        _relay(background, request)
    return OrjsonResponse(participant, status_code=201 if new else 200)


@router.post("/consultations/{consultation_id}/messages", response_class=OrjsonResponse,
             status_code=201, responses=RESPONSES, summary="Post a message (or an answer)")
def message_route(body: MessageBody, user: Reader, sessions: SessionFactoryDep,
                  clock: ClockDep, consultation_id: ConsultationId, request: Request,
                  background: BackgroundTasks) -> OrjsonResponse:
    with sessions() as session:
        access = load_access(session, consultation_id)
    check_post(user, access)
    with session_scope(sessions, write_lock=True) as session:
        now = clock()
        if user.name not in access.participants:  # an officer in scope joins by posting
            add_participant(session, consultation_id, username=user.name,
                            role=user.role.value, invited_by=None, now=now)
        message = post_message(session, consultation_id, message_id=str(uuid4()),
                               author=user.name, body=body.body, parent_id=body.parent_id,
                               attachment_ids=body.attachment_ids, now=now)
    _relay(background, request)
    return OrjsonResponse(message, status_code=201)


@router.post("/consultations/{consultation_id}/decisions", response_class=OrjsonResponse,
             status_code=201, responses=RESPONSES,
             summary="Record a decision; upgrade, downgrade and lift act on the warning")
def decision_route(body: DecisionBody, user: Officer, sessions: SessionFactoryDep,
                   clock: ClockDep, consultation_id: ConsultationId, request: Request,
                   background: BackgroundTasks, key: IdempotencyKey = None) -> OrjsonResponse:
    with sessions() as session:
        access = load_access(session, consultation_id)
    check_officer(user, access, "decide in")
    return decide(request, background, access, body, user=user, key=key, clock=clock)


@router.post("/consultations/{consultation_id}/close", response_class=OrjsonResponse,
             responses=RESPONSES, summary="Close with a summary that stays with the warning")
def close_route(body: CloseBody, user: Officer, sessions: SessionFactoryDep, clock: ClockDep,
                consultation_id: ConsultationId, request: Request,
                background: BackgroundTasks) -> OrjsonResponse:
    with sessions() as session:
        check_officer(user, load_access(session, consultation_id), "close")
    with session_scope(sessions, write_lock=True) as session:
        close_consultation(session, consultation_id, summary=body.summary, closed_by=user.name,
                           now=clock())
        detail = consultation_detail(session, consultation_id)
    _relay(background, request)
    return OrjsonResponse(detail_json(detail))
