"""WebSocket /ws/consultations/{id} against the real broker, through two real uvicorn
servers on one database: a change made through one API server reaches a
participant connected to the other, via geowarn.consultation-events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.push.consultations import (
    ConsultationOutboxSweep,
    ForConsultation,
    PushedConsultationEvent,
    consultation_pushed,
    relay_consultation_events,
)
from geowarn.embedded import free_port
from store.db import make_engine
from store.migrate import upgrade
from streams.kafka_config import KafkaConfig
from streams.schemas import ConsultationEvent
from streams.topics import Topics, ensure_topics
from tests.api.seed import TOKENS, bearer, make_app, seed
from tests.api.test_actions import events

pytestmark = [pytest.mark.kafka]

RECEIVE_TIMEOUT = 10.0


@dataclass
class Server:
    http: str
    ws: str

    def call(self, method: str, path: str, user: str, **kwargs) -> httpx.Response:
        return httpx.request(method, self.http + path, headers=bearer(user), timeout=10, **kwargs)


def _serve(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 10 s"
    return server, thread


@pytest.fixture
def servers(broker, sqlite_url: str, topic_prefix: str, tmp_path: Path
            ) -> Iterator[tuple[Server, Server]]:
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=Topics.with_prefix(topic_prefix))
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed(engine)
    engine.dispose()
    running = []
    for n in range(2):
        app = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix,
                       tmp_path / f"api{n}")
        port = free_port(18700 + 20 * n)
        running.append((Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"),
                        *_serve(app, port)))
    try:
        yield running[0][0], running[1][0]
    finally:
        for _, server, thread in running:
            server.should_exit = True
            thread.join(10)


def receive(socket) -> dict:
    return orjson.loads(socket.recv(timeout=RECEIVE_TIMEOUT))


def test_changes_made_on_one_server_reach_participants_on_another(servers):
    a, b = servers
    opened = a.call("POST", "/consultations", "sichuan",
                    json={"warning_id": "W1", "title": "Cracks", "invitees": ["analyst"]})
    assert opened.status_code == 201, opened.text
    cid = opened.json()["id"]
    # A browser passes the token in the query; a header works as well (the warnings socket).
    url = f"{b.ws}/ws/consultations/{cid}?access_token={TOKENS['analyst']}"
    with connect(url, open_timeout=5) as socket, \
            connect(f"{b.ws}/ws/warnings", open_timeout=5,
                    additional_headers=bearer("analyst")) as warnings:
        hello = receive(socket)
        assert (hello["type"], hello["consultation_id"], hello["status"]) == ("hello", cid,
                                                                             "open")
        assert receive(warnings)["type"] == "hello"
        started = time.monotonic()
        message = a.call("POST", f"/consultations/{cid}/messages", "sichuan",
                         json={"body": "Velocity doubled"}).json()
        pushed = receive(socket)
        latency = time.monotonic() - started
        created_at = pushed.pop("created_at")
        assert pushed == {"type": "message", "consultation_id": cid, "id": message["id"],
                          "author": "sichuan", "body": "Velocity doubled", "parent_id": None,
                          "attachments": []}
        assert datetime.fromisoformat(created_at) == datetime.fromisoformat(
            message["created_at"])

        decision = a.call("POST", f"/consultations/{cid}/decisions", "sichuan",
                          json={"kind": "upgrade", "level": "red", "reason": "doubling"}).json()
        a.call("POST", f"/consultations/{cid}/participants", "sichuan",
               json={"username": "national"})
        a.call("POST", f"/consultations/{cid}/close", "sichuan", json={"summary": "Red."})
        frames = [receive(socket) for _ in range(3)]
        assert [f["type"] for f in frames] == ["decision", "participant", "closed"]
        assert frames[0]["transition_id"] == decision["transition_id"]
        assert (frames[1]["username"], frames[1]["invited_by"]) == ("national", "sichuan")
        assert (frames[2]["summary"], frames[2]["closed_by"]) == ("Red.", "sichuan")
        escalated = receive(warnings)["event"]
        assert (escalated["event_id"], escalated["to_level"]) == (decision["transition_id"],
                                                                  "red")
    print(f"\nmessage posted on one server reached a socket on the other in {latency:.3f} s")


def test_the_socket_is_for_participants_and_officers_in_scope(servers):
    a, _ = servers
    cid = a.call("POST", "/consultations", "sichuan", json={"warning_id": "W1", "title": "x"}
                 ).json()["id"]
    refusals = {
        ("yunnan", cid): "provincial officer of 530000 may not follow consultation",
        ("responder", cid): f"responder may follow consultation {cid} live only as a participant",
        ("national", "nope"): "no consultation with id 'nope'",
    }
    for (user, target), reason in refusals.items():
        with connect(f"{a.ws}/ws/consultations/{target}", open_timeout=5,
                     additional_headers=bearer(user)) as socket, \
                pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=RECEIVE_TIMEOUT)
        assert closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason.startswith(reason), closed.value.rcvd.reason
    with connect(f"{a.ws}/ws/consultations/{cid}", open_timeout=5,
                 additional_headers=bearer("national")) as socket:
        assert receive(socket)["type"] == "hello"


def test_a_socket_hears_only_its_consultation() -> None:
    def pushed(consultation_id: str) -> PushedConsultationEvent:
        now = datetime.now(UTC)
        return consultation_pushed(ConsultationEvent(
            event_id=f"e-{consultation_id}", consultation_id=consultation_id, warning_id=None,
            type="closed", actor="sichuan", issued_at=now,
            payload={"summary": "done", "closed_by": "sichuan", "closed_at": now}
        ).model_dump(mode="json"))

    mine = ForConsultation("C1")
    assert mine.matches(pushed("C1")) and not mine.matches(pushed("C2"))
    frame = orjson.loads(pushed("C1").text)
    assert (frame["type"], frame["consultation_id"], frame["summary"]) == ("closed", "C1",
                                                                          "done")


def test_a_change_not_published_at_once_is_published_by_the_next_relay(
        broker, sqlite_url: str, topic_prefix: str, tmp_path: Path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed(engine)
    engine.dispose()
    first = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path / "a")
    with TestClient(first) as client:
        first.state.producer.failed()  # as after a broker failure: relays wait for a cooldown
        cid = client.post("/consultations", headers=bearer("sichuan"),
                          json={"warning_id": "W1", "title": "x"}).json()["id"]
        posted = client.post(f"/consultations/{cid}/messages", headers=bearer("sichuan"),
                             json={"body": "written while the broker is away"})
        assert posted.status_code == 201, posted.text
    second = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path / "b")
    try:
        assert relay_consultation_events(second.state) == 1
        assert relay_consultation_events(second.state) == 0
    finally:
        second.state.producer.close()
    published = events(KafkaConfig(broker.bootstrap),
                       f"{topic_prefix}geowarn.consultation-events", 1)
    assert [(e["type"], e["payload"]["id"]) for e in published] == [("message",
                                                                     posted.json()["id"])]


def test_an_event_left_in_the_outbox_is_swept_out_without_another_change(
        broker, sqlite_url: str, topic_prefix: str, tmp_path: Path):
    """Closing is a consultation's last change: if its relay could not publish, only the
    sweep of a running API (here another process) can."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed(engine)
    engine.dispose()
    first = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path / "a")
    with TestClient(first) as client:
        first.state.producer.failed()
        cid = client.post("/consultations", headers=bearer("sichuan"),
                          json={"warning_id": "W1", "title": "x"}).json()["id"]
        closed = client.post(f"/consultations/{cid}/close", headers=bearer("sichuan"),
                             json={"summary": "closed while the broker is away"})
        assert closed.status_code == 200, closed.text
    second = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path / "b")
    second.state.consultation_outbox_sweep = ConsultationOutboxSweep(interval_s=0.2, grace_s=0)
    with TestClient(second):
        published = events(KafkaConfig(broker.bootstrap),
                           f"{topic_prefix}geowarn.consultation-events", 1, timeout_s=30)
    assert [(e["type"], e["consultation_id"]) for e in published] == [("closed", cid)]
