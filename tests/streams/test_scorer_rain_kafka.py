"""Rain end to end through a real broker (Tansu): a rainfall raster announced on the rasters
topic -> the raster worker's derived readings -> the scorer -> assessments whose level comes
from the intensity-duration threshold, with the rainfall evidence; a fresh rain gauge at a
point wins over the grid sample there.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import numpy as np
import orjson
import pytest
from kafka import KafkaProducer
from numpy.testing import assert_allclose

from geo.boundaries import Boundaries
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from streams.kafka_config import KafkaConfig
from streams.raster_worker import raster_worker
from streams.scorer import scorer_worker
from streams.topics import Topics, ensure_topics
from tests.streams.raster_scenarios import (
    POINTS,
    T0,
    announcement,
    rain_cell,
    rain_values,
    raster_settings,
    write_rain,
)
from tests.streams.test_raster_worker_kafka import read_topic

pytestmark = [pytest.mark.kafka]

RATIO_RTOL = 1e-6          # the grid holds float32 values
CAINE_1H = 14.82           # Caine (1980) at 1 h, mm/h


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
    assert condition()


@pytest.fixture
def pipeline(broker, topic_prefix, sqlite_url, tmp_path):
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, list(POINTS))
    root = tmp_path / "rasters"
    config = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    stop = threading.Event()
    workers = [
        raster_worker(config=config, topics=topics, sessions=sessions,
                      settings=raster_settings(root, tmp_path / "nowcast"),
                      boundaries=Boundaries.load(), group=f"{topic_prefix}raster", stop=stop,
                      batch_records=1),
        scorer_worker(config=config, topics=topics,
                      known_points=lambda: {p.id: p.hazard_type for p in POINTS},
                      group=f"{topic_prefix}scorer", stop=stop)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield topics, root, workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        engine.dispose()
        assert not any(t.is_alive() for t in threads), "a worker did not stop"


def test_a_rainfall_raster_becomes_assessments_with_rainfall_levels(broker, pipeline):
    topics, root, (raster, scorer) = pipeline
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    # WET2 has a gauge of its own, reporting light rain at the raster's valid time.
    gauge = {"schema_version": 1, "point_id": "WET2", "sensor_id": "RG1", "kind": "rain_gauge",
             "observed_at": (T0 - timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
             "value": 2.0, "unit": "mm/h"}
    producer.send(topics.readings, key=b"WET2", value=orjson.dumps(gauge)).get(30)
    wait_for(lambda: sum(scorer.committed.values()) == 1)
    producer.send(topics.rasters, key=b"rainfall_observed", value=announcement(
        "rainfall_observed", write_rain(root / "rain" / "0800.tif"), "mm/h")).get(30)
    producer.close()

    wait_for(lambda: sum(raster.committed.values()) == 1)
    wait_for(lambda: sum(scorer.committed.values()) == 4)   # the gauge + WET1, WET2, DRY1
    messages = read_topic(broker.bootstrap, topics.assessments,
                          lambda ms: {orjson.loads(m.value)["point_id"] for m in ms}
                          >= {"WET1", "WET2", "DRY1"})
    last = {}
    for message in messages:
        a = orjson.loads(message.value)
        last[a["point_id"]] = a
    # WET1: 160+ mm/h in one hour is over ten times Caine's 14.82 mm/h: red by the ratio,
    # capped at yellow for a landslide on rainfall alone.
    wet1 = last["WET1"]
    rain = next(e for e in wet1["evidence"] if e["name"] == "rainfall_intensity_duration")
    cell = float(rain_values()[rain_cell(POINTS[0].lon, POINTS[0].lat)])
    assert wet1["level"] == "yellow" and rain["level"] == "red"
    assert rain["sensor_id"] == "grid:rainfall_observed" and rain["valid"] is True
    assert_allclose(rain["value"], cell / CAINE_1H, rtol=RATIO_RTOL)
    assert_allclose(rain["numbers"]["accumulation_1h_mm"], cell, rtol=RATIO_RTOL)
    assert rain["numbers"]["contribution_level"] == 2.0
    # WET2: its own gauge (2 mm/h, 30 minutes old) wins over the grid's downpour, which
    # the scorer has judged (committed) without raising the point.
    wet2 = [orjson.loads(m.value) for m in messages if m.key == b"WET2"]
    assert [a["level"] for a in wet2] == ["none"]
    gauge_evidence = next(e for e in wet2[0]["evidence"]
                          if e["name"] == "rainfall_intensity_duration")
    assert gauge_evidence["sensor_id"] == "RG1" and gauge_evidence["numbers"]["selected"] == 1.0
    assert last["DRY1"]["level"] == "none"
    assert np.isclose(next(e for e in last["DRY1"]["evidence"]
                           if e["name"] == "rainfall_intensity_duration")["value"], 0.0)
