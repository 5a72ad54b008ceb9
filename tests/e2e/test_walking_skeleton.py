"""End to end: the real CLI processes against Tansu and PostgreSQL.

Three points are imported with `geowarn points import` and a national
officer is added with `geowarn users add`; the scorer, the ledger and the API
run as `geowarn` subprocesses; readings are produced by a plain Kafka client;
the officer logs in at POST /auth/token and reads with the access token. One point accelerates, one stays stable: a WebSocket
client must receive a warning event for the first and none for the second.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import websockets
from kafka import KafkaConsumer, KafkaProducer

from geowarn.embedded import free_port, wait_for_port
from streams.topics import Topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

POINTS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.60, 31.05]},
         "properties": {"id": "E2E-ACCEL", "name": "Accelerating slope", "hazard_type": "landslide",
                        "threatened_people": 420, "households": 130, "sensors": "G1:gnss:mm"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [102.70, 25.05]},
         "properties": {"id": "E2E-STABLE", "name": "Stable slope", "hazard_type": "landslide",
                        "threatened_people": 80, "households": 25, "sensors": "G1:gnss:mm"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.55, 29.56]},
         "properties": {"id": "E2E-WARMUP", "name": "Warm-up slope", "hazard_type": "collapse",
                        "threatened_people": 10, "households": 3, "sensors": "G1:gnss:mm"}},
    ],
}

START = datetime(2026, 7, 1, tzinfo=UTC)


def reading(point: str, hours: float, value_mm: float) -> bytes:
    observed = (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"schema_version": 1, "point_id": point, "sensor_id": "G1", "kind": "gnss",
                         "observed_at": observed, "value": value_mm, "unit": "mm"})


def accelerating(hours: float) -> float:
    """Cumulative displacement (mm) of a slope whose velocity grows towards failure at 60 h."""
    return 400.0 * (1.0 / (60.0 - hours) - 1.0 / 60.0) * 60.0


@pytest.fixture
def environment(broker, postgres_url, topic_prefix, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "GEOWARN_KAFKA_BOOTSTRAP": broker.bootstrap,
        "GEOWARN_DATABASE_URL": postgres_url,
        "GEOWARN_TOPIC_PREFIX": topic_prefix,
        "GEOWARN_TOPIC_PARTITIONS": "3",
        "GEOWARN_DATA_DIR": str(tmp_path / "var"),
        "GEOWARN_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "GEOWARN_REGISTRY_REFRESH_SECONDS": "1",
    }


OFFICER, PASSWORD = "e2e-officer", "e2e officer passphrase"


def geowarn(env: dict[str, str], *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geowarn.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def login(api: str) -> dict[str, str]:
    response = httpx.post(f"http://{api}/auth/token", timeout=10,
                          data={"username": OFFICER, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def services(environment, tmp_path):
    assert geowarn(environment, "topics-create").returncode == 0
    points_file = tmp_path / "points.geojson"
    points_file.write_bytes(orjson.dumps(POINTS))
    imported = geowarn(environment, "points", "import", str(points_file))
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 risk point(s)" in imported.stdout
    added = geowarn(environment, "users", "add", OFFICER, "--role", "national_officer",
                    "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr

    port = free_port(18000)
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = {"scorer": ["workers", "scorer"], "ledger": ["workers", "ledger"],
                "api": ["serve", "--port", str(port)]}
    processes = {}
    for name, args in commands.items():
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        processes[name] = (subprocess.Popen([sys.executable, "-m", "geowarn.cli", *args],
                                            env=environment, stdout=out, stderr=subprocess.STDOUT), out)
    try:
        wait_for_port("127.0.0.1", port, 60, processes["api"][0])
        yield f"127.0.0.1:{port}"
    finally:
        for process, _ in processes.values():
            process.terminate()
        for name, (process, out) in processes.items():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{name} did not stop on SIGTERM within 15 s")
            out.close()
        for name in commands:
            sys.stderr.write(f"--- {name} log ---\n{(logs / f'{name}.log').read_text()[-3000:]}\n")


def wait_for_workers(api: str, timeout: float = 60.0) -> None:
    """Both workers have committed at least once (they record it for /health)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(f"http://{api}/health", timeout=5).json()
        workers = {consumer["worker"] for consumer in health.get("consumers", [])}
        if {"scorer", "ledger"} <= workers:
            return
        time.sleep(0.5)
    pytest.fail(f"workers did not report progress within {timeout} s: {health}")


def test_accelerating_point_is_warned_stable_point_is_not(services, environment, broker):
    api = services
    topics = Topics.with_prefix(environment["GEOWARN_TOPIC_PREFIX"])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)

    # Warm-up: a stable point makes both workers join their groups and commit.
    for step in range(6):
        producer.send(topics.readings, key=b"E2E-WARMUP", value=reading("E2E-WARMUP", 2 * step, 0.01 * step))
    producer.flush()
    wait_for_workers(api)
    assert httpx.get(f"http://{api}/warnings", timeout=5).status_code == 401
    headers = login(api)

    async def listen() -> list[dict]:
        received: list[dict] = []
        async with websockets.connect(f"ws://{api}/ws/warnings",
                                      additional_headers=headers) as socket:
            hello = orjson.loads(await socket.recv())
            assert hello["type"] == "hello"
            hours = [h * 0.5 for h in range(110)]  # 0 .. 54.5 h, failure at 60 h
            for index, h in enumerate(hours):
                producer.send(topics.readings, key=b"E2E-ACCEL", value=reading("E2E-ACCEL", h, accelerating(h)))
                producer.send(topics.readings, key=b"E2E-STABLE",
                              value=reading("E2E-STABLE", h, 5.0 + 0.02 * ((index % 5) - 2)))
                if index == 50:
                    producer.send(topics.readings, key=b"E2E-ACCEL", value=b"{not json")
            producer.flush()
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                try:
                    message = orjson.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
                except TimeoutError:
                    break
                if message.get("type") == "warning_event":
                    received.append(message["event"])
                    if any(e["point_id"] == "E2E-ACCEL" and e["to_level"] in ("orange", "red")
                           for e in received):
                        # Keep listening a little: an event for the stable point must not follow.
                        deadline = min(deadline, time.monotonic() + 2.0)
        return received

    events = asyncio.run(listen())
    accel = [e for e in events if e["point_id"] == "E2E-ACCEL"]
    assert accel, f"no warning event for the accelerating point within 10 s: {events}"
    assert accel[0]["transition"] == "opened"
    assert accel[-1]["to_level"] in ("orange", "red")
    assert accel[0]["threatened_people"] == 420 and accel[0]["province"]
    assert not [e for e in events if e["point_id"] == "E2E-STABLE"]

    listed = httpx.get(f"http://{api}/warnings", params={"status": "active"}, headers=headers,
                       timeout=5).json()
    ids = {f["properties"]["point_id"] for f in listed["features"]}
    assert "E2E-ACCEL" in ids and "E2E-STABLE" not in ids
    warning_id = next(f["id"] for f in listed["features"] if f["properties"]["point_id"] == "E2E-ACCEL")
    detail = httpx.get(f"http://{api}/warnings/{warning_id}", headers=headers, timeout=5).json()
    evidence = detail["properties"]["evidence"]
    assert evidence and evidence[0]["name"] == "velocity" and evidence[0]["value"] > 0
    assert detail["properties"]["transitions"][0]["kind"] == "opened"
    assert detail["properties"]["transitions"][0]["actor"] == "system:scorer"
    assert (detail["properties"]["threatened_people"], detail["properties"]["households"]) == (
        420, 130)

    # The malformed message is dead-lettered with its reason and source offset.
    consumer = KafkaConsumer(topics.deadletter, bootstrap_servers=broker.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    letters = [orjson.loads(record.value) for record in consumer]
    consumer.close()
    bad = [letter for letter in letters if base64.b64decode(letter["value_b64"]) == b"{not json"]
    assert bad, f"malformed reading not dead-lettered: {letters}"
    letter = bad[0]
    assert letter["source_topic"] == topics.readings and letter["reason"]
    assert letter["source_offset"] >= 0
