"""Dependencies of the routes, as ``Annotated`` aliases.

The app factory puts the process-wide parts (engine, session factory, push
hub, broker probe) on ``app.state``; these functions hand them to routes, so
a route never reaches for settings or globals. ``HTTPConnection`` makes them
work for WebSocket routes as well.

Access: a route declares who may call it with ``Reader``, ``Officer``,
``Reviewer``, ``ReportReader``, ``Gateway`` (or ``CurrentUser`` / ``SocketReader``), and
then checks the scope of what it touches (``Principal.check_scope``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query
from fastapi.requests import HTTPConnection
from pydantic import BeforeValidator
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth.dependencies import (
    current_principal,
    require_act,
    require_publish,
    require_read,
    require_reports,
    require_review,
    websocket_reader,
)
from api.auth.roles import Principal
from api.broker_probe import BrokerProbe
from api.errors import RiskPointNotFound
from api.officers import AppProducer, LazyResolver
from api.params import (
    BBOX_FORMAT,
    check_window,
    parse_bbox,
    parse_levels,
    require_aware,
    restore_plus,
)
from api.push.hub import PushHub
from store.jurisdictions import JurisdictionResolver, point_jurisdictions
from store.lifecycle import LifecycleRules
from store.read import BBox
from streams.topics import Topics

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000


def get_engine(connection: HTTPConnection) -> Engine:
    return connection.app.state.engine


def get_session(connection: HTTPConnection) -> Iterator[Session]:
    """One session per request, read-only: nothing is committed."""
    session = connection.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


def get_session_factory(connection: HTTPConnection) -> sessionmaker[Session]:
    """For long-lived handlers (WebSockets) that must not hold a session open."""
    return connection.app.state.sessions


def get_hub(connection: HTTPConnection) -> PushHub:
    return connection.app.state.hub


def get_probe(connection: HTTPConnection) -> BrokerProbe:
    return connection.app.state.broker_probe


def get_clock(connection: HTTPConnection) -> Callable[[], datetime]:
    """The wall clock of officer actions and token expiry (tests inject their own)."""
    return connection.app.state.clock


def get_rules(connection: HTTPConnection) -> LifecycleRules:
    return connection.app.state.rules


def get_resolver(connection: HTTPConnection) -> JurisdictionResolver:
    resolver: LazyResolver = connection.app.state.jurisdictions
    return resolver.get()


def get_producer(connection: HTTPConnection) -> AppProducer:
    return connection.app.state.producer


def get_topics(connection: HTTPConnection) -> Topics:
    return connection.app.state.topics


CurrentUser = Annotated[Principal, Depends(current_principal)]
Reader = Annotated[Principal, Depends(require_read)]
Officer = Annotated[Principal, Depends(require_act)]
Reviewer = Annotated[Principal, Depends(require_review)]
ReportReader = Annotated[Principal, Depends(require_reports)]
Gateway = Annotated[Principal, Depends(require_publish)]
SocketReader = Annotated[Principal, Depends(websocket_reader)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
RulesDep = Annotated[LifecycleRules, Depends(get_rules)]
ResolverDep = Annotated[JurisdictionResolver, Depends(get_resolver)]
ProducerDep = Annotated[AppProducer, Depends(get_producer)]
TopicsDep = Annotated[Topics, Depends(get_topics)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def require_point_scope(
    connection: HTTPConnection, user: Reader,
    point_id: Annotated[str, Path(max_length=64, description="risk-point id")],
) -> Principal:
    """Read access to the risk point of the path: 404 if unknown, 403 outside the scope.

    For routes under /risk-points/{point_id}/... (also as a router dependency)."""
    with connection.app.state.sessions() as session:
        places = point_jurisdictions(session, point_id)
    if places is None:
        raise RiskPointNotFound(point_id)
    user.check_scope(places, "read", "risk points")
    return user


PointReader = Annotated[Principal, Depends(require_point_scope)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
HubDep = Annotated[PushHub, Depends(get_hub)]
ProbeDep = Annotated[BrokerProbe, Depends(get_probe)]


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT,
                                description=f"page size, at most {MAX_LIMIT}")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="items to skip; follow the `next` link "
                                                   "rather than computing it")] = 0,
) -> Paging:
    return Paging(limit, offset)


def bbox_param(
    bbox: Annotated[str | None, Query(
        description=f"`{BBOX_FORMAT}` in degrees (EPSG:4326); minLon > maxLon crosses "
                    "the antimeridian", examples=["102.0,28.0,106.0,32.5"])] = None,
) -> BBox | None:
    return None if bbox is None else parse_bbox(bbox)


def levels_param(
    level: Annotated[str | None, Query(
        description="current level(s) to keep, comma-separated: colours "
                    "(blue, yellow, orange, red) or tiers (IV, III, II, I)",
        examples=["orange,red", "II"])] = None,
) -> list[str] | None:
    return None if level is None else parse_levels("level", level)


@dataclass(frozen=True)
class TimeWindow:
    since: datetime | None
    until: datetime | None


def time_window(
    since: Annotated[datetime | None, BeforeValidator(restore_plus), Query(
        description="ISO 8601 with a time zone: keep warnings still in force at or after it",
        examples=["2026-07-01T00:00:00Z"])] = None,
    until: Annotated[datetime | None, BeforeValidator(restore_plus), Query(
        description="ISO 8601 with a time zone: keep warnings opened at or before it",
        examples=["2026-07-02T00:00:00+08:00"])] = None,
) -> TimeWindow:
    window = TimeWindow(require_aware("since", since), require_aware("until", until))
    check_window(window.since, window.until)
    return window


ProvinceQuery = Annotated[str | None, Query(
    description="province name as stored (e.g. 四川省) or its 6-digit adcode (e.g. 510000)")]

PagingDep = Annotated[Paging, Depends(paging)]
BBoxDep = Annotated[BBox | None, Depends(bbox_param)]
LevelsDep = Annotated[list[str] | None, Depends(levels_param)]
TimeWindowDep = Annotated[TimeWindow, Depends(time_window)]
