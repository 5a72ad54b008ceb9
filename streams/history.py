"""The history worker: readings and assessments in, chart history in the database.

It consumes ``geowarn.readings`` and ``geowarn.assessments`` in its own
consumer group and keeps per sensor epoch-aligned bucket aggregates, per
point the level timeline and the current sensor health (status, offline and
stuck sensors, from the newest assessment) (``store.history``). It produces
nothing.

Order, per batch (each step only once the previous one succeeded):

1. poll a batch (no auto-commit); decode it in bulk (``ReadingDecoder``);
2. in ONE database transaction: lock the batch's partitions' rows of
   ``history_offsets``, drop the records below them (already applied),
   merge the rest per (series, bucket) into the stored buckets, record the
   levels and the points' sensor health, advance the offsets and the
   /health progress; commit;
3. commit the Kafka offsets (best effort: step 2 makes redeliveries harmless).

So the database holds every record exactly once: records redelivered after
a crash between 2 and 3, or by a rebalance mid-batch, are recognised in 2
and skipped. On assignment the consumer seeks to the offsets stored in the
database, so normally nothing is even re-read.

Bad input is dead-lettered by the scorer (readings) and the ledger
(assessments), not a second time here: it is skipped, counted
(``HistoryWorker.counts``) and logged with topic, partition and offset; so
are readings of points outside the registry. Readings older than the
retention are counted as expired; every ``prune_interval_s`` older history
is deleted. Broker and database failures are retried with backoff, holding
the batch: the worker never skips one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.history import (
    Aggregate,
    advance_offsets,
    lock_offsets,
    prune,
    read_offsets,
    record_levels,
    record_point_status,
    upsert_aggregates,
)
from store.points import hazard_types
from store.progress import record_progress
from streams.codec import ReadingDecoder, ns_to_datetime
from streams.kafka_config import KafkaConfig, safe_bootstrap
from streams.ledger import Backoff, decode_assessment, next_offsets
from streams.schemas import Assessment
from streams.scorer_index import SeriesKey
from streams.topics import Topics

log = logging.getLogger(__name__)

STAGE = "history"
RETRYABLE = (KafkaError, DBAPIError)
"""Failures of the broker or the database: retried. Anything else is a bug and raises."""
_NS_PER_S = 1_000_000_000


# --- pure core ----------------------------------------------------------------------------

def aggregate_readings(keys: Sequence[SeriesKey], series: np.ndarray, observed_ns: np.ndarray,
                       value: np.ndarray, arrival: np.ndarray, bucket_seconds: int
                       ) -> list[Aggregate]:
    """One Aggregate per (series, bucket) of the given readings (columns of one length).

    ``keys[series[i]]`` names reading i's series; ``arrival`` orders readings
    with equal event times (the later one is the bucket's last).
    """
    if series.size == 0:
        return []
    bucket = observed_ns // (bucket_seconds * _NS_PER_S)
    order = np.lexsort((arrival, observed_ns, bucket, series))
    series, bucket, observed_ns, value = series[order], bucket[order], observed_ns[order], value[order]
    firsts = np.flatnonzero(np.r_[True, (np.diff(series) != 0) | (np.diff(bucket) != 0)])
    lasts = np.r_[firsts[1:], series.size] - 1
    n = np.diff(np.r_[firsts, series.size])
    total = np.add.reduceat(value, firsts)
    low, high = np.minimum.reduceat(value, firsts), np.maximum.reduceat(value, firsts)
    starts = {b: ns_to_datetime(b * bucket_seconds * _NS_PER_S)
              for b in np.unique(bucket[firsts]).tolist()}
    rows = []
    for j, first, last in zip(range(firsts.size), firsts.tolist(), lasts.tolist(), strict=True):
        point_id, sensor_id, kind = keys[series[first]]
        rows.append(Aggregate(point_id, sensor_id, kind, starts[int(bucket[first])], int(n[j]),
                              float(total[j]), float(low[j]), float(high[j]), float(value[last]),
                              ns_to_datetime(int(observed_ns[last]))))
    return rows


@dataclass
class DecodedBatch:
    """One polled batch, decoded, with where every record came from."""

    next_offsets: dict[TopicPartition, int]
    partitions: list[TopicPartition] = field(default_factory=list)
    reading_part: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Index in ``partitions`` of each reading record, by its position among the readings."""
    reading_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keys: Sequence[SeriesKey] = ()
    series: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Position among the batch's readings of each decoded reading."""
    observed_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    assessments: list[tuple[TopicPartition, int, Assessment]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    """Records not applied, by reason: unknown_point, invalid_reading, invalid_assessment."""
    last_event_at: dict[TopicPartition, datetime] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return len(self.reading_part) + len(self.assessments) + self.skipped["invalid_assessment"]


def decode_batch(records: Sequence, decoder: ReadingDecoder, assessments_topic: str) -> DecodedBatch:
    """Decode a poll()'s records; skip (count and log) what cannot be applied."""
    batch = DecodedBatch(next_offsets(records))
    readings = [r for r in records if r.topic != assessments_topic]
    for record in records:
        if record.topic != assessments_topic:
            continue
        tp = TopicPartition(record.topic, record.partition)
        try:
            assessment = decode_assessment(record.value)
        except ValueError as exc:
            batch.skipped["invalid_assessment"] += 1
            log.warning("history skips %s[%d]@%d (dead-lettered by the ledger): %s",
                        record.topic, record.partition, record.offset, exc)
            continue
        batch.assessments.append((tp, record.offset, assessment))
        if tp not in batch.last_event_at or assessment.observed_at > batch.last_event_at[tp]:
            batch.last_event_at[tp] = assessment.observed_at
    if not readings:
        return batch
    decoded, rejects = decoder.decode([r.value for r in readings])
    codes: dict[TopicPartition, int] = {}
    batch.reading_part = np.fromiter(
        (codes.setdefault(TopicPartition(r.topic, r.partition), len(codes)) for r in readings),
        np.int64, len(readings))
    batch.partitions = list(codes)
    batch.reading_offset = np.fromiter((r.offset for r in readings), np.int64, len(readings))
    batch.keys = decoder.index.keys
    batch.series, batch.position = decoded.series, decoded.index
    batch.observed_ns, batch.value = decoded.observed_ns, decoded.value
    for reject in rejects:
        record = readings[reject.index]
        unknown = reject.reason.startswith("unknown risk point")
        batch.skipped["unknown_point" if unknown else "invalid_reading"] += 1
        if not unknown:
            log.warning("history skips %s[%d]@%d (dead-lettered by the scorer): %s",
                        record.topic, record.partition, record.offset, reject.reason)
    if batch.skipped["unknown_point"]:
        log.info("history skipped %d reading(s) of points outside the registry",
                 batch.skipped["unknown_point"])
    newest = np.full(len(codes), np.iinfo(np.int64).min)
    np.maximum.at(newest, batch.reading_part[batch.position], batch.observed_ns)
    for tp, code in codes.items():
        if newest[code] != np.iinfo(np.int64).min:
            at = ns_to_datetime(int(newest[code]))
            batch.last_event_at[tp] = max(at, batch.last_event_at.get(tp, at))
    return batch


@dataclass(frozen=True)
class Applied:
    """What one batch changed in the database."""

    readings: int = 0
    buckets: int = 0
    levels: int = 0
    duplicates: int = 0
    """Records at offsets the database already held (redelivered), skipped."""
    expired: int = 0
    """Readings in buckets older than the retention period, skipped."""
    statuses: int = 0
    """Points whose sensor health was offered (kept only where newer than the stored one)."""


def apply_batch(session: Session, group: str, batch: DecodedBatch, *, bucket_seconds: int,
                expire_before: datetime | None = None) -> Applied:
    """Write a decoded batch past the offsets stored for ``group``; advance them. The caller commits."""
    stored = lock_offsets(session, group, [(tp.topic, tp.partition) for tp in batch.next_offsets])
    first = {tp: stored[(tp.topic, tp.partition)] for tp in batch.next_offsets}
    floor = np.array([first[tp] for tp in batch.partitions], dtype=np.int64)
    fresh = batch.reading_offset >= floor[batch.reading_part]
    keep = fresh[batch.position]
    rows = aggregate_readings(batch.keys, batch.series[keep], batch.observed_ns[keep],
                              batch.value[keep], batch.position[keep], bucket_seconds)
    expired = 0
    if expire_before is not None:
        expired = sum(row.n for row in rows if row.bucket_start < expire_before)
        rows = [row for row in rows if row.bucket_start >= expire_before]
    levels = [a for tp, offset, a in batch.assessments if offset >= first[tp]]
    buckets = upsert_aggregates(session, rows)
    recorded = record_levels(session, levels)
    statuses = record_point_status(session, levels)
    advance_offsets(session, group, {(tp.topic, tp.partition): offset
                                     for tp, offset in batch.next_offsets.items()})
    duplicates = int((~fresh).sum()) + len(batch.assessments) - len(levels)
    return Applied(int(keep.sum()) - expired, buckets, recorded, duplicates, expired, statuses)


# --- the worker ---------------------------------------------------------------------------

class HistoryWorker:
    """Keeps the chart history; see the module docstring. Tests drive ``run_once()``.

    Args:
        known_points: ``() -> {point id: hazard type}``; default: the registry table.
        bucket_seconds: width of the stored buckets.
        retention: how long history is kept (wall clock); None keeps everything.
        prune_interval_s: seconds between retention passes (the first runs at start).
        refresh_s: seconds between registry reloads.
    """

    def __init__(self, kafka: KafkaConfig, topics: Topics, session_factory: sessionmaker[Session],
                 *, group_id: str = "geowarn-history", worker_name: str = STAGE,
                 bucket_seconds: int = 600, retention: timedelta | None = timedelta(days=90),
                 prune_interval_s: float = 3600.0, refresh_s: float = 30.0,
                 known_points: Callable[[], Mapping[str, str]] | None = None,
                 stop_event: threading.Event | None = None,
                 backoff_s: tuple[float, float] = (0.5, 30.0),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")
        self.kafka, self.topics, self.group_id = kafka, topics, group_id
        self.worker_name = worker_name
        self.bucket_seconds = bucket_seconds
        self.retention = retention
        self.prune_interval_s, self.refresh_s = prune_interval_s, refresh_s
        self.stop_event = stop_event or threading.Event()
        self.counts: Counter = Counter()
        """Totals since start: readings, buckets, levels, statuses, duplicates, expired and skip
        reasons."""
        self._sessions = session_factory
        self._known_points = known_points or self._registry
        self._clock = clock
        self._backoff = Backoff(self.stop_event, *backoff_s)
        self._decoder = ReadingDecoder()
        self._consumer: KafkaConsumer | None = None
        self._pending: DecodedBatch | None = None
        self._next_refresh = 0.0
        self._next_prune = 0.0

    # lifecycle

    def create_consumer(self) -> KafkaConsumer:
        consumer = KafkaConsumer(**self.kafka.consumer(self.group_id))
        consumer.subscribe([self.topics.readings, self.topics.assessments],
                           listener=_SeekToApplied(self))
        return consumer

    def start(self) -> bool:
        """Connect (retrying while the broker is away); False if stopped first."""
        while self._consumer is None and not self.stop_event.is_set():
            try:
                self._consumer = self.create_consumer()
            except KafkaError as exc:
                log.warning("history cannot reach Kafka at %s (%s); retrying",
                            safe_bootstrap(self.kafka.bootstrap), exc)
                self._backoff.wait()
        if self._consumer is not None:
            log.info("history consuming %s and %s as group %s from %s (buckets of %d s)",
                     self.topics.readings, self.topics.assessments, self.group_id,
                     safe_bootstrap(self.kafka.bootstrap), self.bucket_seconds)
        return self._consumer is not None

    def run(self) -> None:
        """Consume until the stop event is set, then close the consumer."""
        try:
            if not self.start():
                return
            while not self.stop_event.is_set():
                self.run_once()
        finally:
            self.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    # one step

    def run_once(self, timeout_ms: int = 1000) -> Applied | None:
        """Poll one batch (or resume the held one) and apply it; None if none was applied."""
        if self._consumer is None and not self.start():
            return None
        if not self._refresh_registry():
            self._backoff.wait()  # decoding without a registry would skip every reading
            return None
        self._prune_if_due()
        if self._pending is None:
            try:
                polled = self._consumer.poll(timeout_ms=timeout_ms)
            except KafkaError as exc:
                log.warning("history poll failed (%s); retrying", exc)
                self._backoff.wait()
                return None
            records = [record for part in polled.values() for record in part]
            if not records:
                return None
            self._pending = decode_batch(records, self._decoder, self.topics.assessments)
            self.counts.update(self._pending.skipped)
        batch = self._pending
        try:
            applied = self._apply(batch)
        except RETRYABLE as exc:
            log.warning("history batch stopped (%s: %s); retrying it", type(exc).__name__, exc)
            self._backoff.wait()
            return None
        self._pending = None
        self._backoff.reset()
        self._commit(batch)
        return applied

    def _apply(self, batch: DecodedBatch) -> Applied:
        now = self._clock()
        expire_before = None if self.retention is None else now - self.retention
        with session_scope(self._sessions, write_lock=True) as session:
            applied = apply_batch(session, self.group_id, batch, bucket_seconds=self.bucket_seconds,
                                  expire_before=expire_before)
            for tp, offset in batch.next_offsets.items():
                record_progress(session, self.worker_name, tp.topic, tp.partition, offset,
                                self._consumer.highwater(tp), batch.last_event_at.get(tp), at=now)
        self.counts.update(readings=applied.readings, buckets=applied.buckets,
                           levels=applied.levels, duplicates=applied.duplicates,
                           expired=applied.expired, statuses=applied.statuses)
        if applied.duplicates:
            log.warning("history skipped %d record(s) the database already holds (a redelivery "
                        "after a crash or rebalance, or a broker whose log was reset)",
                        applied.duplicates)
        log.debug("history applied %d reading(s) into %d bucket(s), %d level(s); %d expired",
                  applied.readings, applied.buckets, applied.levels, applied.expired)
        return applied

    def _commit(self, batch: DecodedBatch) -> None:
        try:
            self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1)
                                   for tp, offset in batch.next_offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # Harmless: the database holds the offsets it applied and skips a redelivery.
            log.warning("history could not commit offsets to Kafka (%s)", exc)

    def _refresh_registry(self) -> bool:
        """Reload the known points when due; False while they were never loaded."""
        now = time.monotonic()
        if now >= self._next_refresh:
            try:
                count = self._decoder.set_known_points(self._known_points())
            except DBAPIError as exc:
                log.warning("history could not load the risk-point registry (%s)", exc)
                return self._next_refresh > 0
            self._next_refresh = now + self.refresh_s
            log.debug("history knows %d risk point(s)", count)
        return True

    def _prune_if_due(self) -> None:
        """Delete what is older than the retention, every ``prune_interval_s``."""
        now = time.monotonic()
        if self.retention is None or now < self._next_prune:
            return
        cutoff = self._clock() - self.retention
        try:
            with session_scope(self._sessions, write_lock=True) as session:
                pruned = prune(session, cutoff)
        except DBAPIError as exc:
            log.warning("history could not prune before %s (%s); retrying later",
                        cutoff.isoformat(), exc)
            return
        finally:
            self._next_prune = now + self.prune_interval_s
        if pruned.aggregates or pruned.levels:
            log.info("history pruned %d bucket(s) and %d level(s) before %s",
                     pruned.aggregates, pruned.levels, cutoff.isoformat())

    def _registry(self) -> Mapping[str, str]:
        with session_scope(self._sessions) as session:
            return hazard_types(session)

    def seek_to_applied(self, partitions: Sequence[TopicPartition]) -> None:
        """Position newly assigned partitions at the offsets the database has applied.

        Without a stored offset (or when the database cannot be read) the
        group's committed offset is used, which is never past the stored one.
        """
        try:
            with session_scope(self._sessions) as session:
                stored = read_offsets(session, self.group_id)
        except DBAPIError as exc:
            log.warning("history could not read its applied offsets (%s); starting from the "
                        "committed ones", exc)
            return
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is not None:
                self._consumer.seek(tp, offset)
                log.info("history resumes %s[%d] at offset %d", tp.topic, tp.partition, offset)


class _SeekToApplied(ConsumerRebalanceListener):
    def __init__(self, worker: HistoryWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked):
        pass  # nothing held in memory outside the database

    def on_partitions_assigned(self, assigned):
        self.worker.seek_to_applied(list(assigned))
