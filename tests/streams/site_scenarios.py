"""Constructed sensor series and a driver that scores them through the real ``Scorer.handle``.

The series are those of the reference scenario tests
(tests/warning_models/test_fusion.py): displacement whose increments carry
5 % multiplicative noise, hourly unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
from kafka.consumer.fetcher import ConsumerRecord

from streams.scorer import Scorer
from warning_models.levels import Level

DAY = 86_400.0
HOUR = 3_600.0
T0 = 1_780_000_000.0
LEVELS = ("none", "blue", "yellow", "orange", "red")


def noisy(exact: np.ndarray, seed: int) -> np.ndarray:
    """Cumulative displacement whose increments carry 5 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    increments = np.diff(exact) * (1.0 + 0.05 * rng.standard_normal(exact.size - 1))
    return np.r_[exact[0], exact[0] + np.cumsum(increments)]


def voight(seed: int, t_f: float = 60.0, onset: float = 30.0, v_bar: float = 1.0,
           end_before: float = 0.25, step_days: float = 1.0 / 24.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Uniform creep at v_bar, then Voight's law with α = 2 (1/v linear in t) until t_f (days)."""
    t = np.arange(0.0, t_f - end_before, step_days)
    big_a = 1.0 / (v_bar * (t_f - onset))
    after = np.maximum(t, onset)
    exact = v_bar * np.minimum(t, onset) + np.log((t_f - onset) / (t_f - after)) / big_a
    return T0 + t * DAY, noisy(exact, seed)


def true_angle_day(angle_deg: float, t_f: float = 60.0, onset: float = 30.0) -> float:
    """Day at which the noise-free Voight series reaches a tangent angle (v̄ = 1)."""
    return t_f - (t_f - onset) / np.tan(np.radians(angle_deg))


def creep(seed: int, days: float = 60.0, v_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, days, 1.0 / 24.0)
    return T0 + t * DAY, noisy(v_bar * t, seed)


STEP_CYCLE_DAYS, STEP_START, STEP_END = 60.0, 20.0, 41.0
STEP_SLOW, STEP_FAST = 0.1, 3.0                                   # mm/day


def step_like(seed: int, cycles: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Reservoir slope: 0.1 mm/day most of the time, 3 mm/day for three weeks each cycle."""
    t = np.arange(0.0, cycles * STEP_CYCLE_DAYS, 2.0 / 24.0)
    phase = t % STEP_CYCLE_DAYS
    v = np.where((phase >= STEP_START) & (phase < STEP_END), STEP_FAST, STEP_SLOW)
    exact = np.r_[0.0, np.cumsum(v[:-1] * np.diff(t))]
    return T0 + t * DAY, noisy(exact, seed)


STEP_V_BAR = (STEP_SLOW * (STEP_CYCLE_DAYS - STEP_END + STEP_START)
              + STEP_FAST * (STEP_END - STEP_START)) / STEP_CYCLE_DAYS   # long-term mean


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def readings(point: str, sensor: str, kind: str, t: Sequence[float], x: Sequence[float],
             unit: str = "mm") -> list[bytes]:
    return [orjson.dumps({"point_id": point, "sensor_id": sensor, "kind": kind,
                          "observed_at": iso(float(ti)), "value": float(xi), "unit": unit})
            for ti, xi in zip(t, x, strict=True)]


def interleave(*streams: tuple[np.ndarray, list[bytes]]) -> list[bytes]:
    """Messages of several series merged in event-time order (stable)."""
    times = np.concatenate([np.asarray(t, dtype=float) for t, _ in streams])
    values = [v for _, vs in streams for v in vs]
    return [values[i] for i in np.argsort(times, kind="stable")]


def records(values: Sequence[bytes], partition: int = 0, start_offset: int = 0) -> list:
    return [ConsumerRecord("readings", partition, -1, start_offset + i, 0, 0, b"k", value, [],
                           None, 0, 0, 0) for i, value in enumerate(values)]


@dataclass(frozen=True)
class Timeline:
    """Assessments of one point, in emission order."""

    days: np.ndarray
    levels: np.ndarray
    statuses: list[str]
    rules: list[str]
    assessments: list

    def first(self, level: Level) -> float:
        reached = np.flatnonzero(self.levels >= level)
        return float(self.days[reached[0]]) if reached.size else float("inf")

    def indicator(self, i: int, name: str, sensor: str | None = None):
        found = [e for e in self.assessments[i].evidence
                 if e.name == name and (sensor is None or e.sensor_id == sensor)]
        return found[0] if found else None


def score(values: Sequence[bytes], *, point: str = "P", known: dict | None = None,
          batch: int = 64, scorer: Scorer | None = None, emit: str = "every_reading") -> Timeline:
    """Feed messages through ``Scorer.handle`` in batches; the point's assessments."""
    scorer = scorer or Scorer(known or {point: "landslide"}, emit=emit)
    out = []
    for lo in range(0, len(values), batch):
        result = scorer.handle(records(values[lo:lo + batch], start_offset=lo))
        assert result.dead_letters == []
        out.extend(a for a in result.assessments if a.point_id == point)
    return Timeline(days=np.array([(a.observed_at.timestamp() - T0) / DAY for a in out]),
                    levels=np.array([LEVELS.index(a.level) for a in out], dtype=int),
                    statuses=[a.status for a in out], rules=[a.rule for a in out],
                    assessments=out)
