"""Live consultations: their events on ``geowarn.consultation-events``, both ways.

Out: after a change is committed, ``relay_consultation_events`` publishes
the outbox rows (``store.consultations``) still unpublished, flushes and
only then marks them published. An event whose publication failed (the
broker away, the process stopped first) goes out with the next change or
with ``ConsultationOutboxSweep``, which every API process runs, whichever
comes first; consumers drop the rare repeat by event id. In: every API process runs a ``PushHub`` on the
topic with ``consultation_pushed`` as decoder, and each socket of
/ws/consultations/{id} subscribes with ``ForConsultation``. Events are keyed
by consultation id, so one consultation's events keep their order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import orjson
from fastapi.concurrency import run_in_threadpool
from kafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import State

from api.officers import AppProducer
from api.push.hub import PushHub
from store.consultations import mark_published, unpublished_events
from store.db import session_scope
from streams.kafka_config import KafkaConfig
from streams.schemas import ConsultationEvent

log = logging.getLogger(__name__)

RELAY_BATCH = 500


def socket_message(event: ConsultationEvent) -> dict[str, Any]:
    """The WebSocket frame: ``{"type", "consultation_id", ...payload}``."""
    return {"type": event.type, "consultation_id": event.consultation_id,
            **event.payload.model_dump(mode="json")}


@dataclass(frozen=True, slots=True)
class PushedConsultationEvent:
    event_id: str
    consultation_id: str
    text: str


def consultation_pushed(raw: dict[str, Any]) -> PushedConsultationEvent:
    event = ConsultationEvent.model_validate(raw)
    return PushedConsultationEvent(event.event_id, event.consultation_id,
                                   orjson.dumps(socket_message(event)).decode())


@dataclass(frozen=True, slots=True)
class ForConsultation:
    """A socket's filter: the events of one consultation."""

    consultation_id: str

    def matches(self, event: PushedConsultationEvent) -> bool:
        return event.consultation_id == self.consultation_id


def consultation_hub(kafka: KafkaConfig, topic: str) -> PushHub:
    return PushHub(kafka, topic, decode=consultation_pushed, name="consultation")


def relay_consultation_events(state: State, created_before: datetime | None = None) -> int:
    """Publish the unpublished consultation events (created before ``created_before``, when
    given); returns how many.

    Best effort, after the change's commit: a broker or database failure is
    logged, and the events stay in the outbox for the next relay.
    """
    producer: AppProducer = state.producer
    if not producer.healthy:
        return 0
    topic, total = state.topics.consultation_events, 0
    try:
        while True:
            with session_scope(state.sessions) as session:
                events = unpublished_events(session, RELAY_BATCH,
                                            created_before=created_before)
            if not events:
                return total
            kafka = producer.get()
            producer.flush([kafka.send(topic, key=event.consultation_id.encode(),
                                       value=orjson.dumps(event.model_dump(mode="json")))
                            for event in events])
            with session_scope(state.sessions) as session:
                mark_published(session, [event.event_id for event in events], state.clock())
            total += len(events)
            if len(events) < RELAY_BATCH:
                return total
    except (KafkaError, DBAPIError) as exc:
        producer.failed()
        log.warning("consultation events not published yet (%s: %s); the next change or "
                    "the outbox sweep publishes them", type(exc).__name__, exc)
        return total


@dataclass
class ConsultationOutboxSweep:
    """Every ``interval_s``, publish the events older than ``grace_s`` that no relay after
    their change published (those younger are their own change's relay's, so the two
    rarely publish one event twice)."""

    interval_s: float = 10.0
    grace_s: float = 10.0

    async def run(self, state: State) -> None:
        """Sweep until cancelled (the app's lifespan)."""
        while True:
            await anyio.sleep(self.interval_s)
            before = state.clock() - timedelta(seconds=self.grace_s)
            try:
                published = await run_in_threadpool(relay_consultation_events, state, before)
            except Exception:  # a bug must not end the sweeps of a live API
                log.exception("consultation outbox sweep failed; trying again later")
                continue
            if published:
                log.info("consultation outbox sweep published %d event(s)", published)
