"""Reading history for charts: bucket aggregates, the level timeline, retention.

Writes. Readings arrive as aggregates of epoch-aligned buckets (see
``ReadingAggregateRow``); ``upsert_aggregates`` merges them into the stored
bucket: counts and sums add, min and max combine, the newest reading wins
the ``last`` fields (on equal event times the incoming one, i.e. arrival
order). That merge is exact for disjoint inputs but would count a reading
twice if the same input were merged twice, so duplicates are kept out
upstream instead of being detected per reading: the history worker applies
a batch only past the offsets recorded in ``history_offsets`` and advances
them in the same transaction (``lock_offsets`` / ``advance_offsets``). A
redelivered batch (crash between the database and the Kafka commit, or a
rebalance) is thereby skipped, and the database holds each record exactly
once. ``record_levels`` is idempotent on its own (keyed by assessment id).

Sensor health. ``record_point_status`` keeps, per point, the status and the
offline and stuck sensors that its newest assessment states (``point_status``),
written with the levels: an assessment older than the stored one (event time,
then assessment id) changes nothing, so a replay or a late delivery never
moves a point's health backwards.

Reads. ``read_series`` returns, per sensor, the stored buckets in a range
merged into at most ``max_samples`` samples, plus the level timeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from store.db import dialect_insert
from store.points import chunked
from store.tables import (
    HistoryOffsetRow,
    LevelTimelineRow,
    PointStatusRow,
    ReadingAggregateRow,
)
from streams.schemas import Assessment

DEFAULT_BUCKET_SECONDS = 600
"""Width of a stored bucket unless configured otherwise (10 minutes)."""
WRITE_CHUNK = 5_000
"""Rows per executemany: bounds memory and statement size."""

TopicPartitionKey = tuple[str, int]
"""(topic, partition)."""


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The readings of one series that fall in one bucket; values in the kind's canonical unit."""

    point_id: str
    sensor_id: str
    kind: str
    bucket_start: datetime
    n: int
    total: float
    min_value: float
    max_value: float
    last_value: float
    last_at: datetime

    @property
    def key(self) -> tuple[str, str, datetime, str]:
        return self.point_id, self.kind, self.bucket_start, self.sensor_id

    def merge(self, other: Aggregate) -> Aggregate:
        """Both buckets' readings as one (the same rule as the database merge)."""
        newer = other.last_at >= self.last_at
        return Aggregate(self.point_id, self.sensor_id, self.kind, self.bucket_start,
                         self.n + other.n, self.total + other.total,
                         min(self.min_value, other.min_value), max(self.max_value, other.max_value),
                         other.last_value if newer else self.last_value,
                         other.last_at if newer else self.last_at)


def bucket_start(observed_at: datetime, bucket_seconds: int = DEFAULT_BUCKET_SECONDS) -> datetime:
    """Start of the epoch-aligned bucket holding ``observed_at`` (aware)."""
    seconds = math.floor(observed_at.timestamp() / bucket_seconds) * bucket_seconds
    return datetime.fromtimestamp(seconds, UTC)


# --- writes -------------------------------------------------------------------------------

def upsert_aggregates(session: Session, rows: Iterable[Aggregate]) -> int:
    """Merge ``rows`` into the stored buckets; return how many buckets were written.

    Rows sharing a bucket are merged first, then written in bucket order
    (COPY and one merging INSERT on PostgreSQL, an executemany upsert on
    SQLite). Not idempotent by itself: the caller makes sure an input is
    applied once (see the module docstring). The caller commits.
    """
    merged: dict[tuple, Aggregate] = {}
    for row in rows:
        seen = merged.get(row.key)
        merged[row.key] = row if seen is None else seen.merge(row)
    if not merged:
        return 0
    ordered = sorted(merged.values(), key=lambda r: r.key)  # one lock order for every writer
    if session.get_bind().dialect.name == "postgresql":
        _upsert_postgresql(session, ordered)
        return len(ordered)
    table = ReadingAggregateRow.__table__
    statement = dialect_insert(session, table)
    stored, incoming = table.c, statement.excluded
    newer = incoming.last_at >= stored.last_at
    statement = statement.on_conflict_do_update(
        index_elements=[stored.point_id, stored.kind, stored.bucket_start, stored.sensor_id],
        set_={"n": stored.n + incoming.n, "total": stored.total + incoming.total,
              "min_value": func.min(stored.min_value, incoming.min_value),  # SQLite's scalar
              "max_value": func.max(stored.max_value, incoming.max_value),  # min() and max()
              "last_value": case((newer, incoming.last_value), else_=stored.last_value),
              "last_at": case((newer, incoming.last_at), else_=stored.last_at)})
    connection = session.connection()
    for chunk in chunked(ordered, WRITE_CHUNK):
        connection.execute(statement, [
            {"point_id": r.point_id, "kind": r.kind, "bucket_start": r.bucket_start,
             "sensor_id": r.sensor_id, "n": r.n, "total": r.total, "min_value": r.min_value,
             "max_value": r.max_value, "last_value": r.last_value, "last_at": r.last_at}
            for r in chunk])
    return len(ordered)


_COLUMNS = ("point_id", "kind", "bucket_start", "sensor_id", "n", "total", "min_value",
            "max_value", "last_value", "last_at")
_PG_MERGE = """
INSERT INTO reading_aggregates AS stored ({columns})
SELECT {columns} FROM _geowarn_aggregates_in ORDER BY point_id, kind, bucket_start, sensor_id
ON CONFLICT (point_id, kind, bucket_start, sensor_id) DO UPDATE SET
    n = stored.n + EXCLUDED.n,
    total = stored.total + EXCLUDED.total,
    min_value = LEAST(stored.min_value, EXCLUDED.min_value),
    max_value = GREATEST(stored.max_value, EXCLUDED.max_value),
    last_value = CASE WHEN EXCLUDED.last_at >= stored.last_at
                      THEN EXCLUDED.last_value ELSE stored.last_value END,
    last_at = GREATEST(stored.last_at, EXCLUDED.last_at)
""".format(columns=", ".join(_COLUMNS))


def _upsert_postgresql(session: Session, rows: Sequence[Aggregate]) -> None:
    """COPY into a temporary table, then one merging INSERT ... ON CONFLICT from it.

    The same merge as the SQLite path, with far less Python per row: psycopg's
    executemany and SQLAlchemy's per-row parameter processing cost more than
    the database does (as in ``store.points``).
    """
    session.execute(text("CREATE TEMPORARY TABLE _geowarn_aggregates_in "
                         "(LIKE reading_aggregates INCLUDING DEFAULTS) ON COMMIT DROP"))
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY _geowarn_aggregates_in ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.point_id, r.kind, r.bucket_start, r.sensor_id, r.n, r.total,
                                r.min_value, r.max_value, r.last_value, r.last_at))
        cursor.execute(_PG_MERGE)
        cursor.execute("DROP TABLE _geowarn_aggregates_in")
    finally:
        cursor.close()


def record_levels(session: Session, assessments: Iterable[Assessment]) -> int:
    """Add each assessment's level to its point's timeline; return how many were given.

    Idempotent: an assessment already recorded (same id) is left as it is.
    """
    rows = {a.assessment_id: {"assessment_id": a.assessment_id, "point_id": a.point_id,
                              "observed_at": a.observed_at, "level": a.level, "model": a.model,
                              "model_version": a.model_version} for a in assessments}
    if not rows:
        return 0
    table = LevelTimelineRow.__table__
    statement = dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=[table.c.assessment_id])
    for chunk in chunked(rows.values(), WRITE_CHUNK):
        session.connection().execute(statement, chunk)
    return len(rows)


OFFLINE_INDICATOR = "sensor_offline"
STUCK_INDICATOR = "sensor_stuck"


@dataclass(frozen=True, slots=True)
class SensorHealth:
    """A point's sensor health as one assessment states it."""

    point_id: str
    status: str
    offline_sensors: tuple[str, ...]
    stuck_sensors: tuple[str, ...]
    observed_at: datetime
    assessment_id: str

    @classmethod
    def of(cls, assessment: Assessment) -> SensorHealth:
        """The sensors the evidence names offline or stuck (by indicator or sensor status).

        An assessment without a status (from a scorer before statuses) counts
        as degraded when a sensor is offline or stuck and ok otherwise.
        """
        evidence = assessment.evidence
        offline = sorted({i.sensor_id for i in evidence
                          if i.name == OFFLINE_INDICATOR or i.status == "offline"})
        stuck = sorted({i.sensor_id for i in evidence
                        if i.name == STUCK_INDICATOR or i.status == "stuck"})
        status = assessment.status or ("degraded" if offline or stuck else "ok")
        return cls(assessment.point_id, status, tuple(offline), tuple(stuck),
                   assessment.observed_at, assessment.assessment_id)

    @property
    def order(self) -> tuple[datetime, str]:
        return self.observed_at, self.assessment_id


def record_point_status(session: Session, assessments: Iterable[Assessment], *,
                        at: datetime | None = None) -> int:
    """Store each point's sensor health from its newest assessment; return how many points.

    A stored status is replaced only by a newer assessment (later event time,
    or the same with a greater assessment id), so applying assessments twice
    or out of order leaves the newest one in place. The caller commits.
    """
    newest: dict[str, SensorHealth] = {}
    for assessment in assessments:
        health = SensorHealth.of(assessment)
        seen = newest.get(health.point_id)
        if seen is None or health.order > seen.order:
            newest[health.point_id] = health
    if not newest:
        return 0
    at = at or datetime.now(UTC)
    table = PointStatusRow.__table__
    statement = dialect_insert(session, table)
    stored, incoming = table.c, statement.excluded
    is_newer = or_(incoming.observed_at > stored.observed_at,
                   and_(incoming.observed_at == stored.observed_at,
                        incoming.assessment_id > stored.assessment_id))
    columns = ("status", "offline_sensors", "stuck_sensors", "observed_at", "assessment_id",
               "updated_at")
    statement = statement.on_conflict_do_update(
        index_elements=[stored.point_id], set_={c: incoming[c] for c in columns}, where=is_newer)
    rows = [{"point_id": h.point_id, "status": h.status, "offline_sensors": list(h.offline_sensors),
             "stuck_sensors": list(h.stuck_sensors), "observed_at": h.observed_at,
             "assessment_id": h.assessment_id, "updated_at": at}
            for h in sorted(newest.values(), key=lambda h: h.point_id)]  # one lock order
    for chunk in chunked(rows, WRITE_CHUNK):
        session.connection().execute(statement, chunk)
    return len(rows)


def lock_offsets(session: Session, group: str, partitions: Iterable[TopicPartitionKey]
                 ) -> dict[TopicPartitionKey, int]:
    """The next offset to apply per partition (0 if none yet), locked until the caller commits.

    Missing rows are inserted first so that there is always a row to lock:
    two writers racing for the same partition (during a rebalance) then
    queue on it, and the second sees what the first applied. On SQLite the
    caller's ``BEGIN IMMEDIATE`` serialises writers instead.
    """
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    table = HistoryOffsetRow.__table__
    now = datetime.now(UTC)
    session.connection().execute(
        dialect_insert(session, table).on_conflict_do_nothing(),
        [{"consumer_group": group, "topic": topic, "partition": partition, "next_offset": 0,
          "updated_at": now} for topic, partition in wanted])
    by_topic: dict[str, list[int]] = {}
    for topic, partition in wanted:
        by_topic.setdefault(topic, []).append(partition)
    mine = or_(*(and_(table.c.topic == topic, table.c.partition.in_(partitions))
                 for topic, partitions in by_topic.items()))
    query = (select(table.c.topic, table.c.partition, table.c.next_offset)
             .where(table.c.consumer_group == group, mine)
             .order_by(table.c.topic, table.c.partition)
             .with_for_update())
    stored = {(topic, partition): offset
              for topic, partition, offset in session.connection().execute(query)}
    return {key: stored[key] for key in wanted}


def advance_offsets(session: Session, group: str, offsets: Mapping[TopicPartitionKey, int],
                    *, at: datetime | None = None) -> None:
    """Record that everything before ``offsets`` is applied (call after ``lock_offsets``)."""
    table = HistoryOffsetRow.__table__
    at = at or datetime.now(UTC)
    for (topic, partition), offset in sorted(offsets.items()):
        session.connection().execute(
            update(table)
            .where(table.c.consumer_group == group, table.c.topic == topic,
                   table.c.partition == partition, table.c.next_offset < offset)
            .values(next_offset=offset, updated_at=at))


def read_offsets(session: Session, group: str) -> dict[TopicPartitionKey, int]:
    """Every partition's next offset to apply, for seeking when partitions are assigned."""
    table = HistoryOffsetRow.__table__
    query = select(table.c.topic, table.c.partition, table.c.next_offset).where(
        table.c.consumer_group == group)
    return {(topic, partition): offset
            for topic, partition, offset in session.connection().execute(query)}


@dataclass(frozen=True, slots=True)
class Pruned:
    aggregates: int
    levels: int


def prune(session: Session, older_than: datetime) -> Pruned:
    """Delete buckets starting and levels observed before ``older_than`` (retention)."""
    buckets = session.execute(delete(ReadingAggregateRow)
                              .where(ReadingAggregateRow.bucket_start < older_than)
                              .execution_options(synchronize_session=False)).rowcount
    levels = session.execute(delete(LevelTimelineRow)
                             .where(LevelTimelineRow.observed_at < older_than)
                             .execution_options(synchronize_session=False)).rowcount
    return Pruned(buckets, levels)


def clear_history(session: Session) -> None:
    """Forget all history and the offsets applied (for a broker that starts empty, as in the demo).

    The offsets name positions in the old broker's logs; kept across a broker
    reset, they would make the writer skip the new broker's first records. The sensor
    health goes too: the new broker's earlier event times could not replace it.
    """
    for table in (HistoryOffsetRow, LevelTimelineRow, ReadingAggregateRow, PointStatusRow):
        session.execute(delete(table))


# --- reads --------------------------------------------------------------------------------

_NICE_WIDTHS_S = (60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10_800, 14_400, 21_600,
                  28_800, 43_200, 86_400, 172_800, 259_200, 604_800)


def sample_width(span: timedelta, max_samples: int) -> int:
    """Width (s) of epoch-aligned groups so that a range of ``span`` has at most ``max_samples``.

    A range of length S meets at most ceil(S / w) + 1 groups of width w, so
    w >= S / (max_samples - 1) suffices; it is rounded up to a width that
    reads well on a time axis (1, 2, 5, 10 ... minutes, hours, days).
    """
    if max_samples < 2:
        raise ValueError("max_samples must be at least 2 to group by width")
    need = span.total_seconds() / (max_samples - 1)
    for width in _NICE_WIDTHS_S:
        if width >= need:
            return width
    return math.ceil(need / 86_400) * 86_400


@dataclass(frozen=True)
class SensorSeries:
    """One sensor's samples, oldest first (arrays of one length).

    t: start of the sample's first stored bucket; last_at: event time of its
    newest reading (both float seconds since the epoch); n: readings; mean,
    min, max, last: values in the kind's canonical unit.
    """

    sensor_id: str
    t: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray
    last_at: np.ndarray

    def __len__(self) -> int:
        return int(self.t.size)


@dataclass(frozen=True, slots=True)
class LevelChange:
    observed_at: datetime
    level: str
    model: str
    model_version: str


@dataclass(frozen=True)
class Series:
    """A point's history of one kind in [start, end].

    ``width_s`` is the grouping width (stored buckets are never split, so a
    sample spans at least one stored bucket); ``level_before`` is the last
    level assessed before ``start`` (the level in force when the range opens).
    """

    point_id: str
    kind: str
    start: datetime
    end: datetime
    width_s: int | None
    sensors: tuple[SensorSeries, ...]
    levels: tuple[LevelChange, ...]
    level_before: LevelChange | None


def _seconds(values: Sequence[datetime]) -> np.ndarray:
    return np.fromiter((v.timestamp() for v in values), dtype=np.float64, count=len(values))


def _group(sensor_id: str, rows: Sequence, width_s: int | None) -> SensorSeries:
    """Merge one sensor's bucket rows (sorted by bucket start) into samples of ``width_s``."""
    start = _seconds([r.bucket_start for r in rows])
    last_at = _seconds([r.last_at for r in rows])
    columns = np.array([(r.n, r.total, r.min_value, r.max_value, r.last_value) for r in rows],
                       dtype=np.float64).reshape(-1, 5)
    n, total, low, high, last = columns.T
    group = (np.zeros(start.size, np.int64) if width_s is None
             else np.floor(start / width_s).astype(np.int64))
    order = np.lexsort((last_at, group))  # within a group, the newest reading last
    group, start, last_at = group[order], start[order], last_at[order]
    n, total, low, high, last = n[order], total[order], low[order], high[order], last[order]
    firsts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    ends = np.r_[firsts[1:], group.size] - 1
    count = np.add.reduceat(n, firsts)
    return SensorSeries(sensor_id, t=np.minimum.reduceat(start, firsts), n=count.astype(np.int64),
                        mean=np.add.reduceat(total, firsts) / count,
                        min=np.minimum.reduceat(low, firsts), max=np.maximum.reduceat(high, firsts),
                        last=last[ends], last_at=last_at[ends])


def read_series(session: Session, point_id: str, kind: str, start: datetime, end: datetime,
                max_samples: int) -> Series:
    """Buckets of ``point_id``'s ``kind`` sensors starting in [start, end], at most
    ``max_samples`` samples per sensor, and the level timeline observed in [start, end].

    Samples are epoch-aligned groups of ``sample_width`` (so panning a chart
    keeps its samples); ``max_samples`` 1 merges the whole range into one.
    """
    if max_samples < 1:
        raise ValueError("max_samples must be at least 1")
    if start > end:
        raise ValueError("start is after end")
    width = None if max_samples == 1 else sample_width(end - start, max_samples)
    a = ReadingAggregateRow
    rows = session.connection().execute(
        select(a.sensor_id, a.bucket_start, a.n, a.total, a.min_value, a.max_value, a.last_value,
               a.last_at)
        .where(a.point_id == point_id, a.kind == kind, a.bucket_start >= start,
               a.bucket_start <= end)
        .order_by(a.sensor_id, a.bucket_start)).all()
    by_sensor: dict[str, list] = {}
    for row in rows:
        by_sensor.setdefault(row.sensor_id, []).append(row)
    sensors = tuple(_group(sensor, items, width) for sensor, items in by_sensor.items())

    t = LevelTimelineRow
    columns = (t.observed_at, t.level, t.model, t.model_version)
    levels = session.connection().execute(
        select(*columns).where(t.point_id == point_id, t.observed_at >= start, t.observed_at <= end)
        .order_by(t.observed_at, t.assessment_id)).all()
    before = session.connection().execute(
        select(*columns).where(t.point_id == point_id, t.observed_at < start)
        .order_by(t.observed_at.desc(), t.assessment_id.desc()).limit(1)).first()
    return Series(point_id, kind, start, end, width, sensors,
                  tuple(LevelChange(*row) for row in levels),
                  None if before is None else LevelChange(*before))
