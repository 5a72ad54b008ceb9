"""Ingest benchmark: the scorer's end-to-end rate against raw kafka-python consumption.

    python -m bench.ingest [--readings 200000] [--points 50000] [--profile out.pstats]

Starts the embedded broker (Tansu) unless GEOWARN_KAFKA_BOOTSTRAP is set,
creates topics under a fresh prefix and produces simulated readings
(``streams.simulator``): 50,000 points with a GNSS receiver and a crack
meter each, 200,000 readings (two per sensor, 15 simulated minutes apart).
Then, on the same messages, in the same process and run:

(a) baseline: a plain kafka-python consumer loop over poll() batches that
    only counts the records (values untouched);
(b) the scorer worker's loop (``streams.worker.Worker.step``): poll, decode,
    screen, update state, judge every reading in event time with the site
    model (rates, tangent angle, inverse velocity, absolute thresholds,
    sensor health, fusion), produce assessments and dead letters, flush,
    commit.

Both rates are timed from the first non-empty batch to the last record, so
neither includes connection set-up or the consumer-group join. The scorer
starts warm: its state is first loaded with 12 hours of history (48
readings per sensor, ``Scorer.preload``), untimed, as a running worker's
would be; the timed run then emits only the level changes the new readings
cause (plus dead letters, none here). A cold start would emit one
assessment per point (the re-assertion after start) and is not what this
measures. Prints both rates, their ratio and whether crc32c is installed
(without it kafka-python checks record CRCs in pure Python, about 4x slower).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import os
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from geo.registry import RiskPoint, SensorSpec
from geowarn.embedded import embedded_broker
from streams.kafka_config import KafkaConfig
from streams.scorer import Scorer, ScorerHandler
from streams.simulator import history, simulate
from streams.topics import Topics, ensure_topics
from streams.worker import Worker
from warning_models.levels import LEVEL_LABELS

START = datetime(2026, 7, 1, tzinfo=UTC)
HISTORY_HOURS = 12.0
HISTORY_SAMPLES = 48  # one reading per sensor every 15 minutes, as in the live part
SENSORS = (SensorSpec(sensor_id="G1", kind="gnss", unit="mm"),
           SensorSpec(sensor_id="C1", kind="crack", unit="mm"))


def make_points(count: int) -> list[RiskPoint]:
    geometry = {"type": "Point", "coordinates": [103.0, 30.0]}
    return [RiskPoint(id=f"B{i:06d}", name=f"bench point {i}", hazard_type="landslide", lon=103.0,
                      lat=30.0, geometry=geometry, sensors=SENSORS) for i in range(count)]


def raw_consume(config: KafkaConfig, topic: str, partitions: int, expected: int) -> float:
    """Records/s of a plain poll() loop that only counts records."""
    consumer = KafkaConsumer(**config.consumer(None))
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    seen = 0
    started = None
    try:
        while seen < expected:
            batch = consumer.poll(timeout_ms=1000, max_records=config.max_poll_records)
            count = sum(len(records) for records in batch.values())
            if count and started is None:
                started = time.perf_counter()
            seen += count
        return seen / (time.perf_counter() - started)
    finally:
        consumer.close()


def scorer_run(config: KafkaConfig, topics: Topics, scorer: Scorer, expected: int,
               profile: str | None) -> tuple[float, Worker]:
    """Records/s of the scorer worker's loop over the same records."""
    handler = ScorerHandler(scorer, topics)
    worker = Worker(name="bench-scorer", config=config, group=f"bench-{uuid.uuid4().hex[:8]}",
                    topics=[topics.readings], handler=handler, stop=threading.Event(),
                    checkpoint_dir=None)
    worker.open()
    profiler = cProfile.Profile() if profile else None
    started = None
    try:
        while worker.records < expected:
            if started is None:
                worker.step()
                if worker.records:
                    started = time.perf_counter() - 1e-9
                    # the first batch is timed from its arrival: count its handling
                    if profiler:
                        profiler.enable()
                continue
            worker.step()
        elapsed = time.perf_counter() - started
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        worker.close()
    return worker.records / elapsed, worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--profile", help="write cProfile stats of the scorer run here")
    args = parser.parse_args(argv)

    bootstrap = os.environ.get("GEOWARN_KAFKA_BOOTSTRAP")
    with contextlib.ExitStack() as stack:
        if not bootstrap:
            bootstrap = stack.enter_context(embedded_broker(port=29_092)).bootstrap
            print(f"embedded broker (Tansu) at {bootstrap}")
        config = KafkaConfig(bootstrap, client_id="geowarn-bench", session_timeout_ms=6000)
        topics = Topics.with_prefix(f"bench{uuid.uuid4().hex[:8]}.")
        ensure_topics(bootstrap, partitions=args.partitions, replication=1,
                      retention_ms=3_600_000, topics=topics)

        points = make_points(args.points)
        sensors = sum(len(p.sensors) for p in points)
        live: list[tuple[bytes, bytes]] = []
        report = simulate(points, lambda k, v: live.append((k, v)), start=START,
                          rate=sensors * 60 / 900, speed=60, pace=False,
                          max_readings=args.readings, seed=7)
        print(f"simulated: {report.summary()}")

        producer = KafkaProducer(**config.producer())
        began = time.perf_counter()
        for key, value in live:
            producer.send(topics.readings, value, key=key)
        producer.flush()
        producer.close()
        print(f"produced {len(live):,} readings in {time.perf_counter() - began:.1f} s "
              f"({sum(len(v) for _, v in live) / len(live):.0f} bytes each)")

        scorer = Scorer({p.id: p.hazard_type.value for p in points})
        began = time.perf_counter()
        past = history(points, start=START, hours=HISTORY_HOURS, samples=HISTORY_SAMPLES, seed=7)
        scorer.preload(past["point_id"], past["sensor_id"], past["kind"], past["observed_ns"],
                       past["value"])
        levels = Counter(scorer.point_levels().values())
        print(f"warm state: {len(past['value']):,} history readings in "
              f"{time.perf_counter() - began:.1f} s; point levels "
              f"{dict(sorted(levels.items(), key=lambda item: LEVEL_LABELS.index(item[0])))}")

        raw = raw_consume(config, topics.readings, args.partitions, len(live))
        rate, worker = scorer_run(config, topics, scorer, len(live), args.profile)

    crc = importlib.util.find_spec("crc32c") is not None
    print(f"crc32c installed: {crc}")
    print(f"(a) raw kafka-python consume: {raw:,.0f} readings/s")
    print(f"(b) scorer end to end:        {rate:,.0f} readings/s "
          f"({worker.batches} batches, {worker.handler.assessments_out} assessments, "
          f"{worker.handler.dead_letters_out} dead letters produced)")
    print(f"ratio scorer / raw: {rate / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
