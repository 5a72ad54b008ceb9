"""The push hub: reads an event topic (``geowarn.warning-events`` by default) in a
thread and fans each new event out to the connected WebSocket clients.

``decode`` turns one message into what subscriptions receive: a warning
event by default (``warning_pushed``); the sibling hub of
``geowarn.consultation-events`` passes the consultations' decoder
(``api.push.consultations``). Every message carries ``event_id`` and
``issued_at``, which the hub reads before decoding.

Every API process must see every event, so the hub joins no consumer group:
it assigns all partitions itself. It starts from the beginning of each
partition and drops events issued before the hub started, rather than
seeking to the end: the embedded broker (Tansu) misreports end offsets, and
a start position derived from them would silently lose events. Events are
delivered at least once by the ledger, so the hub drops repeated event ids.

The consumer runs in a daemon thread (kafka-python blocks); events cross to
the event loop with ``call_soon_threadsafe`` and are fanned out there, so
subscriptions are only ever touched by the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from pydantic import ValidationError

from api.push.subscription import CLOSE_GOING_AWAY, Matcher, Pushed, PushedEvent, Subscription
from streams.kafka_config import KafkaConfig, safe_bootstrap
from streams.schemas import WarningEvent

log = logging.getLogger(__name__)


class TopicMissing(RuntimeError):
    """The hub's topic does not exist (yet); the hub retries."""


def warning_pushed(raw: dict[str, Any]) -> PushedEvent:
    """A ``geowarn.warning-events`` message as the warning subscriptions receive it."""
    return PushedEvent.of(WarningEvent.model_validate(raw))


class PushHub:
    def __init__(self, kafka: KafkaConfig, topic: str, *, queue_size: int = 1000,
                 dedupe_capacity: int = 100_000, bootstrap_timeout_ms: int = 1500,
                 backoff_seconds: tuple[float, float] = (0.5, 10.0),
                 partition_refresh_seconds: float = 30.0,
                 decode: Callable[[dict[str, Any]], Pushed] = warning_pushed,
                 name: str = "push") -> None:
        self.topic = topic
        self.name = name
        self._decode = decode
        self.queue_size = queue_size
        self._kafka = kafka
        self._dedupe_capacity = dedupe_capacity
        self._bootstrap_timeout_ms = bootstrap_timeout_ms
        self._backoff = backoff_seconds
        self._partition_refresh = partition_refresh_seconds
        self._subscriptions: set[Subscription] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._positions: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at: datetime | None = None
        self.connected = False
        self.partitions: list[int] = []
        self.last_error: str | None = None
        self.reconnects = 0
        self.events_pushed = 0
        self.duplicates_dropped = 0
        self.skipped_before_start = 0
        self.slow_clients_dropped = 0

    # -- lifecycle (event loop) ------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, *, now: datetime | None = None) -> None:
        """Start consuming; events issued before ``now`` (default: wall clock) are not pushed."""
        self._loop = loop
        self.started_at = now or datetime.now(UTC)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"geowarn-{self.name}-hub",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the consumer thread. Blocks: call it from a worker thread in async code."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s hub thread still busy after %.0f s; leaving it (daemon)",
                            self.name, timeout)

    def close_clients(self, reason: str = "server shutting down") -> None:
        """Ask every connected client's handler to close its socket (event loop only)."""
        for subscription in list(self._subscriptions):
            subscription.close(CLOSE_GOING_AWAY, reason)
        self._subscriptions.clear()

    # -- subscriptions (event loop) --------------------------------------------

    def subscribe(self, filters: Matcher) -> Subscription:
        subscription = Subscription(filters, self.queue_size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def deliver(self, event: Pushed) -> None:
        """Fan one event out; a client whose queue is full is dropped, not waited for."""
        self.events_pushed += 1
        for subscription in list(self._subscriptions):
            if not subscription.offer(event):
                self._subscriptions.discard(subscription)
                self.slow_clients_dropped += 1
                log.warning("dropped a push client: %s", subscription.close_reason)

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "topic": self.topic, "partitions": self.partitions,
                "clients": len(self._subscriptions), "events_pushed": self.events_pushed,
                "duplicates_dropped": self.duplicates_dropped,
                "skipped_before_start": self.skipped_before_start,
                "slow_clients_dropped": self.slow_clients_dropped, "reconnects": self.reconnects,
                "last_error": self.last_error, "started_at": self.started_at}

    # -- consumer thread -------------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            consumer: KafkaConsumer | None = None
            try:
                consumer = KafkaConsumer(**self._kafka.consumer(
                    None, client_id=f"{self._kafka.client_id}-{self.name}",
                    bootstrap_timeout_ms=self._bootstrap_timeout_ms))
                self._consume(consumer)
            except Exception as exc:  # noqa: BLE001 - any failure: report, back off, retry
                if self.connected:  # it worked until now: retry soon
                    delay = self._backoff[0]
                self.connected = False
                self.reconnects += 1
                self.last_error = safe_bootstrap(f"{type(exc).__name__}: {exc}")
                log.warning("%s hub: %s; retrying in %.1f s", self.name, self.last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
            finally:
                if consumer is not None:
                    consumer.close()
        self.connected = False

    def _consume(self, consumer: KafkaConsumer) -> None:
        """Poll until stopped; partitions are re-read now and then in case the topic grew."""
        assigned: set[int] = set()
        refresh_at = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= refresh_at:
                assigned = self._assign(consumer, assigned)
                refresh_at = time.monotonic() + self._partition_refresh
            for records in consumer.poll(timeout_ms=250).values():
                for record in records:
                    self._positions[record.partition] = record.offset + 1
                    self._accept(record.value, record.partition, record.offset)

    def _assign(self, consumer: KafkaConsumer, assigned: set[int]) -> set[int]:
        partitions = set(consumer.partitions_for_topic(self.topic) or ())
        if not partitions:
            raise TopicMissing(f"topic {self.topic} does not exist (yet)")
        if partitions != assigned:
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            for tp in tps:
                if tp.partition in self._positions:
                    consumer.seek(tp, self._positions[tp.partition])
                else:
                    consumer.seek_to_beginning(tp)
            self.partitions = sorted(partitions)
            log.info("%s hub reading %s partitions %s", self.name, self.topic, self.partitions)
        self.connected = True
        self.last_error = None
        return partitions

    def _accept(self, value: bytes | None, partition: int, offset: int) -> None:
        """Decode cheaply, skip old and repeated events, validate the rest and hand them over."""
        try:
            raw = orjson.loads(value or b"")
            issued_at = datetime.fromisoformat(raw["issued_at"])
            if issued_at.tzinfo is None:
                raise ValueError("issued_at has no time zone")
            if issued_at < self.started_at:
                self.skipped_before_start += 1
                return
            if raw["event_id"] in self._seen:
                self.duplicates_dropped += 1
                return
            pushed = self._decode(raw)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as exc:
            log.warning("%s hub skips an invalid event at %s[%d]@%d: %s",
                        self.name, self.topic, partition, offset, exc)
            return
        self._remember(pushed.event_id)
        try:
            self._loop.call_soon_threadsafe(self.deliver, pushed)
        except RuntimeError:  # the loop closed during shutdown
            self._stop.set()

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        if len(self._seen) > self._dedupe_capacity:
            self._seen.popitem(last=False)
