"""Synthetic sensor readings for registry points, on an event clock faster than the wall clock.

``simulate(points, send, ...)`` produces readings (``streams.schemas.Reading``
JSON, keyed by point id) for every sensor of every point. Each point follows
one scenario, drawn deterministically from the seed:

- stable (most points): no deformation, sensor noise only;
- creeping (``creeping_fraction``): uniform creep of about 1 mm/day
  (0.5-1.5 mm/day), Xu Qiang's "uniform deformation" stage;
- accelerating (``accelerating_fraction``): velocity grows towards a failure
  time t_f as v(t) = A / (t_f - t), the inverse-velocity form of Fukuzono
  (1985) and Voight (1988) with alpha = 2; cumulative displacement
  x(t) = A ln((t_f - t0) / (t_f - t)). Failure falls 0.5-6 simulated hours
  after ``start`` and the velocity at ``start`` is 3-40 mm/day, so warnings
  escalate during a demo.

Rain gauges see storms (a triangular hyetograph of 1-4 h peaking at
10-60 mm/h), common to a random fifth of the points; pore pressure rises with
the storm rain of the last day, debris-flow mud level with the intensity.
Sensor noise (one standard deviation, canonical units): GNSS 0.5 mm, crack
meter 0.1 mm, inclinometer and extensometer 0.2 mm, tilt 0.002 degrees, pore
pressure 0.3 kPa, soil moisture 0.5 %, mud level 5 mm; values are sent in the
unit each sensor is configured with.

Pacing: the event clock starts at ``start`` and advances ``speed`` simulated
seconds per wall-clock second; each sensor reports every
``n_sensors * speed / rate`` simulated seconds (at least ``min_interval_s``),
so the stream carries about ``rate`` readings per wall-clock second. With
``backfill_hours`` the preceding hours are produced first, as fast as the
producer takes them, at ``backfill_samples`` samples per sensor, so that the
first warnings appear within a minute of a demo's start.

The readings depend only on the seed and the arguments, never on how fast
they are produced. ``send(key, value)`` is any callable, e.g.
``kafka_sender(producer, topic)`` (batched: no flush per message).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from geo.registry import RiskPoint, SensorSpec
from streams.units import SensorKind, unit_factor

log = logging.getLogger(__name__)

NOISE: dict[str, float] = {
    "gnss": 0.5, "crack": 0.1, "inclinometer": 0.2, "extensometer": 0.2, "tilt": 0.002,
    "rain_gauge": 0.0, "pore_pressure": 0.3, "soil_moisture": 0.5, "mud_level": 5.0,
}
"""Standard deviation of sensor noise per kind, canonical units."""

STABLE, CREEPING, ACCELERATING = 0, 1, 2
SCENARIOS = ("stable", "creeping", "accelerating")
_DISPLACEMENT = {"gnss", "crack", "inclinometer", "extensometer"}
_DEFAULT_SENSORS = (SensorSpec(sensor_id="G1", kind=SensorKind.GNSS),)


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation produced."""

    readings: int
    backfill_readings: int
    points: int
    sensors: int
    scenarios: dict[str, int]
    accelerating_points: list[str]
    storms: int
    interval_s: float
    first_event_at: datetime | None
    last_event_at: datetime | None

    def summary(self) -> str:
        counts = ", ".join(f"{n} {name}" for name, n in self.scenarios.items())
        return (f"{self.readings} readings ({self.backfill_readings} backfill) from "
                f"{self.sensors} sensors at {self.points} points ({counts}); {self.storms} storms; "
                f"one reading per sensor every {self.interval_s:.0f} simulated s; event time "
                f"{_iso(self.first_event_at)} .. {_iso(self.last_event_at)}")


@dataclass(frozen=True)
class _Sites:
    """Per-sensor arrays of a simulation (one row per sensor)."""

    point_ids: list[str]
    sensor_ids: list[str]
    kinds: list[str]
    units: list[str]
    scale: np.ndarray        # canonical -> configured unit
    point: np.ndarray        # index into the points
    scenario: np.ndarray     # per point
    creep_mm_day: np.ndarray  # per point
    fail_s: np.ndarray        # per point, seconds after start (accelerating only)
    a_mm: np.ndarray          # per point, A in mm (x = A ln(...))
    base: np.ndarray          # per sensor baseline value
    wet: np.ndarray           # per point, in the storms' footprint
    debris: np.ndarray        # per point, hazard type debris_flow
    storms: np.ndarray        # (n, 3): start s after start, duration s, peak mm/h


def kafka_sender(producer: Any, topic: str) -> Callable[[bytes, bytes], None]:
    """``send(key, value)`` for a kafka-python KafkaProducer (or anything with that send)."""
    def send(key: bytes, value: bytes) -> None:
        producer.send(topic, value, key=key)
    return send


def _iso(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat().replace("+00:00", "Z")


def _sites(points: Sequence[RiskPoint], seed: int, creeping_fraction: float,
           accelerating_fraction: float, horizon_s: float) -> _Sites:
    rng = np.random.default_rng(seed)
    n = len(points)
    draw = rng.random(n)
    scenario = np.where(draw < accelerating_fraction, ACCELERATING,
                        np.where(draw < accelerating_fraction + creeping_fraction, CREEPING, STABLE))
    creep = rng.uniform(0.5, 1.5, n)
    fail_s = rng.uniform(0.5, 6.0, n) * 3600.0
    v_start = rng.uniform(3.0, 40.0, n)                 # mm/day at start
    a_mm = v_start / 86_400.0 * fail_s                  # v = A / (tf - t)  =>  A = v(t0) (tf - t0)
    wet = rng.random(n) < 0.2
    n_storms = max(1, int(horizon_s / (12 * 3600)))
    storms = np.column_stack([rng.uniform(-0.5, 1.0, n_storms) * horizon_s,
                              rng.uniform(1.0, 4.0, n_storms) * 3600.0,
                              rng.uniform(10.0, 60.0, n_storms)])
    point_ids, sensor_ids, kinds, units, scale, owner = [], [], [], [], [], []
    for index, point in enumerate(points):
        for sensor in point.sensors or _DEFAULT_SENSORS:
            point_ids.append(point.id)
            sensor_ids.append(sensor.sensor_id)
            kinds.append(sensor.kind.value)
            units.append(sensor.unit)
            scale.append(1.0 / unit_factor(sensor.kind, sensor.unit))
            owner.append(index)
    owner_arr = np.asarray(owner, dtype=np.int64)
    base_by_kind = {"gnss": (0, 50), "crack": (0, 20), "inclinometer": (0, 30),
                    "extensometer": (0, 40), "tilt": (-1, 1), "rain_gauge": (0, 0),
                    "pore_pressure": (20, 80), "soil_moisture": (15, 35), "mud_level": (0, 0)}
    lo = np.array([base_by_kind[k][0] for k in kinds], dtype=float)
    hi = np.array([base_by_kind[k][1] for k in kinds], dtype=float)
    base = lo + (hi - lo) * rng.random(len(kinds))
    debris = np.array([p.hazard_type.value == "debris_flow" for p in points], dtype=bool)
    return _Sites(point_ids, sensor_ids, kinds, units, np.asarray(scale), owner_arr, scenario,
                  creep, fail_s, a_mm, base, wet, debris, storms)


def _rain(storms: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intensity (mm/h) and storm rain of the last 24 h (mm) at times t (s after start)."""
    intensity = np.zeros_like(t)
    recent = np.zeros_like(t)
    for start, duration, peak in storms:
        u = np.clip((t - start) / duration, 0.0, 1.0)
        tri = np.where(u < 0.5, 2 * u, 2 * (1 - u)) * peak
        intensity += np.where((t >= start) & (t <= start + duration), tri, 0.0)
        # rain fallen so far: integral of the triangle, peak * duration / 2 in total (h units)
        fallen = np.where(u < 0.5, 2 * u * u, 1 - 2 * (1 - u) ** 2) * peak * duration / 7200.0
        recent += np.where(t - (start + duration) < 86_400.0, fallen, 0.0)
    return intensity, recent


def _values(sites: _Sites, sensors: np.ndarray, t: np.ndarray, rng: np.random.Generator
            ) -> np.ndarray:
    """Values (canonical units) of these sensors at times t (s after start)."""
    p = sites.point[sensors]
    kinds = [sites.kinds[s] for s in sensors.tolist()]
    scenario = sites.scenario[p]
    remaining = np.maximum(sites.fail_s[p] - t, 60.0)      # the slope fails; the sensor saturates
    accel = sites.a_mm[p] * np.log(np.maximum(sites.fail_s[p] + 86_400.0 * 2, 60.0) / remaining)
    creep = sites.creep_mm_day[p] * t / 86_400.0
    displacement = np.where(scenario == ACCELERATING, accel,
                            np.where(scenario == CREEPING, creep, 0.0))
    intensity, recent = _rain(sites.storms, t)
    wet = sites.wet[p]
    intensity = np.where(wet, intensity, 0.0)
    recent = np.where(wet, recent, 0.0)
    base = sites.base[sensors]
    noise = rng.standard_normal(len(sensors)) * np.array([NOISE[k] for k in kinds])
    kind_arr = np.asarray(kinds)
    value = base + noise
    value = np.where(np.isin(kind_arr, list(_DISPLACEMENT)), value + displacement, value)
    value = np.where(kind_arr == "tilt", value + 0.002 * displacement, value)
    value = np.where(kind_arr == "rain_gauge", intensity * rng.uniform(0.8, 1.2, len(t)), value)
    value = np.where(kind_arr == "pore_pressure", value + 0.3 * recent, value)
    value = np.where(kind_arr == "soil_moisture", np.minimum(value + 0.1 * recent, 50.0), value)
    mud = np.where(sites.debris[p], 40.0 * intensity, 0.0)
    value = np.where(kind_arr == "mud_level", np.maximum(mud + noise, 0.0), value)
    return value


def _encode(sites: _Sites, sensors: np.ndarray, t: np.ndarray, values: np.ndarray,
            start: datetime) -> list[tuple[bytes, bytes]]:
    scaled = np.round(values * sites.scale[sensors], 4).tolist()
    stamps = np.datetime64(start.replace(tzinfo=None), "ms") + np.round(t * 1000).astype("m8[ms]")
    texts = [text + "Z" for text in np.datetime_as_string(stamps, unit="ms").tolist()]
    out = []
    dumps = orjson.dumps
    for s, observed, value in zip(sensors.tolist(), texts, scaled):
        point_id = sites.point_ids[s]
        out.append((point_id.encode(), dumps({
            "schema_version": 1, "point_id": point_id, "sensor_id": sites.sensor_ids[s],
            "kind": sites.kinds[s], "observed_at": observed, "value": value,
            "unit": sites.units[s]})))
    return out


def simulate(points: Sequence[RiskPoint], send: Callable[[bytes, bytes], Any], *,
             start: datetime, rate: float = 1000.0, speed: float = 60.0,
             duration_s: float | None = None, max_readings: int | None = None,
             backfill_hours: float = 0.0, backfill_samples: int = 48, seed: int = 0,
             creeping_fraction: float = 0.1, accelerating_fraction: float = 0.02,
             min_interval_s: float = 10.0, stop: threading.Event | None = None,
             pace: bool = True, flush: Callable[[], Any] | None = None) -> SimulationReport:
    """Produce readings for ``points``; see the module docstring.

    Args:
        points: registry points; a point without sensors gets one GNSS sensor "G1".
        send: ``send(key, value)`` for one message (keyed by point id).
        start: event time at which the live part starts (UTC).
        rate: target readings per wall-clock second.
        speed: simulated seconds per wall-clock second.
        duration_s: simulated seconds to run after ``start`` (None: until
            ``stop`` or ``max_readings``).
        max_readings: stop after this many live readings.
        backfill_hours: hours of history before ``start`` produced first.
        backfill_samples: samples per sensor over the backfill.
        seed: the same seed and arguments give the same readings.
        pace: False produces as fast as possible (tests, benchmarks).
        flush: called at the end (e.g. ``producer.flush``).
    """
    if start.tzinfo is None:
        raise ValueError("start must be time-zone aware (UTC)")
    start = start.astimezone(UTC)
    if rate <= 0 or speed <= 0:
        raise ValueError("rate and speed must be positive")
    stop = stop or threading.Event()
    horizon = duration_s if duration_s is not None else 86_400.0
    sites = _sites(points, seed, creeping_fraction, accelerating_fraction, horizon)
    n_sensors = len(sites.sensor_ids)
    rng = np.random.default_rng(seed + 1)
    interval = max(n_sensors * speed / rate, min_interval_s)
    phase = rng.random(n_sensors)
    order = np.argsort(phase, kind="stable")
    first = last = None
    backfill = 0
    if backfill_hours > 0 and n_sensors:
        step = backfill_hours * 3600.0 / backfill_samples
        for k in range(backfill_samples):
            if stop.is_set():
                break
            t = -backfill_hours * 3600.0 + (k + phase[order]) * step
            for key, value in _encode(sites, order, t, _values(sites, order, t, rng), start):
                send(key, value)
            backfill += n_sensors
            first = first or start + timedelta(seconds=float(t[0]))
    live = 0
    began = time.monotonic()
    chunk = max(1, min(n_sensors, int(rate * 0.1) or 1))  # about 0.1 s of readings per chunk
    round_index = 0
    done = n_sensors == 0
    while not done and not stop.is_set():
        base_t = round_index * interval
        if duration_s is not None and base_t >= duration_s:
            break
        for lo in range(0, n_sensors, chunk):
            sensors = order[lo:lo + chunk]
            t = base_t + phase[sensors] * interval
            if duration_s is not None:
                sensors, t = sensors[t < duration_s], t[t < duration_s]
            if max_readings is not None:
                sensors, t = sensors[: max_readings - live], t[: max_readings - live]
            if not len(sensors):
                continue
            if pace:
                wait = began + float(t[-1]) / speed - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    break
            for key, value in _encode(sites, sensors, t, _values(sites, sensors, t, rng), start):
                send(key, value)
            live += len(sensors)
            first = first or start + timedelta(seconds=float(t[0]))
            last = start + timedelta(seconds=float(t[-1]))
            if max_readings is not None and live >= max_readings:
                done = True
                break
        round_index += 1
    if flush is not None:
        flush()
    counts = np.bincount(sites.scenario, minlength=3) if len(points) else np.zeros(3, int)
    accelerating = [p.id for p, s in zip(points, sites.scenario.tolist()) if s == ACCELERATING]
    report = SimulationReport(
        readings=live + backfill, backfill_readings=backfill, points=len(points), sensors=n_sensors,
        scenarios={name: int(c) for name, c in zip(SCENARIOS, counts)},
        accelerating_points=accelerating, storms=len(sites.storms), interval_s=interval,
        first_event_at=first, last_event_at=last or (start if backfill else None))
    log.info("simulation: %s", report.summary())
    return report


def history(points: Sequence[RiskPoint], *, start: datetime, hours: float, samples: int,
            seed: int = 0, creeping_fraction: float = 0.1,
            accelerating_fraction: float = 0.02) -> dict[str, Any]:
    """The readings ``simulate`` would backfill, as columns (canonical units, no JSON).

    Returns point_id, sensor_id, kind (lists) and observed_ns (int64 ns since
    the epoch), value (float64) arrays, for preloading a scorer's state.
    """
    start = start.astimezone(UTC)
    sites = _sites(points, seed, creeping_fraction, accelerating_fraction, 86_400.0)
    n = len(sites.sensor_ids)
    rng = np.random.default_rng(seed + 1)
    phase = rng.random(n)
    step = hours * 3600.0 / samples
    sensors = np.tile(np.arange(n), samples)
    t = -hours * 3600.0 + (np.repeat(np.arange(samples), n) + phase[sensors]) * step
    values = _values(sites, sensors, t, rng)
    origin = int(start.timestamp()) * 1_000_000_000
    return {"point_id": [sites.point_ids[s] for s in sensors.tolist()],
            "sensor_id": [sites.sensor_ids[s] for s in sensors.tolist()],
            "kind": [sites.kinds[s] for s in sensors.tolist()],
            "observed_ns": origin + np.round(t * 1e9).astype(np.int64), "value": values}
