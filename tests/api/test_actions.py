"""Officers' actions over HTTP on SQLite and PostgreSQL, with the real broker: the
lifecycle and its audit trail, 409 on a stale version, idempotent replays, the
events on geowarn.warning-events, and the exposure on the warning detail."""

from __future__ import annotations

import time

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from streams.kafka_config import KafkaConfig
from tests.api.seed import bearer

pytestmark = [pytest.mark.kafka]


def act(api: TestClient, user: str, warning: str, key: str, action: str, version: int,
        level: str | None = None, reason: str | None = None):
    body = {"action": action, "reason": reason or f"{action} by {user}",
            "expected_version": version, **({} if level is None else {"level": level})}
    return api.post(f"/warnings/{warning}/actions", json=body,
                    headers={**bearer(user), "Idempotency-Key": key})


def detail(api: TestClient, warning: str, user: str = "national") -> dict:
    response = api.get(f"/warnings/{warning}", headers=bearer(user))
    assert response.status_code == 200, response.text
    return response.json()["properties"]


def events(kafka: KafkaConfig, topic: str, count: int, timeout_s: float = 15.0) -> list[dict]:
    """The first ``count`` events of the topic, read from the beginning."""
    reader = KafkaConsumer(**kafka.consumer(None))
    try:
        deadline = time.monotonic() + timeout_s
        while not (partitions := reader.partitions_for_topic(topic)):
            assert time.monotonic() < deadline, f"no metadata for {topic}"
            time.sleep(0.1)
        reader.assign([TopicPartition(topic, p) for p in partitions])
        found: list[dict] = []
        while len(found) < count and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=200).values():
                found.extend(orjson.loads(record.value) for record in batch)
        return found
    finally:
        reader.close()


def test_a_warning_from_manual_raise_to_lift(api: TestClient, broker, topic_prefix: str):
    raised = api.post("/warnings", headers={**bearer("yunnan"), "Idempotency-Key": "raise-p4"},
                      json={"point_id": "P4", "level": "orange", "reason": "new cracks"})
    assert raised.status_code == 201, raised.text
    body = raised.json()
    warning = body["warning_id"]
    assert (body["level"], body["state"], body["version"]) == ("orange", "issued", 1)
    assert raised.headers["location"] == f"/warnings/{warning}"
    steps = [("upgrade", "red"), ("acknowledge", None), ("downgrade", "yellow"), ("lift", None)]
    for version, (action, level) in enumerate(steps, start=1):
        response = act(api, "yunnan", warning, f"step-{version}", action, version, level)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == version + 1
    properties = detail(api, warning, "yunnan")
    assert (properties["status"], properties["state"], properties["level"]) == (
        "lifted", "lifted", "yellow")
    assert (properties["peak_level"], properties["level_source"]) == ("red", "officer")
    assert properties["detected_at"] == properties["issued_at"]
    assert properties["acknowledged_at"] and properties["acted_at"] and properties["lifted_at"]
    trail = [(t["kind"], t["actor"], t["from_state"], t["to_state"], t["version"])
             for t in properties["transitions"]]
    assert trail == [("opened", "yunnan", None, "issued", 1),
                     ("escalated", "yunnan", "issued", "issued", 2),
                     ("acknowledged", "yunnan", "issued", "acknowledged", 3),
                     ("downgraded", "yunnan", "acknowledged", "acknowledged", 4),
                     ("lifted", "yunnan", "acknowledged", "lifted", 5)]
    assert properties["transitions"][0]["reason"] == "new cracks"

    topic = f"{topic_prefix}geowarn.warning-events"
    published = [e for e in events(KafkaConfig(broker.bootstrap), topic, 5)
                 if e["warning_id"] == warning]
    assert [(e["transition"], e["actor"]) for e in published] == [
        (kind, "yunnan") for kind in ("opened", "escalated", "acknowledged", "downgraded",
                                      "lifted")]
    assert published[0]["reason"] == "new cracks" and published[0]["threatened_people"] == 100
    assert all(t["published_at"] for t in detail(api, warning)["transitions"])


def test_two_officers_at_once_one_wins_the_other_gets_409_with_the_current_state(
        api: TestClient):
    assert detail(api, "W1", "sichuan")["version"] == detail(api, "W1", "national")["version"] == 1
    first = act(api, "sichuan", "W1", "officer-1", "acknowledge", 1)
    second = act(api, "national", "W1", "officer-2", "upgrade", 1, level="red")
    assert first.status_code == 200
    assert second.status_code == 409
    conflict = second.json()
    assert "version 2, not 1" in conflict["detail"]
    assert (conflict["current"]["version"], conflict["current"]["state"],
            conflict["current"]["level"]) == (2, "acknowledged", "orange")
    retried = act(api, "national", "W1", "officer-2b", "upgrade", 2, level="red")
    assert retried.status_code == 200 and retried.json()["level"] == "red"


def test_a_replayed_action_returns_the_same_result_and_no_second_audit_row(api: TestClient):
    first = act(api, "sichuan", "W1", "same-key", "acknowledge", 1)
    again = act(api, "sichuan", "W1", "same-key", "acknowledge", 1)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(detail(api, "W1")["transitions"]) == 3  # two seeded + one
    reused = act(api, "sichuan", "W1", "same-key", "lift", 2)
    assert reused.status_code == 422 and "different request" in reused.json()["detail"]
    by_body = api.post("/warnings/W1/actions", headers=bearer("sichuan"), json={
        "action": "lift", "reason": "over", "expected_version": 2, "action_id": "client-7"})
    replay = api.post("/warnings/W1/actions", headers=bearer("sichuan"), json={
        "action": "lift", "reason": "over", "expected_version": 2, "action_id": "client-7"})
    assert by_body.status_code == 200 and replay.json() == by_body.json()


@pytest.mark.parametrize(("warning", "action", "level", "status", "message"), [
    ("W1", "upgrade", "yellow", 422, "upgrade needs a level above orange, not yellow"),
    ("W1", "downgrade", "none", 422, "to end the warning, lift it"),
    ("W1", "upgrade", "purple", 422, "unknown warning level 'purple'"),
    ("W1", "issue", None, 409, "only a raised warning can be issued"),
    ("W2", "acknowledge", None, 409, "was lifted"),
    ("W9", "acknowledge", None, 404, "no warning with id 'W9'"),
])
def test_actions_the_state_does_not_allow(api: TestClient, warning, action, level, status,
                                          message):
    response = act(api, "national", warning, f"bad-{action}-{level}", action, 1, level)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_an_action_needs_an_idempotency_key_and_a_reason(api: TestClient):
    no_key = api.post("/warnings/W1/actions", headers=bearer("sichuan"),
                      json={"action": "acknowledge", "reason": "x", "expected_version": 1})
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["detail"]
    no_reason = api.post("/warnings/W1/actions", headers={**bearer("sichuan"),
                                                          "Idempotency-Key": "k"},
                         json={"action": "acknowledge", "expected_version": 1})
    assert no_reason.status_code == 422


def test_a_point_with_an_active_warning_is_not_raised_twice(api: TestClient):
    response = api.post("/warnings", headers={**bearer("sichuan"), "Idempotency-Key": "dup"},
                        json={"point_id": "P1", "level": "red", "reason": "again"})
    assert response.status_code == 409
    assert response.json()["current"]["id"] == "W1"


def test_the_warning_detail_carries_the_exposure_and_the_lifecycle(api: TestClient):
    properties = detail(api, "W3", "yunnan")
    assert (properties["threatened_people"], properties["households"]) == (100, 30)
    assert (properties["state"], properties["version"], properties["jurisdictions"]) == (
        "issued", 1, ["530000"])
    listed = api.get("/warnings", headers=bearer("yunnan")).json()["features"][0]["properties"]
    assert (listed["threatened_people"], listed["households"], listed["version"]) == (100, 30, 1)
