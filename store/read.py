"""Read-side queries of the API: risk points with their current level, warnings
and their transitions.

Kept apart from the writers (points, ledger, progress) so that the API's
filters and paging can change without touching the code that records
warnings. Every query is portable across SQLite and PostgreSQL and pages in
a stable order, so that following ``next`` links never skips or repeats a row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from store.jurisdictions import point_scope_clause, warning_scope_clause
from store.points import chunked
from store.tables import PointStatusRow, RiskPointRow, SensorRow, WarningRow, WarningTransitionRow

WarningStatus = Literal["active", "history", "all"]
ACTIVE = "active"
LIFTED = "lifted"
ID_CHUNK = 2_000
"""Ids per ``IN (...)`` list, far below SQLite's and PostgreSQL's parameter limits."""


@dataclass(frozen=True, slots=True)
class BBox:
    """A lon/lat box (EPSG:4326). ``min_lon > max_lon`` crosses the antimeridian (RFC 7946 §5.2)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True, slots=True)
class SensorView:
    sensor_id: str
    kind: str
    unit: str


@dataclass(frozen=True, slots=True)
class PointView:
    """A risk point with the level of its active warning ("none" without one).

    ``sensor_status`` (ok, degraded, no_data) and ``offline_sensors`` are the
    sensor health of its newest assessment, None before one was recorded.
    """

    id: str
    name: str
    hazard_type: str
    lon: float
    lat: float
    geometry: dict
    province: str | None
    province_adcode: str | None
    county: str | None
    county_adcode: str | None
    threatened_people: int
    households: int
    level: str
    warning_id: str | None
    sensor_status: str | None = None
    offline_sensors: list[str] | None = None
    sensors: tuple[SensorView, ...] = ()


@dataclass(frozen=True, slots=True)
class TransitionView:
    id: str
    kind: str
    from_level: str
    to_level: str
    observed_at: datetime
    recorded_at: datetime
    published_at: datetime | None
    assessment_id: str
    model: str
    model_version: str
    evidence: list


@dataclass(frozen=True, slots=True)
class WarningView:
    """A warning with what a map needs of its point.

    ``evidence`` and ``transitions`` are loaded by ``get_warning`` only.
    """

    id: str
    point_id: str
    point_name: str
    level: str
    status: str
    hazard_type: str
    province: str | None
    county: str | None
    lon: float
    lat: float
    threatened_people: int
    households: int
    opened_at: datetime
    updated_at: datetime
    lifted_at: datetime | None
    model: str
    model_version: str
    evidence: list | None = None
    transitions: tuple[TransitionView, ...] | None = None


def is_adcode(value: str) -> bool:
    """Chinese administrative division codes are all digits (e.g. 510000 for Sichuan)."""
    return value.isdigit()


def _province_clause(value: str, name_column, adcode_column=RiskPointRow.province_adcode
                     ) -> ColumnElement[bool]:
    return adcode_column == value if is_adcode(value) else name_column == value


def _bbox_clause(bbox: BBox) -> ColumnElement[bool]:
    lat = RiskPointRow.lat.between(bbox.min_lat, bbox.max_lat)
    if bbox.min_lon <= bbox.max_lon:
        return and_(RiskPointRow.lon.between(bbox.min_lon, bbox.max_lon), lat)
    return and_(or_(RiskPointRow.lon >= bbox.min_lon, RiskPointRow.lon <= bbox.max_lon), lat)


def _page(session: Session, statement: Select, order_by: Sequence, limit: int, offset: int
          ) -> tuple[list[Row], int]:
    connection = session.connection()  # Core execution: no ORM result processing per row
    total = connection.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = connection.execute(statement.order_by(*order_by).limit(limit).offset(offset)).all()
    return list(rows), total or 0


# Rows are read as plain columns, not ORM objects: a page of 10,000 points with
# their sensors would otherwise spend seconds building and tracking instances.
# Each column list is in the field order of its view, which is built positionally.
_POINT_COLUMNS = (
    RiskPointRow.id, RiskPointRow.name, RiskPointRow.hazard_type, RiskPointRow.lon,
    RiskPointRow.lat, RiskPointRow.geometry, RiskPointRow.province, RiskPointRow.province_adcode,
    RiskPointRow.county, RiskPointRow.county_adcode, RiskPointRow.threatened_people,
    RiskPointRow.households,
)


def _points_with_level() -> Select:
    active = and_(WarningRow.point_id == RiskPointRow.id, WarningRow.status == ACTIVE)
    return (select(*_POINT_COLUMNS, func.coalesce(WarningRow.level, "none").label("level"),
                   WarningRow.id.label("warning_id"),
                   PointStatusRow.status.label("sensor_status"),
                   PointStatusRow.offline_sensors.label("offline_sensors"))
            .outerjoin(WarningRow, active)
            .outerjoin(PointStatusRow, PointStatusRow.point_id == RiskPointRow.id))


def _with_sensors(session: Session, rows: Sequence[Row]) -> list[PointView]:
    sensors: dict[str, list[SensorView]] = defaultdict(list)
    ids = [row.id for row in rows]
    for chunk in chunked(ids, ID_CHUNK):
        query = (select(SensorRow.point_id, SensorRow.sensor_id, SensorRow.kind, SensorRow.unit)
                 .where(SensorRow.point_id.in_(chunk))
                 .order_by(SensorRow.point_id, SensorRow.sensor_id))
        for point_id, sensor_id, kind, unit in session.connection().execute(query).all():
            sensors[point_id].append(SensorView(sensor_id, kind, unit))
    return [PointView(*row, sensors=tuple(sensors.get(row.id, ()))) for row in rows]


def query_points(session: Session, *, bbox: BBox | None = None, province: str | None = None,
                 hazard_type: str | None = None, limit: int = 1000, offset: int = 0,
                 scope: Collection[str] | None = None) -> tuple[list[PointView], int]:
    """One page of risk points (ordered by id) and how many match in total.

    ``province`` is a province name or its adcode. ``scope`` (adcodes) keeps
    the points of those provinces and those whose active warning concerns them.
    """
    statement = _points_with_level()
    if scope is not None:
        statement = statement.where(point_scope_clause(scope))
    if bbox is not None:
        statement = statement.where(_bbox_clause(bbox))
    if province is not None:
        statement = statement.where(_province_clause(province, RiskPointRow.province))
    if hazard_type is not None:
        statement = statement.where(RiskPointRow.hazard_type == hazard_type)
    rows, total = _page(session, statement, (RiskPointRow.id,), limit, offset)
    return _with_sensors(session, rows), total


def get_point(session: Session, point_id: str) -> PointView | None:
    row = session.execute(_points_with_level().where(RiskPointRow.id == point_id)).first()
    return None if row is None else _with_sensors(session, [row])[0]


_WARNING_COLUMNS = (
    WarningRow.id, WarningRow.point_id, RiskPointRow.name.label("point_name"), WarningRow.level,
    WarningRow.status, WarningRow.hazard_type, WarningRow.province, WarningRow.county,
    RiskPointRow.lon, RiskPointRow.lat, RiskPointRow.threatened_people, RiskPointRow.households,
    WarningRow.opened_at, WarningRow.updated_at, WarningRow.lifted_at, WarningRow.model,
    WarningRow.model_version,
)


def _warnings_at_points(*extra) -> Select:
    return (select(*_WARNING_COLUMNS, *extra)
            .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id))


def list_warnings(session: Session, *, status: WarningStatus = "active",
                  level: Sequence[str] | None = None, province: str | None = None,
                  point_id: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100, offset: int = 0,
                  scope: Collection[str] | None = None) -> tuple[list[WarningView], int]:
    """One page of warnings, newest opening first, and how many match in total.

    ``status``: active, history (lifted) or all. ``level``: current levels
    (colour names) to keep. ``since``/``until`` keep the warnings in force at
    any time in that window: opened no later than ``until`` and not lifted
    before ``since``. ``scope`` (adcodes) keeps the warnings that concern them.
    """
    stored_status = {"active": ACTIVE, "history": LIFTED}.get(status)
    statement = _filter_warnings(_warnings_at_points(), scope=scope, status=stored_status,
                                 level=level, province=province, point_id=point_id,
                                 since=since, until=until)
    return _warning_page(session, statement, limit, offset)


def _filter_warnings(statement: Select, *, scope: Collection[str] | None, status: str | None,
                     level: Sequence[str] | None, province: str | None, point_id: str | None,
                     since: datetime | None, until: datetime | None) -> Select:
    """The warning filters shared by the REST and OGC queries.

    ``since``/``until`` keep the warnings in force at any time in that window:
    opened no later than ``until`` and not lifted before ``since``.
    """
    if scope is not None:
        statement = statement.where(warning_scope_clause(scope))
    if status is not None:
        statement = statement.where(WarningRow.status == status)
    if level:
        statement = statement.where(WarningRow.level.in_(list(level)))
    if province is not None:
        statement = statement.where(_province_clause(province, WarningRow.province))
    if point_id is not None:
        statement = statement.where(WarningRow.point_id == point_id)
    if since is not None:
        statement = statement.where(
            or_(WarningRow.lifted_at.is_(None), WarningRow.lifted_at >= since))
    if until is not None:
        statement = statement.where(WarningRow.opened_at <= until)
    return statement


def _warning_page(session: Session, statement: Select, limit: int,
                  offset: int) -> tuple[list[WarningView], int]:
    rows, total = _page(session, statement, (WarningRow.opened_at.desc(), WarningRow.id),
                        limit, offset)
    return [WarningView(*row) for row in rows], total


_TRANSITION_COLUMNS = (
    WarningTransitionRow.id, WarningTransitionRow.kind, WarningTransitionRow.from_level,
    WarningTransitionRow.to_level, WarningTransitionRow.observed_at,
    WarningTransitionRow.recorded_at, WarningTransitionRow.published_at,
    WarningTransitionRow.assessment_id, WarningTransitionRow.model,
    WarningTransitionRow.model_version, WarningTransitionRow.evidence,
)


def get_warning(session: Session, warning_id: str) -> WarningView | None:
    """A warning with its evidence and its transitions, oldest first."""
    statement = _warnings_at_points(WarningRow.evidence).where(WarningRow.id == warning_id)
    row = session.execute(statement).first()
    if row is None:
        return None
    transitions = session.execute(
        select(*_TRANSITION_COLUMNS).where(WarningTransitionRow.warning_id == warning_id)
        .order_by(WarningTransitionRow.observed_at, WarningTransitionRow.recorded_at,
                  WarningTransitionRow.id))
    return WarningView(**row._mapping,
                       transitions=tuple(TransitionView(**t._mapping) for t in transitions))


def province_names(session: Session, adcode: str) -> list[str]:
    """The province name(s) recorded for an adcode, for filters on data that carries names only."""
    statement = (select(RiskPointRow.province).distinct()
                 .where(RiskPointRow.province_adcode == adcode, RiskPointRow.province.is_not(None)))
    return list(session.scalars(statement))
