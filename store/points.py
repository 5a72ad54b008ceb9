"""The risk-point registry in the database: bulk upsert and the workers' lookups."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

import orjson
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from geo.registry import RiskPoint
from store.db import dialect_insert
from store.tables import RiskPointRow, SensorRow

T = TypeVar("T")

UPSERT_CHUNK = 5_000
"""Points per statement group: bounds memory and the size of ``IN (...)`` lists."""

_POINT_COLUMNS = ("name", "hazard_type", "lon", "lat", "geometry", "province", "province_adcode",
                  "county", "county_adcode", "threatened_people", "households")


@dataclass(frozen=True, slots=True)
class PointInfo:
    """What a worker needs to know about a point to label its outputs."""

    id: str
    hazard_type: str
    name: str
    province: str | None
    county: str | None
    lon: float
    lat: float
    threatened_people: int
    households: int


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def upsert_points(session: Session, points: Iterable[RiskPoint], *,
                  now: datetime | None = None) -> int:
    """Insert or update ``points`` (the last one wins for a repeated id); return how many.

    Each point's sensors are replaced by the ones given. ``created_at`` of an
    existing point is kept. Written in bulk (50,000 points in seconds): COPY
    into a temporary table on PostgreSQL, chunked executemany upserts on SQLite.
    """
    now = now or datetime.now(UTC)
    latest = {point.id: point for point in points}
    if not latest:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        _upsert_postgresql(session, list(latest.values()), now)
    else:
        for chunk in chunked(latest.values(), UPSERT_CHUNK):
            _upsert_chunk(session, chunk, now)
    return len(latest)


def _point_row(p: RiskPoint, now: datetime) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "hazard_type": str(p.hazard_type), "lon": p.lon,
            "lat": p.lat, "geometry": p.geometry, "province": p.province,
            "province_adcode": p.province_adcode, "county": p.county,
            "county_adcode": p.county_adcode, "threatened_people": p.threatened_people,
            "households": p.households, "created_at": now, "updated_at": now}


def _sensor_rows(p: RiskPoint) -> Iterator[tuple[str, str, str, str]]:
    """The point's sensors, one per sensor id (the last one wins)."""
    by_id = {s.sensor_id: s for s in p.sensors}
    for s in by_id.values():
        yield p.id, s.sensor_id, str(s.kind), s.unit


def _upsert_chunk(session: Session, chunk: Sequence[RiskPoint], now: datetime) -> None:
    """Portable path: one executemany ON CONFLICT upsert, then delete and insert sensors.

    Core statements on the session's connection: the ORM bulk path costs more
    than the database does.
    """
    table = RiskPointRow.__table__
    statement = dialect_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: statement.excluded[name] for name in (*_POINT_COLUMNS, "updated_at")},
    )
    connection = session.connection()
    connection.execute(statement, [_point_row(p, now) for p in chunk])
    sensor_table = SensorRow.__table__
    connection.execute(delete(sensor_table).where(sensor_table.c.point_id.in_([p.id for p in chunk])))
    sensors = [dict(zip(("point_id", "sensor_id", "kind", "unit"), row, strict=True))
               for p in chunk for row in _sensor_rows(p)]
    if sensors:
        connection.execute(insert(sensor_table), sensors)


_PG_COLUMNS = ("id", *_POINT_COLUMNS, "created_at", "updated_at")


def _upsert_postgresql(session: Session, points: Sequence[RiskPoint], now: datetime) -> None:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT from it.

    psycopg's executemany costs a round of Python work per row and SQLAlchemy's
    multi-row VALUES makes psycopg re-parse huge statements; COPY is ~5x faster.
    """
    columns = ", ".join(_PG_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in (*_POINT_COLUMNS, "updated_at"))
    session.execute(text("CREATE TEMPORARY TABLE _geowarn_points_in "
                         "(LIKE risk_points INCLUDING DEFAULTS) ON COMMIT DROP"))
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY _geowarn_points_in ({columns}) FROM STDIN") as copy:
            for p in points:
                copy.write_row((p.id, p.name, str(p.hazard_type), p.lon, p.lat,
                                orjson.dumps(p.geometry).decode(), p.province, p.province_adcode,
                                p.county, p.county_adcode, p.threatened_people, p.households,
                                now, now))
        cursor.execute(f"INSERT INTO risk_points ({columns}) SELECT {columns} "
                       f"FROM _geowarn_points_in ON CONFLICT (id) DO UPDATE SET {updates}")
        cursor.execute("DELETE FROM sensors USING _geowarn_points_in AS incoming "
                       "WHERE sensors.point_id = incoming.id")
        with cursor.copy("COPY sensors (point_id, sensor_id, kind, unit) FROM STDIN") as copy:
            for p in points:
                for row in _sensor_rows(p):
                    copy.write_row(row)
        cursor.execute("DROP TABLE _geowarn_points_in")
    finally:
        cursor.close()


def point_ids(session: Session) -> set[str]:
    return set(session.scalars(select(RiskPointRow.id)))


def count_points(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RiskPointRow)) or 0


def load_point_index(session: Session, ids: Iterable[str] | None = None) -> dict[str, PointInfo]:
    """id -> PointInfo for every point (or only ``ids``), read column-wise without ORM objects."""
    columns = (RiskPointRow.id, RiskPointRow.hazard_type, RiskPointRow.name, RiskPointRow.province,
               RiskPointRow.county, RiskPointRow.lon, RiskPointRow.lat,
               RiskPointRow.threatened_people, RiskPointRow.households)
    if ids is None:
        rows = session.execute(select(*columns))
        return {row[0]: PointInfo(*row) for row in rows}
    index: dict[str, PointInfo] = {}
    for chunk in chunked(set(ids), UPSERT_CHUNK):
        for row in session.execute(select(*columns).where(RiskPointRow.id.in_(chunk))):
            index[row[0]] = PointInfo(*row)
    return index


def hazard_types(session: Session) -> dict[str, str]:
    """id -> hazard type of every point: the scorer's registry of known points."""
    return {row[0]: row[1] for row in session.execute(select(RiskPointRow.id, RiskPointRow.hazard_type))}


def load_risk_points(session: Session) -> list[RiskPoint]:
    """Every point with its sensors, as domain objects (for the simulator and exports)."""
    sensors: dict[str, list[dict[str, str]]] = {}
    for point_id, sensor_id, kind, unit in session.execute(
            select(SensorRow.point_id, SensorRow.sensor_id, SensorRow.kind, SensorRow.unit)):
        sensors.setdefault(point_id, []).append({"sensor_id": sensor_id, "kind": kind, "unit": unit})
    columns = (RiskPointRow.id, *(getattr(RiskPointRow, name) for name in _POINT_COLUMNS))
    points = []
    for row in session.execute(select(*columns).order_by(RiskPointRow.id)):
        fields = dict(zip(("id", *_POINT_COLUMNS), row, strict=True))
        points.append(RiskPoint(**fields, sensors=sensors.get(fields["id"], [])))
    return points
