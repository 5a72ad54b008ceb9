"""Read queries of the open-standard interfaces: OGC API – Features and the CAP feed.

``store.read`` serves the console's own routes; the standards need a few
more shapes: warnings filtered by a box and hazard type, the extents a
collection advertises, and warning transitions read as a stream of CAP
messages (newest first) together with what a CAP area needs of the point
(geometry, adcodes). The filters reuse ``store.read``'s clauses so that a
province or a box means the same thing on every route.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.jurisdictions import (
    jurisdictions_of,
    point_jurisdictions,
    warning_scope_clause,
)
from store.points import chunked
from store.read import (
    _TRANSITION_COLUMNS,
    ACTIVE,
    ID_CHUNK,
    BBox,
    TransitionView,
    WarningView,
    _bbox_clause,
    _filter_warnings,
    _page,
    _warning_page,
    _warnings_at_points,
)
from store.tables import RiskPointRow, WarningRow, WarningTransitionRow

# -- OGC API – Features ----------------------------------------------------------


def query_warnings(session: Session, *, bbox: BBox | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   status: str | None = None, level: Sequence[str] | None = None,
                   hazard_type: str | None = None, province: str | None = None,
                   point_id: str | None = None, limit: int = 10, offset: int = 0,
                   scope: Collection[str] | None = None) -> tuple[list[WarningView], int]:
    """One page of warnings (active and lifted unless ``status`` says), newest first.

    ``bbox`` applies to the warning's point; ``since``/``until`` keep the
    warnings in force at some time in that closed window (an open end is
    None), as ``store.read.list_warnings`` does; ``scope`` (adcodes) keeps
    the warnings that concern those provinces.
    """
    statement = _filter_warnings(_warnings_at_points(), scope=scope, status=status, level=level,
                                 province=province, point_id=point_id, since=since, until=until)
    if bbox is not None:
        statement = statement.where(_bbox_clause(bbox))
    if hazard_type is not None:
        statement = statement.where(WarningRow.hazard_type == hazard_type)
    return _warning_page(session, statement, limit, offset)


def point_in_scope(session: Session, point_id: str, scope: Collection[str] | None) -> bool:
    """Whether the point concerns ``scope`` (adcodes; None, the whole country: always)."""
    if scope is None:
        return True
    return bool(set(scope) & (point_jurisdictions(session, point_id) or set()))


def warning_in_scope(session: Session, warning_id: str, scope: Collection[str] | None) -> bool:
    """Whether the warning concerns ``scope`` (adcodes; None, the whole country: always)."""
    if scope is None:
        return True
    return bool(set(scope) & jurisdictions_of(session, [warning_id]).get(warning_id, set()))


def points_extent(session: Session) -> BBox | None:
    """The lon/lat box of every risk point's representative location; None when there are none."""
    row = session.execute(select(func.min(RiskPointRow.lon), func.min(RiskPointRow.lat),
                                 func.max(RiskPointRow.lon), func.max(RiskPointRow.lat))).one()
    return None if row[0] is None else BBox(*row)


@dataclass(frozen=True, slots=True)
class TimeExtent:
    start: datetime | None
    end: datetime | None
    """None while a warning is still in force: the interval is open at the end."""


def warnings_extent(session: Session) -> tuple[BBox | None, TimeExtent | None]:
    """The box of the warned points and the time from the first opening to the last lifting."""
    joined = (select(func.min(RiskPointRow.lon), func.min(RiskPointRow.lat),
                     func.max(RiskPointRow.lon), func.max(RiskPointRow.lat),
                     func.min(WarningRow.opened_at), func.max(WarningRow.lifted_at),
                     func.count().filter(WarningRow.status == ACTIVE))
              .select_from(WarningRow)
              .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id))
    min_lon, min_lat, max_lon, max_lat, start, last_lift, active = session.execute(joined).one()
    if min_lon is None:
        return None, None
    return (BBox(min_lon, min_lat, max_lon, max_lat),
            TimeExtent(start, None if active else last_lift))


# -- CAP -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapWarning:
    """A warning with its point's location and codes and its transitions, oldest first."""

    id: str
    point_id: str
    point_name: str
    hazard_type: str
    level: str
    status: str
    lon: float
    lat: float
    geometry: dict
    province: str | None
    province_adcode: str | None
    county: str | None
    county_adcode: str | None
    threatened_people: int
    households: int
    model: str
    model_version: str
    transitions: tuple[TransitionView, ...] = ()


_CAP_WARNING_COLUMNS = (
    WarningRow.id, WarningRow.point_id, RiskPointRow.name, WarningRow.hazard_type,
    WarningRow.level, WarningRow.status, RiskPointRow.lon, RiskPointRow.lat,
    RiskPointRow.geometry, WarningRow.province, RiskPointRow.province_adcode,
    WarningRow.county, RiskPointRow.county_adcode, RiskPointRow.threatened_people,
    RiskPointRow.households, WarningRow.model, WarningRow.model_version,
)

_MESSAGE_ORDER = (WarningTransitionRow.recorded_at.desc(), WarningTransitionRow.id.desc())
"""Newest message first; the id breaks ties so that pages never overlap."""


def cap_message_page(session: Session, *, limit: int, offset: int,
                     scope: Collection[str] | None = None) -> tuple[list[tuple[str, str]], int]:
    """(warning id, transition id) of one page of CAP messages, newest first, and the total.

    Every transition of a warning the ledger opened is a message: the
    lifecycle's "issued" step will narrow this here, in one place. ``scope``
    (adcodes) keeps the messages of the warnings that concern those provinces.
    """
    statement = select(WarningTransitionRow.warning_id, WarningTransitionRow.id)
    if scope is not None:
        statement = (statement.join(WarningRow, WarningRow.id == WarningTransitionRow.warning_id)
                     .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id)
                     .where(warning_scope_clause(scope)))
    rows, total = _page(session, statement, _MESSAGE_ORDER, limit, offset)
    return [(row.warning_id, row.id) for row in rows], total


def cap_warnings(session: Session, warning_ids: Iterable[str]) -> dict[str, CapWarning]:
    """The warnings with the given ids (missing ids are absent), each with all its transitions."""
    ids = sorted(set(warning_ids))
    found: dict[str, tuple] = {}
    transitions: dict[str, list[TransitionView]] = defaultdict(list)
    connection = session.connection()
    for chunk in chunked(ids, ID_CHUNK):
        rows = connection.execute(
            select(*_CAP_WARNING_COLUMNS)
            .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id)
            .where(WarningRow.id.in_(chunk)))
        found.update((row[0], tuple(row)) for row in rows)
        steps = connection.execute(
            select(WarningTransitionRow.warning_id, *_TRANSITION_COLUMNS)
            .where(WarningTransitionRow.warning_id.in_(chunk))
            .order_by(WarningTransitionRow.warning_id, WarningTransitionRow.observed_at,
                      WarningTransitionRow.recorded_at, WarningTransitionRow.id))
        for warning_id, *columns in steps:
            transitions[warning_id].append(TransitionView(*columns))
    return {id_: CapWarning(*row, transitions=tuple(transitions.get(id_, ())))
            for id_, row in found.items()}


def cap_warning(session: Session, warning_id: str) -> CapWarning | None:
    return cap_warnings(session, [warning_id]).get(warning_id)
