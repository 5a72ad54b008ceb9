"""The raster worker end to end on the real Kirishima InSAR product, through a real broker
(Tansu) into SQLite and PostgreSQL: announcements in, candidate areas, velocity samples and
dead letters out.

Kirishima is in Japan, outside China's territory, so this test's policy uses a territory
box around Kyushu (129..132.5 E, 30..34 N) instead of China's polygon: the check still
runs, on the region the data covers.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime

import h5py
import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from numpy.testing import assert_allclose

from geo.boundaries import Boundaries
from geo.insar_areas import CANDIDATE, find_risk_areas, mintpy_georef, sample_velocity
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.rasters import insar_samples, list_candidate_areas
from streams.kafka_config import KafkaConfig
from streams.raster_worker import raster_worker
from streams.topics import Topics, ensure_topics
from tests.conftest import SHARED_DATA
from tests.streams.raster_scenarios import announcement, point, raster_settings

pytestmark = [pytest.mark.kafka]

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
KYUSHU = (129.0, 30.0, 132.5, 34.0)
VALID_AT = datetime(2017, 9, 18, tzinfo=UTC)
LATER = datetime(2017, 10, 2, tzinfo=UTC)
VELOCITY_ATOL_MM_YR = 1e-9
WAIT_S = 60.0


@pytest.fixture(scope="module")
def kirishima() -> dict:
    """The product's arrays, read independently of the worker (mm/yr, coherence, georef)."""
    with h5py.File(KIRISHIMA / "velocity.h5", "r") as f:
        velocity = f["velocity"][:].astype(float) * 1000.0
        attrs = {k: f.attrs[k] for k in f.attrs}
    with h5py.File(KIRISHIMA / "temporalCoherence.h5", "r") as f:
        coherence = f["temporalCoherence"][:].astype(float)
    return {"velocity": velocity, "coherence": coherence, "georef": mintpy_georef(attrs)}


def read_topic(bootstrap: str, topic: str, expect, timeout: float = WAIT_S) -> list:
    """Read a topic from the beginning with our own consumer until ``expect(messages)``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or [0]])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not expect(messages):
            for records in consumer.poll(timeout_ms=200).values():
                messages.extend(records)
        return messages
    finally:
        consumer.close()


def wait_committed(worker, offset: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and sum(worker.committed.values()) < offset:
        time.sleep(0.1)
    assert sum(worker.committed.values()) == offset


@pytest.fixture
def running(broker, topic_prefix, database_url, tmp_path):
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    root = tmp_path / "rasters"
    (root / "kirishima").mkdir(parents=True)
    for name in ("velocity.h5", "temporalCoherence.h5"):
        shutil.copy(KIRISHIMA / name, root / "kirishima" / name)
    settings = raster_settings(root, tmp_path / "nowcast", territory=KYUSHU)
    stop = threading.Event()
    worker = raster_worker(config=KafkaConfig(broker.bootstrap, session_timeout_ms=6000),
                           topics=topics, sessions=sessions, settings=settings,
                           boundaries=Boundaries.load(), group=f"{topic_prefix}raster",
                           stop=stop, batch_records=1)
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        yield topics, worker, sessions, root, thread
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(30)
        engine.dispose()
        assert not thread.is_alive(), "the worker did not stop"


def test_kirishima_candidate_areas_match_the_velocity_field_once_and_survive_bad_files(
        broker, running, kirishima):
    topics, worker, sessions, root, thread = running
    g = kirishima["georef"]
    direct, _ = find_risk_areas(kirishima["velocity"], kirishima["coherence"], g.transform,
                                g.crs, (g.ref_lon, g.ref_lat))
    # A registered point at the peak of the largest area covers it: it is no candidate.
    peak_lon, peak_lat = g.transform @ (direct.clusters.peak_col[0] + 0.5,
                                        direct.clusters.peak_row[0] + 0.5)
    watched = point("KIRI1", float(peak_lon), float(peak_lat), in_sichuan=False)
    with session_scope(sessions) as session:
        upsert_points(session, [watched])
    _, expected = find_risk_areas(kirishima["velocity"], kirishima["coherence"], g.transform,
                                  g.crs, (g.ref_lon, g.ref_lat), point_ids=[watched.id],
                                  point_lon=np.array([watched.lon]),
                                  point_lat=np.array([watched.lat]))
    expected = expected[expected["status"] == CANDIDATE]
    assert 0 < len(expected) == len(direct.clusters) - 1

    velocity_h5 = root / "kirishima" / "velocity.h5"
    truncated = root / "kirishima" / "cut" / "velocity.h5"
    truncated.parent.mkdir()
    data = velocity_h5.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    good = announcement("insar_velocity", velocity_h5, "m/yr", VALID_AT)
    producer.send(topics.rasters, key=b"insar_velocity", value=good)
    producer.flush()
    thread.start()

    wait_committed(worker, 1)
    with sessions() as session:
        stored, total = list_candidate_areas(session, limit=10_000)
        sample = insar_samples(session, watched.id)
    assert total == len(expected)
    assert_allclose(sorted(a.peak_velocity_mm_yr for a in stored),
                    sorted(expected["peak_velocity_mm_yr"]), atol=VELOCITY_ATOL_MM_YR)
    assert sorted(a.pixel_count for a in stored) == sorted(expected["pixel_count"])
    assert {a.status for a in stored} == {CANDIDATE}
    assert stored[0].evidence["indicator"] == "insar_los_velocity"
    assert stored[0].evidence["source"]["coherence"].endswith("temporalCoherence.h5")
    reference = sample_velocity(kirishima["velocity"], kirishima["coherence"], g.transform,
                                g.crs, direct.reference_pixel, np.array([watched.lon]),
                                np.array([watched.lat]))
    assert [s.velocity_mm_yr for s in sample] == pytest.approx(reference.tolist(),
                                                               abs=VELOCITY_ATOL_MM_YR)

    # The same product again adds nothing; a truncated file is dead-lettered; a good
    # product after it is processed.
    producer.send(topics.rasters, key=b"insar_velocity", value=good)
    bad = announcement("insar_velocity", truncated, "m/yr", LATER)
    producer.send(topics.rasters, key=b"insar_velocity", value=bad)
    producer.send(topics.rasters, key=b"insar_velocity",
                  value=announcement("insar_velocity", velocity_h5, "m/yr", LATER))
    producer.flush()
    producer.close()
    wait_committed(worker, 4)

    letters = [orjson.loads(m.value) for m in read_topic(broker.bootstrap, topics.deadletter,
                                                         lambda ms: len(ms) >= 1)]
    assert len(letters) == 1
    assert letters[0]["source_offset"] == 2 and letters[0]["source_topic"] == topics.rasters
    assert "truncated" in letters[0]["reason"] and str(truncated) in letters[0]["reason"]
    with sessions() as session:
        _, total_after = list_candidate_areas(session, limit=1)
        samples_after = insar_samples(session, watched.id)
    assert total_after == 2 * len(expected)               # the later product's areas, once
    assert [s.valid_at for s in samples_after] == [VALID_AT, LATER]
    assert worker.handler.counts == {"insar_velocity": 3, "dead_letters": 1}


def test_published_rasters_outside_the_roots_never_reach_the_database(broker, running):
    topics, worker, sessions, _, thread = running
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topics.rasters, key=b"insar_velocity",
                  value=announcement("insar_velocity", KIRISHIMA / "velocity.h5", "m/yr"))
    producer.flush()
    producer.close()
    thread.start()
    letters = read_topic(broker.bootstrap, topics.deadletter, lambda ms: len(ms) >= 1)
    assert "outside the allowed roots" in orjson.loads(letters[0].value)["reason"]
    wait_committed(worker, 1)
    with sessions() as session:
        assert list_candidate_areas(session, status="all")[1] == 0
