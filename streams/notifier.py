"""The notifier worker: warning events in, deliveries to regional authorities out.

Who is told (``recipients``, pure):

- a province or county subscription, about events of warnings that concern
  its adcode: the point's own province and county and every jurisdiction
  near the point (``store.jurisdictions``, also carried by the event), so a
  warning by a border notifies both sides;
- a national subscription (adcode ``100000``), about every warning;
- when the event's level (the higher of its from- and to-level, so that a
  lowering or lifting reaches whoever heard of the warning) is at least the
  subscription's ``min_level``, and the event was recorded after the
  subscription was created (a new subscription is not flooded with history);
- missed acknowledgement deadlines (``store.lifecycle.check_deadlines``)
  give two events: ``renotified`` goes to the jurisdictions again and
  ``escalated_to_national`` to the national subscriptions;
- acknowledgements notify nobody (the authority did it), and neither does
  an opening that left the warning raised but not issued (its ``issued``
  event follows when an officer issues it).

Commit order, per batch:

1. poll a batch of ``geowarn.warning-events`` (own consumer group, no auto-commit);
2. decode; undecodable or invalid messages become dead letters;
3. in one database transaction, match the events to the enabled
   subscriptions and insert a pending delivery per (subscription, event),
   ignoring pairs already logged; commit;
4. produce the dead letters and flush;
5. commit the Kafka offsets.

A crash before 3 or before 5 redelivers the batch, whose deliveries are
already logged and are not inserted again. A failing step (database or
broker away) is retried with backoff from where it stopped, holding the
batch. Sending is the delivery loop's (``streams.notify_delivery``), on its
own thread, from the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.notifications import (
    NewDelivery,
    SubscriptionView,
    enabled_subscriptions,
    enqueue_deliveries,
    event_context,
)
from streams.deadletter import dead_letter, encode_dead_letter
from streams.kafka_config import KafkaConfig, safe_bootstrap
from streams.ledger import Backoff, next_offsets
from streams.notify_delivery import Dispatcher
from streams.outbox import flush_sends
from streams.schemas import DeadLetter, WarningEvent
from streams.topics import Topics
from warning_models.levels import Level

log = logging.getLogger(__name__)

STAGE = "notifier"
RETRYABLE = (KafkaError, DBAPIError)
JURISDICTION_TRANSITIONS = frozenset({"opened", "issued", "escalated", "downgraded", "lifted",
                                      "renotified"})
NATIONAL_TRANSITIONS = frozenset({"opened", "issued", "escalated", "downgraded", "lifted",
                                  "escalated_to_national"})


# --- pure core ----------------------------------------------------------------------------

def decode_event(value: bytes | None) -> WarningEvent:
    """One message value as a WarningEvent; ValueError with a readable reason otherwise."""
    if value is None:
        raise ValueError("empty message value (tombstone)")
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    try:
        return WarningEvent.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ValueError(f"invalid warning event: {problems}"[:2000]) from None


def event_level(event: WarningEvent) -> Level:
    """The level a notification is about: the higher of the event's two."""
    return max(Level.parse(event.from_level), Level.parse(event.to_level))


def recipients(event: WarningEvent, places: Iterable[str],
               subscriptions: Sequence[SubscriptionView]) -> list[SubscriptionView]:
    """The subscriptions to notify of ``event``, whose warning concerns ``places`` (adcodes)."""
    level = event_level(event)
    concerned = {*places, *event.jurisdictions}
    chosen = []
    for subscription in subscriptions:
        if not subscription.enabled or level < Level.parse(subscription.min_level):
            continue
        if event.issued_at < subscription.created_at:
            continue
        if subscription.scope == "national":
            wanted = event.transition in NATIONAL_TRANSITIONS
        else:
            wanted = (event.transition in JURISDICTION_TRANSITIONS
                      and subscription.adcode in concerned)
        if wanted:
            chosen.append(subscription)
    return chosen


def plan_deliveries(events: Sequence[WarningEvent], places: dict[str, frozenset[str]],
                    unissued: frozenset[str], subscriptions: Sequence[SubscriptionView]
                    ) -> list[NewDelivery]:
    """The deliveries a batch of events asks for (duplicates within it included once)."""
    national = [s for s in subscriptions if s.scope == "national"]
    by_adcode: dict[str, list[SubscriptionView]] = {}
    for subscription in subscriptions:
        if subscription.scope != "national":
            by_adcode.setdefault(subscription.adcode, []).append(subscription)
    planned: dict[tuple[str, str], NewDelivery] = {}
    for event in events:
        if event.event_id in unissued:
            continue
        concerned = places.get(event.warning_id, frozenset())
        # Only the subscriptions of the adcodes concerned can match: no scan of them all.
        candidates = national + [s for adcode in {*concerned, *event.jurisdictions}
                                 for s in by_adcode.get(adcode, ())]
        chosen = recipients(event, concerned, candidates)
        payload = event.model_dump(mode="json") if chosen else {}
        for subscription in chosen:
            planned.setdefault((subscription.id, event.event_id), NewDelivery(
                subscription.id, event.event_id, event.warning_id, event.point_id,
                event.transition, event_level(event).label, payload))
    return list(planned.values())


@dataclass
class Decoded:
    events: list[WarningEvent] = field(default_factory=list)
    letters: list[tuple[object, DeadLetter]] = field(default_factory=list)


def decode_batch(records: Iterable) -> Decoded:
    decoded = Decoded()
    for record in records:
        try:
            decoded.events.append(decode_event(record.value))
        except ValueError as exc:
            decoded.letters.append((record, dead_letter(record, reason=str(exc), stage=STAGE)))
    return decoded


# --- the worker ---------------------------------------------------------------------------

@dataclass
class _Batch:
    records: list
    decoded: Decoded
    enqueued: bool = False
    lettered: bool = False
    deliveries: int = 0


@dataclass(frozen=True)
class NotifyReport:
    """What one ``run_once`` did, for tests and logs."""

    records: int = 0
    events: int = 0
    deliveries: int = 0
    dead_letters: int = 0
    completed: bool = True


class NotifierWorker:
    """Consumes warning events into the delivery log; ``run`` also runs the delivery loop.

    Tests drive ``run_once`` (and the dispatcher's ``run_once``) directly.
    """

    def __init__(self, kafka: KafkaConfig, topics: Topics, sessions: sessionmaker[Session], *,
                 group_id: str = "geowarn-notifier", stop_event: threading.Event | None = None,
                 dispatcher: Dispatcher | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 backoff_s: tuple[float, float] = (0.5, 30.0), flush_timeout_s: float = 30.0,
                 delivery_interval_s: float = 1.0) -> None:
        self.kafka, self.topics, self.group_id = kafka, topics, group_id
        self.stop_event = stop_event or threading.Event()
        self.dispatcher = dispatcher
        self._sessions = sessions
        self._clock = clock
        self._backoff = Backoff(self.stop_event, *backoff_s)
        self._flush_timeout_s = flush_timeout_s
        self._delivery_interval_s = delivery_interval_s
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._pending: _Batch | None = None

    def start(self) -> bool:
        """Connect to the broker (retried); False if stopped first."""
        while self._consumer is None and not self.stop_event.is_set():
            try:
                self._producer = self._producer or KafkaProducer(**self.kafka.producer())
                self._consumer = KafkaConsumer(self.topics.warning_events,
                                               **self.kafka.consumer(self.group_id))
            except KafkaError as exc:
                log.warning("notifier cannot reach Kafka at %s (%s); retrying",
                            safe_bootstrap(self.kafka.bootstrap), exc)
                self._backoff.wait()
        if self._consumer is None:
            return False
        log.info("notifier consuming %s as group %s from %s", self.topics.warning_events,
                 self.group_id, safe_bootstrap(self.kafka.bootstrap))
        return True

    def run(self) -> None:
        """Consume and deliver until the stop event is set; then close everything."""
        sender = None
        if self.dispatcher is not None:
            sender = threading.Thread(target=self.dispatcher.run, name="notify-delivery",
                                      args=(self.stop_event, self._delivery_interval_s),
                                      daemon=True)
            sender.start()
        try:
            if self.start():
                while not self.stop_event.is_set():
                    self.run_once()
        finally:
            self.stop_event.set()
            if sender is not None:
                self.dispatcher.wake()
                sender.join()
                self.dispatcher.close()
            self.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=self._flush_timeout_s)
            self._producer = None

    def run_once(self, timeout_ms: int = 1000) -> NotifyReport:
        """Poll one batch (or resume the held one) and take it through the commit order."""
        if self._consumer is None and not self.start():
            return NotifyReport(completed=False)
        if self._pending is None:
            try:
                polled = self._consumer.poll(timeout_ms=timeout_ms)
            except KafkaError as exc:
                log.warning("notifier poll failed (%s); retrying", exc)
                self._backoff.wait()
                return NotifyReport(completed=False)
            records = [record for batch in polled.values() for record in batch]
            if not records:
                return NotifyReport()
            self._pending = _Batch(records, decode_batch(records))
        batch = self._pending
        try:
            self._advance(batch)
        except RETRYABLE as exc:
            log.warning("notifier batch of %d record(s) stopped (%s: %s); retrying from there",
                        len(batch.records), type(exc).__name__, exc)
            self._backoff.wait()
            return NotifyReport(len(batch.records), len(batch.decoded.events), batch.deliveries,
                                len(batch.decoded.letters), completed=False)
        self._pending = None
        self._backoff.reset()
        return NotifyReport(len(batch.records), len(batch.decoded.events), batch.deliveries,
                            len(batch.decoded.letters))

    def _advance(self, batch: _Batch) -> None:
        if not batch.enqueued:
            batch.deliveries = self._enqueue(batch.decoded.events)
            batch.enqueued = True
            if batch.deliveries and self.dispatcher is not None:
                self.dispatcher.wake()
        if not batch.lettered:
            futures = [self._producer.send(self.topics.deadletter, key=record.key,
                                           value=encode_dead_letter(letter))
                       for record, letter in batch.decoded.letters]
            flush_sends(self._producer, futures, self._flush_timeout_s)
            batch.lettered = True
        try:
            self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1)
                                   for tp, offset in next_offsets(batch.records).items()})
        except CommitFailedError as exc:
            # The partitions' next owner redoes the batch; the log takes each pair once.
            log.warning("notifier could not commit after a rebalance (%s)", exc)
        log.info("notifier batch: %d event(s), %d new deliveries, %d dead letter(s)",
                 len(batch.decoded.events), batch.deliveries, len(batch.decoded.letters))

    def _enqueue(self, events: Sequence[WarningEvent]) -> int:
        if not events:
            return 0
        with session_scope(self._sessions, write_lock=True) as session:
            subscriptions = enabled_subscriptions(session)
            if not subscriptions:
                return 0
            context = event_context(session,
                                    point_by_warning={e.warning_id: e.point_id for e in events},
                                    event_ids=[e.event_id for e in events])
            planned = plan_deliveries(events, context.places, context.unissued, subscriptions)
            return enqueue_deliveries(session, planned, now=self._clock())
