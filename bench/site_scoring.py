"""Site-scoring benchmark: one new reading at each of 50,000 points, vectorised vs per point.

    python -m bench.site_scoring [--points 50000] [--history-hours 72] [--loop-points 500]

Builds 50,000 risk points with one GNSS receiver each and a warm-up history
(``--history-hours`` of hourly readings): most points stable (2 mm of
noise), a sixth creeping at about 1 mm/day, one in twenty accelerating
towards failure (Voight's law, α = 2, failing 2-10 days after the end of
the history), with v̄ = 1 mm/day configured for every point so that the
tangent angle and, where it passes the gate, the inverse-velocity forecast
run. The history is loaded untimed (``Scorer.preload``), as a running
worker's state would be. Then, in one process and run:

(a) vectorised: ``Scorer.handle`` on one batch holding the next reading of
    every point (decode, screen, judge, forecast, fuse, build the
    assessments of the points whose level changes);
(b) baseline: a plain Python loop over the points with the reference
    per-series models on the same data (kinematics, tangent angle, inverse
    velocity on the window of each series, sensor health and
    ``fusion.step``), timed on ``--loop-points`` points and extrapolated
    linearly to all of them (the per-point cost does not depend on the
    number of points).

Prints both times, the ratio and the level counts of both (they differ on
the noisy points: the reference judges the estimates, the scorer their
confidence bounds).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import orjson
from kafka.consumer.fetcher import ConsumerRecord

from streams.scorer import Scorer
from warning_models.fusion import FusionState, deformation_indicators, step
from warning_models.inverse_velocity import forecast_from_kinematics
from warning_models.kinematics import estimate_kinematics
from warning_models.levels import Level
from warning_models.quality import sensor_health
from warning_models.site_params import site_model_from_mapping
from warning_models.tangent_angle import assess_tangent_angle

T0 = 1_780_000_000          # s, start of the history (event time)
HOUR = 3600
V_BAR = 1.0                 # mm/day, configured uniform-creep velocity
CONFIG = {"site": {"default": {"tangent_angle": {"v_bar_mm_per_day": V_BAR}}}}


def make_series(points: int, hours: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(times s, displacement mm) of shape (points, hours + 1): history plus the new reading."""
    rng = np.random.default_rng(seed)
    t = T0 + HOUR * np.arange(hours + 1, dtype=float)
    days = (t - T0) / 86_400.0
    kind = rng.random(points)
    creep = rng.uniform(0.5, 1.5, points)
    t_f = days[-1] + rng.uniform(2.0, 10.0, points)            # failure after the history
    big_a = 1.0 / (V_BAR * t_f)                                  # v(0) = v̄
    accel = np.log(t_f[:, None] / (t_f[:, None] - days[None, :])) / big_a[:, None]
    trend = np.where(kind[:, None] < 0.05, accel,
                     np.where(kind[:, None] < 0.22, creep[:, None] * days[None, :], 0.0))
    noise = rng.normal(0.0, np.where(kind < 0.22, 0.3, 2.0)[:, None], (points, hours + 1))
    return np.broadcast_to(t, (points, hours + 1)), trend + noise


def message(point: str, seconds: float, value: float) -> bytes:
    observed = datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"point_id": point, "sensor_id": "G1", "kind": "gnss",
                         "observed_at": observed, "value": round(float(value), 4), "unit": "mm"})


def reference_loop(ids: list[str], t: np.ndarray, x: np.ndarray, params) -> tuple[float, list]:
    """Seconds for the per-point reference models on these rows, and their levels."""
    levels = []
    began = time.perf_counter()
    for i in range(len(ids)):
        now = float(t[i, -1])
        kin = estimate_kinematics(t[i], x[i], params.kinematics, evaluate_from=now)
        angle = assess_tangent_angle(kin, params.tangent_angle)
        forecast = forecast_from_kinematics(kin, angle, params.inverse_velocity,
                                            evaluate_from=now)
        indicators = deformation_indicators(kin, angle, forecast, sensor_id="G1")
        health = sensor_health(["G1"], [now], HOUR, now, params.quality)
        _, fused = step(FusionState(), indicators, now, health=health, params=params.fusion)
        levels.append(fused.level)
    return time.perf_counter() - began, levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--history-hours", type=int, default=72)
    parser.add_argument("--loop-points", type=int, default=500)
    args = parser.parse_args(argv)
    n, hours = args.points, args.history_hours

    config = site_model_from_mapping(CONFIG)
    ids = [f"S{i:06d}" for i in range(n)]
    t, x = make_series(n, hours)
    scorer = Scorer({p: "landslide" for p in ids}, config)
    began = time.perf_counter()
    flat_ns = (t[:, :-1] * 1e9).astype(np.int64).ravel()
    scorer.preload(np.repeat(ids, hours).tolist(), ["G1"] * (n * hours), ["gnss"] * (n * hours),
                   flat_ns, x[:, :-1].ravel())
    print(f"warm-up: {n:,} points x {hours} hourly readings loaded in "
          f"{time.perf_counter() - began:.1f} s; levels "
          f"{dict(sorted(Counter(scorer.point_levels().values()).items()))}")

    values = [message(p, t[i, -1], x[i, -1]) for i, p in enumerate(ids)]
    batch = [ConsumerRecord("readings", 0, -1, i, 0, 0, p.encode(), v, [], None, 0, 0, 0)
             for i, (p, v) in enumerate(zip(ids, values, strict=True))]
    began = time.perf_counter()
    outputs = scorer.handle(batch)
    vectorised = time.perf_counter() - began
    assert not outputs.dead_letters, outputs.dead_letters[:1]
    new_levels = Counter(scorer.point_levels().values())

    subset = np.random.default_rng(1).choice(n, min(args.loop_points, n), replace=False)
    params = config.site.resolve().params
    window = hours + 1   # the reference sees the same readings the scorer holds
    loop_s, loop_levels = reference_loop([ids[i] for i in subset], t[subset, -window:],
                                         x[subset, -window:], params)
    per_point = loop_s / subset.size
    extrapolated = per_point * n

    print(f"(a) vectorised Scorer.handle, one reading at each of {n:,} points: "
          f"{vectorised:.3f} s ({n / vectorised:,.0f} readings/s; "
          f"{len(outputs.assessments):,} assessments emitted)")
    print(f"(b) per-point loop over the reference models: {loop_s:.2f} s for {subset.size} "
          f"points = {per_point * 1e3:.2f} ms/point -> {extrapolated:.1f} s for {n:,} points "
          f"(extrapolated linearly)")
    print(f"ratio loop / vectorised: {extrapolated / vectorised:.0f}x")
    print(f"levels after the new reading: {dict(sorted(new_levels.items()))} (vectorised); "
          f"{dict(sorted(Counter(Level(v).label for v in loop_levels).items()))} (reference "
          f"loop on the sample, which judges the estimates, not their confidence bounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
