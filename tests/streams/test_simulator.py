"""The reading simulator: deterministic, valid readings, some slopes accelerating."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson

from geo.registry import RiskPoint
from streams.schemas import Reading
from streams.simulator import simulate

START = datetime(2026, 7, 1, tzinfo=UTC)


def points(n=60):
    sensors = [{"sensor_id": "G1", "kind": "gnss", "unit": "cm"},
               {"sensor_id": "R1", "kind": "rain_gauge"}, {"sensor_id": "P1", "kind": "pore_pressure"}]
    return [RiskPoint(id=f"S{i:03d}", name="p", hazard_type="landslide", lon=103.0, lat=30.0,
                      geometry={"type": "Point", "coordinates": [103.0, 30.0]}, sensors=sensors)
            for i in range(n)]


def run(seed=5, **options):
    sent = []
    report = simulate(points(), lambda k, v: sent.append((k, v)), start=START, rate=600.0,
                      speed=600.0, duration_s=4 * 3600, backfill_hours=6, pace=False, seed=seed,
                      accelerating_fraction=0.1, **options)
    return report, sent


def test_the_same_seed_gives_the_same_readings_and_another_seed_does_not():
    report, sent = run()
    again, sent_again = run()
    assert sent == sent_again and report == again
    assert run(seed=6)[1] != sent


def test_readings_are_valid_keyed_by_point_and_cover_backfill_and_live_time():
    report, sent = run()
    readings = [Reading.model_validate(orjson.loads(value)) for _, value in sent]
    assert all(key.decode() == r.point_id for (key, _), r in zip(sent, readings))
    assert report.readings == len(sent) and report.backfill_readings == 48 * 180
    assert min(r.observed_at for r in readings) < START <= max(r.observed_at for r in readings)
    assert {r.kind.value for r in readings} == {"gnss", "rain_gauge", "pore_pressure"}


def test_accelerating_points_exist_and_their_velocity_grows():
    report, sent = run()
    assert report.accelerating_points
    point = report.accelerating_points[0]
    gnss = sorted((r.observed_at, r.value) for r in
                  (Reading.model_validate(orjson.loads(v)) for k, v in sent if k == point.encode())
                  if r.kind.value == "gnss")
    t = np.array([(when - START).total_seconds() / 86_400 for when, _ in gnss])
    x = np.array([value for _, value in gnss])
    early, late = t < 0, t > t.max() - 0.1
    v_early = np.polyfit(t[early], x[early], 1)[0]
    v_late = np.polyfit(t[late], x[late], 1)[0]
    assert v_late > 2 * v_early > 0
