"""`geowarn rasters publish` through the real CLI against a real broker (Tansu): a file
under a raster root is announced with its absolute path; anything else is refused before
a message is sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.topics import Topics, ensure_topics
from tests.streams.raster_scenarios import write_rain
from tests.streams.test_raster_worker_kafka import read_topic

pytestmark = [pytest.mark.kafka]


def geowarn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geowarn.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture
def env(broker, topic_prefix, tmp_path) -> dict[str, str]:
    ensure_topics(broker.bootstrap, partitions=1, replication=1, retention_ms=3_600_000,
                  topics=Topics.with_prefix(topic_prefix))
    return {**os.environ, "GEOWARN_KAFKA_BOOTSTRAP": broker.bootstrap,
            "GEOWARN_TOPIC_PREFIX": topic_prefix, "GEOWARN_DATA_DIR": str(tmp_path / "var"),
            "GEOWARN_RASTER_ROOTS": orjson.dumps([str(tmp_path / "rasters")]).decode()}


def test_publish_announces_a_file_under_a_root(broker, env, topic_prefix, tmp_path: Path):
    rain = write_rain(tmp_path / "rasters" / "2026" / "rain.tif")
    done = geowarn(env, "rasters", "publish", "2026/rain.tif", "--product", "rainfall_observed",
                   "--valid-at", "2026-07-01T16:00:00+08:00", "--units", "mm/h")
    assert done.returncode == 0, done.stderr
    assert f"announced rainfall_observed {rain}" in done.stdout
    messages = read_topic(broker.bootstrap, Topics.with_prefix(topic_prefix).rasters,
                          lambda ms: len(ms) >= 1)
    assert [(m.key, orjson.loads(m.value)) for m in messages] == [(b"rainfall_observed", {
        "schema_version": 1, "product": "rainfall_observed", "location": str(rain),
        "valid_at": "2026-07-01T08:00:00Z", "units": "mm/h"})]


@pytest.mark.parametrize(("args", "message"), [
    (["/etc/hostname", "--units", "mm/h", "--valid-at", "2026-07-01T08:00:00Z"],
     "outside the allowed roots"),
    (["missing.tif", "--units", "mm/h", "--valid-at", "2026-07-01T08:00:00Z"], "no such file"),
    (["ftp://host/rain.tif", "--units", "mm/h", "--valid-at", "2026-07-01T08:00:00Z"],
     "scheme 'ftp' is not allowed"),
    (["rain.tif", "--units", "mm/h", "--valid-at", "2026-07-01T08:00:00"], "needs a time zone"),
    (["rain.tif", "--units", "gallons", "--valid-at", "2026-07-01T08:00:00Z"],
     "rainfall units 'gallons'"),
])
def test_publish_refuses_what_the_worker_would_refuse(env, tmp_path, args, message):
    write_rain(tmp_path / "rasters" / "rain.tif")
    done = geowarn(env, "rasters", "publish", "--product", "rainfall_observed", *args)
    assert done.returncode == 2 and message in done.stderr
