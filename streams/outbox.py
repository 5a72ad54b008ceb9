"""The outbox relay: warning transitions in the database -> ``geowarn.warning-events``.

Rows of ``warning_transitions`` with ``published_at`` null are the outbox.
Whoever wrote them (the ledger worker for the scorer's transitions and the
deadline check, an API process for an officer's action) produces them,
flushes, checks every send and only then marks them published; the ledger's
periodic sweep publishes what a crashed writer left. Delivery is therefore
at least once, and consumers drop duplicates by ``event_id`` (the row id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.ledger import mark_published, unpublished_events
from streams.schemas import WarningEvent

log = logging.getLogger(__name__)


def encode_event(event: WarningEvent) -> tuple[bytes, bytes]:
    """(key, value) of a warning event on the wire: keyed by point id, JSON value."""
    return event.point_id.encode(), orjson.dumps(event.model_dump(mode="json"))


def flush_sends(producer: KafkaProducer, futures: list, timeout_s: float) -> None:
    """Flush the producer and raise the first failed send (flush alone does not)."""
    if not futures:
        return
    started = time.monotonic()
    producer.flush(timeout=timeout_s)
    for future in futures:
        if not future.is_done:
            raise KafkaTimeoutError(f"{len(futures)} message(s) not acknowledged within "
                                    f"{timeout_s} s")
        if future.failed():
            raise future.exception
    log.debug("flushed %d message(s) in %.3f s", len(futures), time.monotonic() - started)


def relay_outbox(producer: KafkaProducer, sessions: sessionmaker[Session], topic: str, *,
                 point_ids: set[str] | None, now: Callable[[], datetime],
                 flush: Callable[[list], None], pending: Sequence = (), limit: int = 10_000,
                 recorded_before: datetime | None = None) -> int:
    """Produce unpublished outbox rows as warning events, flush, mark them published.

    ``point_ids`` limits the rows to some points (None: all); ``pending`` are
    futures of other sends (dead letters) to flush with them. Returns how
    many events were published. Shared by the ledger worker and the API,
    which relays its officers' actions right after committing them.
    """
    futures, total = list(pending), 0
    while True:
        if point_ids is not None and not point_ids:
            events: list[WarningEvent] = []
        else:
            with session_scope(sessions) as session:
                events = unpublished_events(session, limit, point_ids=point_ids,
                                            recorded_before=recorded_before)
        for event in events:
            key, value = encode_event(event)
            futures.append(producer.send(topic, key=key, value=value))
        flush(futures)
        futures = []
        if not events:
            return total
        with session_scope(sessions) as session:
            mark_published(session, [event.event_id for event in events], now())
        total += len(events)
        if len(events) < limit:
            return total
