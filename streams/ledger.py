"""The ledger worker: assessments in, warnings recorded in the database, events out.

Commit order, per batch (each step runs only once the previous one succeeded):

1. poll a batch of ``geowarn.assessments`` (consumer group, no auto-commit);
2. decode it; undecodable or invalid messages become dead letters;
3. apply the valid assessments in one database transaction and commit it.
   The new transition rows are the outbox (``published_at`` null);
   assessments for unknown points become dead letters;
4. produce the dead letters and every unpublished outbox event of the
   batch's points to ``geowarn.warning-events`` (key = point id), flush, and
   check that every send succeeded;
5. mark those events published (database commit);
6. commit the batch's Kafka offsets;
7. record progress per partition (for /health; best effort).

What a crash between steps leaves behind, and why nothing is lost or doubled:

- before 3: nothing was written; the batch is redelivered.
- after 3, before 5: the outbox holds the transitions. The redelivered
  assessments are ignored by the ledger (already applied) and the start-up
  recovery below publishes the outbox.
- after 4, before 5: the events are published again on recovery, with the
  same ``event_id``; consumers drop duplicates by it.
- after 5, before 6: the redelivered batch changes nothing in the database;
  its dead letters are produced a second time.

On start, before consuming anything, the worker publishes every unpublished
outbox row (the crash recovery). A failing step (broker or database away) is
retried with exponential backoff from where it stopped, holding the batch,
and logged; the worker never skips a batch and never stops on a bad message.

Between batches, every ``deadline_check_s`` of wall-clock time, the worker
checks acknowledgement deadlines (``store.lifecycle.check_deadlines``):
deadlines are about people, so this is the one place the ledger reads the
wall clock for a decision. The rows it writes, and any outbox row an API
process wrote for an officer action but could not publish, are published by
the same sweep (``relay_outbox``); consumers drop the rare duplicate by
``event_id``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.jurisdictions import JurisdictionResolver
from store.ledger import apply_assessments
from store.lifecycle import LifecycleRules, check_deadlines
from store.progress import record_progress
from streams.deadletter import dead_letter, encode_dead_letter
from streams.kafka_config import KafkaConfig, safe_bootstrap
from streams.outbox import encode_event, flush_sends, relay_outbox  # noqa: F401 - re-exported
from streams.schemas import Assessment, DeadLetter
from streams.topics import Topics

log = logging.getLogger(__name__)

STAGE = "ledger"
RETRYABLE = (KafkaError, DBAPIError)
"""Failures of the broker or the database: retried. Anything else is a bug and raises."""


# --- pure core ----------------------------------------------------------------------------

def decode_assessment(value: bytes | None) -> Assessment:
    """One message value as an Assessment; ValueError with a readable reason otherwise."""
    if value is None:
        raise ValueError("empty message value (tombstone)")
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    try:
        return Assessment.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ValueError(f"invalid assessment: {problems}"[:2000]) from None


@dataclass
class Decoded:
    assessments: list[Assessment] = field(default_factory=list)
    sources: list = field(default_factory=list)
    """The ConsumerRecord of each assessment, index for index."""
    letters: list[tuple[object, DeadLetter]] = field(default_factory=list)
    """(record, dead letter) for every message that could not be decoded."""


def decode_batch(records: Iterable) -> Decoded:
    """Split consumer records into assessments and dead letters."""
    decoded = Decoded()
    for record in records:
        try:
            assessment = decode_assessment(record.value)
        except ValueError as exc:
            decoded.letters.append((record, dead_letter(record, reason=str(exc), stage=STAGE)))
            continue
        decoded.assessments.append(assessment)
        decoded.sources.append(record)
    return decoded


def next_offsets(records: Iterable) -> dict[TopicPartition, int]:
    """Offset to commit per partition: one past the last record seen."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


# --- the worker ---------------------------------------------------------------------------

@dataclass
class _Batch:
    """A polled batch and how far it has got through the commit order."""

    records: list
    decoded: Decoded
    applied: bool = False
    published: bool = False
    committed: bool = False
    transitions: int = 0
    ignored: int = 0

    @property
    def point_ids(self) -> set[str]:
        return {a.point_id for a in self.decoded.assessments}

    def last_event_at(self) -> dict[TopicPartition, datetime]:
        latest: dict[TopicPartition, datetime] = {}
        for record, assessment in zip(self.decoded.sources, self.decoded.assessments, strict=True):
            tp = TopicPartition(record.topic, record.partition)
            if tp not in latest or assessment.observed_at > latest[tp]:
                latest[tp] = assessment.observed_at
        return latest

    def describe(self) -> str:
        spans: dict[tuple[str, int], list[int]] = {}
        for record in self.records:
            spans.setdefault((record.topic, record.partition), []).append(record.offset)
        return ", ".join(f"{topic}[{partition}]@{min(o)}-{max(o)}"
                         for (topic, partition), o in sorted(spans.items()))


@dataclass(frozen=True)
class BatchReport:
    """What one ``run_once`` did, for tests and logs."""

    records: int = 0
    transitions: int = 0
    ignored: int = 0
    dead_letters: int = 0
    events_published: int = 0
    completed: bool = True


class Backoff:
    """Exponential backoff that a stop event interrupts."""

    def __init__(self, stop: threading.Event, first: float = 0.5, limit: float = 30.0) -> None:
        self._stop, self._first, self._limit = stop, first, limit
        self._delay = first

    def wait(self) -> None:
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, self._limit)

    def reset(self) -> None:
        self._delay = self._first


class LedgerWorker:
    """Consumes assessments, keeps the warning ledger, publishes warning events.

    ``run()`` is the process loop; tests drive ``run_once()`` directly. The
    consumer and producer are created on first use and retried while the
    broker is unreachable.
    """

    def __init__(self, kafka: KafkaConfig, topics: Topics, session_factory: sessionmaker[Session],
                 group_id: str = "geowarn-ledger", stop_event: threading.Event | None = None, *,
                 worker_name: str = STAGE, publish_limit: int = 10_000,
                 flush_timeout_s: float = 30.0, backoff_s: tuple[float, float] = (0.5, 30.0),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 rules: LifecycleRules | None = None,
                 jurisdictions: JurisdictionResolver | None = None,
                 deadline_check_s: float = 30.0, sweep_grace_s: float = 10.0) -> None:
        self.kafka, self.topics, self.group_id = kafka, topics, group_id
        self.stop_event = stop_event or threading.Event()
        self.worker_name = worker_name
        self._sessions = session_factory
        self._publish_limit = publish_limit
        self._flush_timeout_s = flush_timeout_s
        self._clock = clock
        self._rules = rules or LifecycleRules()
        self._jurisdictions = jurisdictions
        self._deadline_check_s = deadline_check_s
        self._sweep_grace = timedelta(seconds=sweep_grace_s)
        self._next_check = 0.0
        self._backoff = Backoff(self.stop_event, *backoff_s)
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._pending: _Batch | None = None

    # lifecycle

    def create_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(self.topics.assessments, **self.kafka.consumer(self.group_id))

    def create_producer(self) -> KafkaProducer:
        return KafkaProducer(**self.kafka.producer())

    def start(self) -> bool:
        """Connect and publish the outbox left by an earlier run; False if stopped first."""
        while self._consumer is None and not self.stop_event.is_set():
            try:
                self._producer = self._producer or self.create_producer()
                self._consumer = self.create_consumer()
            except KafkaError as exc:
                log.warning("ledger cannot reach Kafka at %s (%s); retrying",
                            safe_bootstrap(self.kafka.bootstrap), exc)
                self._backoff.wait()
        while not self.stop_event.is_set():
            try:
                published = self._publish([], point_ids=None)
            except RETRYABLE as exc:
                log.warning("ledger could not publish the outbox on start (%s); retrying", exc)
                self._backoff.wait()
                continue
            if published:
                log.info("ledger published %d outbox event(s) left by an earlier run", published)
            self._backoff.reset()
            log.info("ledger consuming %s as group %s from %s", self.topics.assessments,
                     self.group_id, safe_bootstrap(self.kafka.bootstrap))
            return True
        return False

    def run(self) -> None:
        """Consume until the stop event is set, then close the clients."""
        try:
            if not self.start():
                return
            while not self.stop_event.is_set():
                self.run_once()
                if time.monotonic() >= self._next_check:
                    self._next_check = time.monotonic() + self._deadline_check_s
                    self.check_deadlines()
        finally:
            self.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=self._flush_timeout_s)
            self._producer = None

    # one step

    def run_once(self, timeout_ms: int = 1000) -> BatchReport:
        """Poll one batch (or resume the held one) and take it through the commit order."""
        if self._consumer is None and not self.start():
            return BatchReport(completed=False)
        if self._pending is None:
            try:
                polled = self._consumer.poll(timeout_ms=timeout_ms)
            except KafkaError as exc:
                log.warning("ledger poll failed (%s); retrying", exc)
                self._backoff.wait()
                return BatchReport(completed=False)
            records = [record for batch in polled.values() for record in batch]
            if not records:
                return BatchReport()
            self._pending = _Batch(records, decode_batch(records))
        batch = self._pending
        try:
            published = self._advance(batch)
        except RETRYABLE as exc:
            log.warning("ledger batch %s stopped (%s: %s); retrying from there",
                        batch.describe(), type(exc).__name__, exc)
            self._backoff.wait()
            return BatchReport(len(batch.records), batch.transitions, batch.ignored,
                               len(batch.decoded.letters), completed=False)
        self._pending = None
        self._backoff.reset()
        return BatchReport(len(batch.records), batch.transitions, batch.ignored,
                           len(batch.decoded.letters), published)

    def check_deadlines(self) -> int:
        """Escalate missed acknowledgement deadlines and publish the outbox; returns #events.

        Failures are logged and left to the next check: nothing is lost, the
        rows and the outbox stay in the database.
        """
        if self._producer is None:
            return 0
        try:
            with session_scope(self._sessions, write_lock=True) as session:
                rows = check_deadlines(session, now=self._clock(), rules=self._rules)
            published = 0
            if rows:
                log.info("ledger: %d acknowledgement deadline(s) missed; re-notified and "
                         "escalated to the national centre", len(rows) // 2)
                published = self._publish([], point_ids={row.point_id for row in rows})
            # Rows other processes wrote and did not publish (after a grace period, so
            # that an API process relaying its own action is not raced).
            return published + self._publish(
                [], point_ids=None, recorded_before=self._clock() - self._sweep_grace)
        except RETRYABLE as exc:
            log.warning("ledger deadline check failed (%s); trying again in %.0f s", exc,
                        self._deadline_check_s)
            return 0

    def _advance(self, batch: _Batch) -> int:
        published = 0
        if not batch.applied:
            with session_scope(self._sessions, write_lock=True) as session:
                result = apply_assessments(session, batch.decoded.assessments,
                                           recorded_at=self._clock(), rules=self._rules,
                                           jurisdictions=self._jurisdictions)
            for rejected in result.rejected:
                record = batch.decoded.sources[rejected.index]
                batch.decoded.letters.append(
                    (record, dead_letter(record, reason=rejected.reason, stage=STAGE)))
            batch.applied = True
            batch.transitions, batch.ignored = len(result.transitions), result.ignored
        if not batch.published:
            published = self._publish(batch.decoded.letters, point_ids=batch.point_ids)
            batch.published = True
        if not batch.committed:
            offsets = next_offsets(batch.records)
            try:
                self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1)
                                       for tp, offset in offsets.items()})
            except CommitFailedError as exc:
                # The group rebalanced: the partitions' new owner redoes the batch,
                # which the ledger's idempotence turns into no change.
                log.warning("ledger could not commit %s after a rebalance (%s)",
                            batch.describe(), exc)
            batch.committed = True
        log.info("ledger batch %s: %d assessment(s), %d transition(s), %d ignored, "
                 "%d dead letter(s), %d event(s) published", batch.describe(),
                 len(batch.decoded.assessments), batch.transitions, batch.ignored,
                 len(batch.decoded.letters), published)
        self._record_progress(batch)
        return published

    def _publish(self, letters: Sequence[tuple[object, DeadLetter]],
                 point_ids: set[str] | None, recorded_before: datetime | None = None) -> int:
        """Produce dead letters and unpublished outbox events, flush, mark them; return #events."""
        producer = self._producer
        futures = [producer.send(self.topics.deadletter, key=record.key,
                                 value=encode_dead_letter(letter))
                   for record, letter in letters]
        return relay_outbox(producer, self._sessions, self.topics.warning_events,
                            point_ids=point_ids, now=self._clock, flush=self._flush,
                            pending=futures, limit=self._publish_limit,
                            recorded_before=recorded_before)

    def _flush(self, futures: list) -> None:
        flush_sends(self._producer, futures, self._flush_timeout_s)

    def _record_progress(self, batch: _Batch) -> None:
        last_event_at = batch.last_event_at()
        try:
            with session_scope(self._sessions) as session:
                for tp, offset in next_offsets(batch.records).items():
                    record_progress(session, self.worker_name, tp.topic, tp.partition, offset,
                                    self._consumer.highwater(tp), last_event_at.get(tp))
        except DBAPIError as exc:
            log.warning("ledger could not record progress for %s: %s", batch.describe(), exc)
