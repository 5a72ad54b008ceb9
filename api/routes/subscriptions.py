"""Notification subscriptions of regional authorities: /subscriptions.

Officers manage them: a national officer anywhere (the national centre's own
subscriptions use the adcode 100000), a provincial officer for its provinces
and their counties. A webhook subscription gets a signing secret, shown once
in the creation response; see ``streams.notify_webhook`` for how receivers
verify signatures. DELETE disables a subscription (its pending deliveries
fail) and keeps its delivery log readable.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.auth.roles import Principal, Role
from api.deps import ClockDep, CurrentUser, PagingDep, SessionDep, SessionFactoryDep
from api.errors import OutsideScope, RoleNotAllowed, SubscriptionNotFound
from api.models import ErrorMessage
from api.responses import OrjsonResponse
from geo.boundaries import Boundaries
from store.db import session_scope
from store.notifications import (
    NATIONAL,
    SubscriptionView,
    create_subscription,
    deliveries_of,
    disable_subscription,
    get_subscription,
    list_subscriptions,
    scope_of,
)
from warning_models.levels import Level

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])

SubscriptionId = Annotated[str, Path(max_length=36, description="subscription id")]
# The HTML living standard's "valid e-mail address": one address, no display name.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage}, 403: {"model": ErrorMessage},
    404: {"model": ErrorMessage, "description": "no such subscription"}}


@functools.cache
def known_adcodes() -> frozenset[str]:
    """Adcodes a subscription may name: the country, its provinces and counties."""
    boundaries = Boundaries.load()
    return frozenset({NATIONAL, *boundaries.provinces.adcode, *boundaries.counties.adcode})


def check_target(channel: str, target: str) -> str:
    """The target, checked for its channel; ValueError says what is wrong."""
    if channel == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(
                c.isspace() for c in target):
            raise ValueError("a webhook target must be an http:// or https:// URL with a host, "
                             f"got {target!r}")
    elif not _EMAIL.match(target):
        raise ValueError(f"an email target must be one e-mail address (name@domain), got {target!r}")
    return target


class SubscriptionBody(BaseModel):
    """A new subscription."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    adcode: str = Field(description="province (510000), county (513221) or 100000 for the "
                                    "national centre", examples=["510000"])
    min_level: str = Field("orange", description="lowest level notified: blue, yellow, orange, "
                                                 "red or a tier IV..I")
    channel: Literal["webhook", "email"]
    target: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=2048)] = Field(
        description="the webhook URL (http or https) or the e-mail address")

    @field_validator("adcode")
    @classmethod
    def _known_adcode(cls, value: str) -> str:
        if not (value.isdigit() and len(value) == 6):
            raise ValueError(f"an adcode has six digits (e.g. 510000), got {value!r}")
        if value not in known_adcodes():
            raise ValueError(f"{value} is not the adcode of a province or county of China "
                             "(or 100000 for the national centre)")
        return value

    @field_validator("min_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = Level.parse(value)
        if level == Level.NONE:
            raise ValueError("min_level must be a warning level (blue, yellow, orange, red)")
        return level.label

    @model_validator(mode="after")
    def _target(self) -> SubscriptionBody:
        check_target(self.channel, self.target)
        return self


class Subscription(BaseModel):
    id: str
    name: str
    adcode: str
    scope: Literal["national", "province", "county"]
    province_adcode: str | None
    min_level: str
    channel: Literal["webhook", "email"]
    target: str
    enabled: bool
    created_by: str
    created_at: str
    disabled_at: str | None


class CreatedSubscription(Subscription):
    secret: str | None = Field(description="webhook signing key, shown only in this response")


def subscription_manager(user: CurrentUser) -> Principal:
    """National and provincial officers manage subscriptions (within their scope)."""
    if user.role not in (Role.national_officer, Role.provincial_officer):
        raise RoleNotAllowed(f"{user.label} may not manage notification subscriptions "
                             "(national and provincial officers only)")
    return user


Manager = Annotated[Principal, Depends(subscription_manager)]


def check_subscription_scope(user: Principal, adcode: str) -> None:
    scope, province = scope_of(adcode)
    if scope == "national" and user.scope is not None:
        raise OutsideScope(f"{user.label} may not manage subscriptions of the national centre "
                           f"({NATIONAL}); national officers do")
    if province is not None and not user.allows({province}):
        raise OutsideScope(f"{user.label} may not manage notification subscriptions of "
                           f"{adcode} (province {province})")


def _json(view: SubscriptionView) -> dict[str, Any]:
    return asdict(view)


def _visible(session, user: Principal, subscription_id: str) -> SubscriptionView:
    view = get_subscription(session, subscription_id)
    if view is None:
        raise SubscriptionNotFound(subscription_id)
    check_subscription_scope(user, view.adcode)
    return view


@router.post("", status_code=201, response_class=OrjsonResponse,
             responses={201: {"model": CreatedSubscription}, **RESPONSES},
             summary="Subscribe a province, county or the national centre to warnings "
                     "(the webhook secret is shown once)")
def create(body: SubscriptionBody, user: Manager, sessions: SessionFactoryDep,
           clock: ClockDep) -> OrjsonResponse:
    check_subscription_scope(user, body.adcode)
    with session_scope(sessions) as session:
        view, secret = create_subscription(
            session, name=body.name, adcode=body.adcode, min_level=body.min_level,
            channel=body.channel, target=body.target, created_by=user.name, now=clock())
    return OrjsonResponse({**_json(view), "secret": secret}, status_code=201,
                          headers={"Location": f"/subscriptions/{view.id}"})


@router.get("", response_class=OrjsonResponse,
            responses={200: {"model": list[Subscription]}, **RESPONSES},
            summary="Subscriptions the caller may manage, newest first")
def list_route(user: Manager, session: SessionDep, page: PagingDep,
               enabled: Annotated[bool | None, Query(
                   description="only enabled (true) or disabled (false) ones")] = None
               ) -> OrjsonResponse:
    views = list_subscriptions(session, provinces=user.scope, enabled=enabled, limit=page.limit,
                               offset=page.offset)
    return OrjsonResponse({"items": [_json(v) for v in views], "limit": page.limit,
                           "offset": page.offset})


@router.get("/{subscription_id}", response_class=OrjsonResponse,
            responses={200: {"model": Subscription}, **RESPONSES}, summary="One subscription")
def read(subscription_id: SubscriptionId, user: Manager, session: SessionDep) -> OrjsonResponse:
    return OrjsonResponse(_json(_visible(session, user, subscription_id)))


@router.delete("/{subscription_id}", response_class=OrjsonResponse,
               responses={200: {"model": Subscription}, **RESPONSES},
               summary="Disable a subscription (its log is kept; pending deliveries fail)")
def disable(subscription_id: SubscriptionId, user: Manager, sessions: SessionFactoryDep,
            clock: ClockDep) -> OrjsonResponse:
    with session_scope(sessions, write_lock=True) as session:
        _visible(session, user, subscription_id)
        view = disable_subscription(session, subscription_id, now=clock())
    return OrjsonResponse(_json(view))


@router.get("/{subscription_id}/deliveries", response_class=OrjsonResponse,
            responses=RESPONSES, summary="The subscription's delivery log, newest first")
def deliveries(subscription_id: SubscriptionId, user: Manager, session: SessionDep,
               page: PagingDep,
               status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(
                   description="pending, delivered or failed")] = None) -> OrjsonResponse:
    _visible(session, user, subscription_id)
    rows = deliveries_of(session, subscription_id, status=status, limit=page.limit,
                         offset=page.offset)
    return OrjsonResponse({"items": [asdict(row) for row in rows], "limit": page.limit,
                           "offset": page.offset})
