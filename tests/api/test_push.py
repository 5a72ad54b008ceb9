"""WebSocket /ws/warnings against the real broker, through a real uvicorn server.

Every event of one test is keyed by the same point, so it lands in one
partition and arrives in the order produced: once a later event has been
received, an earlier one that did not arrive was dropped, not delayed.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from fastapi.websockets import WebSocketDisconnect
from kafka import KafkaProducer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.push.hub import PushHub
from api.push.subscription import PushedEvent
from geowarn.embedded import free_port
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from streams.kafka_config import KafkaConfig
from streams.schemas import WarningEvent
from streams.topics import Topics, ensure_topics
from tests.api.seed import bearer, make_app, seed, seed_users
from warning_models.levels import Level

pytestmark = [pytest.mark.kafka]

RECEIVE_TIMEOUT = 10.0


def warning_event(*, province: str = "四川省", from_level: str = "none", to_level: str = "orange",
                  issued_at: datetime | None = None, event_id: str | None = None) -> WarningEvent:
    now = datetime.now(UTC)
    return WarningEvent(
        event_id=event_id or str(uuid.uuid4()), warning_id="W1", point_id="P1",
        transition="opened" if from_level == "none" else "escalated",
        from_level=from_level, to_level=to_level, tier=Level.parse(to_level).tier,
        hazard_type="landslide", point_name="P1 slope", province=province, county="P1 county",
        lon=103.6, lat=31.0, threatened_people=100, households=30,
        observed_at=now - timedelta(minutes=1), issued_at=issued_at or now,
        model="deformation", model_version="1")


@dataclass
class LiveApi:
    url: str
    topics: Topics
    producer: KafkaProducer
    hub: PushHub

    def publish(self, *events: WarningEvent) -> None:
        for event in events:
            self.producer.send(self.topics.warning_events, key=b"P1",
                               value=event.model_dump_json().encode())
        self.producer.flush()

    def socket(self, query: str = "", user: str = "national"):
        return connect(f"{self.url}/ws/warnings{query}", open_timeout=5,
                       additional_headers=bearer(user))


@pytest.fixture
def topics(broker, topic_prefix: str) -> Topics:
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    return topics


@pytest.fixture
def producer(broker) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(**KafkaConfig(broker.bootstrap).producer(linger_ms=0))
    yield producer
    producer.close()


@pytest.fixture
def stale_event(topics: Topics, producer: KafkaProducer) -> WarningEvent:
    """An event already in the topic, issued before the API (and its hub) starts."""
    event = warning_event(to_level="red")
    producer.send(topics.warning_events, key=b"P1", value=event.model_dump_json().encode())
    producer.flush()
    return event


@pytest.fixture
def live_api(broker, topics: Topics, producer: KafkaProducer, stale_event: WarningEvent,
             sqlite_url: str, topic_prefix: str, tmp_path: Path) -> Iterator[LiveApi]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed(engine)
    engine.dispose()
    time.sleep(0.01)  # the stale event's issued_at is strictly before the hub's start
    app = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path)
    port = free_port(18600)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 10 s"
    try:
        yield LiveApi(f"ws://127.0.0.1:{port}", topics, producer, app.state.hub)
    finally:
        server.should_exit = True
        thread.join(10)


def receive(socket) -> dict:
    return orjson.loads(socket.recv(timeout=RECEIVE_TIMEOUT))


def test_new_events_are_pushed_once_and_older_ones_never(live_api: LiveApi,
                                                         stale_event: WarningEvent) -> None:
    with live_api.socket() as socket:
        hello = receive(socket)
        assert hello["type"] == "hello"
        assert hello["filters"] == {"province": None, "min_level": None}
        first, second = warning_event(), warning_event(from_level="orange", to_level="red")
        started = time.monotonic()
        live_api.publish(first, first, second)
        pushed = [receive(socket), receive(socket)]
        assert time.monotonic() - started < RECEIVE_TIMEOUT
    assert [m["type"] for m in pushed] == ["warning_event", "warning_event"]
    assert [m["event"]["event_id"] for m in pushed] == [first.event_id, second.event_id]
    assert stale_event.event_id not in {m["event"]["event_id"] for m in pushed}
    assert WarningEvent.model_validate(pushed[0]["event"]) == first
    status = live_api.hub.status()
    assert (status["duplicates_dropped"], status["skipped_before_start"]) == (1, 1)


def test_filters_by_province_adcode_and_min_level(live_api: LiveApi) -> None:
    with live_api.socket("?province=510000&min_level=II") as socket:
        hello = receive(socket)
        assert hello["filters"] == {"province": "510000", "min_level": "orange"}
        elsewhere = warning_event(province="云南省", to_level="red")
        too_low = warning_event(to_level="yellow")
        wanted = warning_event(from_level="yellow", to_level="orange")
        live_api.publish(elsewhere, too_low, wanted)
        assert receive(socket)["event"]["event_id"] == wanted.event_id


@pytest.mark.parametrize(("query", "reason"), [
    ("?min_level=purple", "min_level: unknown warning level 'purple'"),
    ("?province=999999", "province: no risk point has the province adcode 999999"),
])
def test_a_bad_filter_closes_the_socket_with_the_reason(live_api: LiveApi, query: str,
                                                        reason: str) -> None:
    with live_api.socket(query) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=RECEIVE_TIMEOUT)
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith(reason)


def test_the_hub_reports_an_unreachable_broker_and_keeps_retrying() -> None:
    hub = PushHub(KafkaConfig(f"127.0.0.1:{free_port(29700)}"), "geowarn.warning-events",
                  bootstrap_timeout_ms=200, backoff_seconds=(0.05, 0.1))
    loop = asyncio.new_event_loop()
    hub.start(loop)
    try:
        deadline = time.monotonic() + 5
        while hub.reconnects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        status = hub.status()
    finally:
        hub.stop()
        loop.close()
    assert status["reconnects"] >= 2 and status["connected"] is False
    assert "Unable to bootstrap" in status["last_error"]


@pytest.fixture
def sqlite_client(broker, topics: Topics, sqlite_url: str, topic_prefix: str,
                  tmp_path: Path) -> Iterator[TestClient]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(session_factory(engine)) as session:
        seed_users(session)
    engine.dispose()
    app = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path)
    with TestClient(app, headers=bearer("national")) as client:
        yield client


def test_a_client_that_falls_behind_is_closed_with_a_reason(sqlite_client: TestClient) -> None:
    hub: PushHub = sqlite_client.app.state.hub
    hub.queue_size = 2
    burst = [PushedEvent.of(warning_event()) for _ in range(3)]

    def deliver_burst() -> None:  # in one loop callback: the socket's sender cannot drain between
        for event in burst:
            hub.deliver(event)

    with sqlite_client.websocket_connect("/ws/warnings?province=云南省") as bystander, \
            sqlite_client.websocket_connect("/ws/warnings") as slow:
        assert slow.receive_json()["type"] == bystander.receive_json()["type"] == "hello"
        sqlite_client.portal.call(deliver_burst)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                slow.receive_json()
        assert closed.value.code == 1008
        assert closed.value.reason == "client too slow: more than 2 events not yet received"
        assert hub.status()["clients"] == 1 and hub.status()["slow_clients_dropped"] == 1
