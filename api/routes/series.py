"""GET /risk-points/{id}/series: a point's recent past for charts.

Per sensor of the requested kind: the stored bucket aggregates in the range
merged into at most ``max_samples`` samples (count, mean, min, max, newest
value), and for displacement kinds the velocity and the improved tangent
angle computed from the downsampled newest values with the same pure models
the scorer uses, so a chart shows what the warning was based on. Plus the
level timeline of the point in the range.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, Field

from api.deps import SessionDep
from api.errors import InvalidQuery, RiskPointNotFound
from api.models import ErrorMessage
from api.params import require_aware, restore_plus
from api.responses import OrjsonResponse
from store.history import LevelChange, SensorSeries, read_series
from store.read import get_point
from streams.units import CANONICAL_UNIT, DISPLACEMENT_KINDS, SensorKind
from warning_models.kinematics import KinematicsParams, estimate_kinematics
from warning_models.levels import Level
from warning_models.tangent_angle import TangentAngleParams, assess_tangent_angle

router = APIRouter(prefix="/risk-points", tags=["risk points"])

MAX_SAMPLES = 5_000
DEFAULT_SAMPLES = 500
DEFAULT_RANGE = timedelta(days=1)
MIN_WINDOW_HOURS, WINDOW_SAMPLES = 24.0, 8
"""Velocity window: 24 h, or 8 samples where the samples are sparser than 3 h."""
MIN_GAP_HOURS, GAP_SAMPLES = 6.0, 3
"""A silence longer than 6 h (or 3 sample spacings) splits the series: no rate across it."""
BASELINE_FRACTION, MAX_BASELINE_DAYS = 1 / 3, 30.0
"""v̄ of the tangent angle: mean velocity over the first third of the range, at most 30 days."""


class LevelEntry(BaseModel):
    observed_at: datetime
    level: str
    tier: str | None = Field(description="national tier IV..I, null for none")
    model: str
    model_version: str


class SensorSamples(BaseModel):
    sensor_id: str
    t: list[datetime] = Field(description="start of each sample's first stored bucket")
    n: list[int] = Field(description="readings merged into each sample")
    mean: list[float]
    min: list[float]
    max: list[float]
    last: list[float] = Field(description="newest reading of each sample")
    last_at: list[datetime] = Field(description="event time of the newest reading")
    velocity: list[float | None] | None = Field(
        description="mm/day at last_at, from the newest values (displacement kinds only); "
                    "null where it cannot be estimated (too few samples, gap, spike)")
    tangent_angle: list[float | None] | None = Field(
        description="degrees, arctan(velocity / v_bar) (displacement kinds only)")
    v_bar: float | None = Field(description="mm/day: the tangent angle's reference velocity")
    v_bar_source: str | None = Field(description="where v_bar came from; 'insufficient': none")


class SeriesResponse(BaseModel):
    point_id: str
    kind: str
    unit: str = Field(description="unit of mean, min, max and last (the kind's canonical unit)")
    velocity_unit: str = "mm/day"
    tangent_angle_unit: str = "degrees"
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    max_samples: int
    sample_seconds: int | None = Field(
        description="samples are stored buckets merged into epoch-aligned groups this wide "
                    "(null: the whole range in one)")
    sensors: list[SensorSamples]
    levels: list[LevelEntry] = Field(description="levels assessed in the range, oldest first")
    level_at_from: LevelEntry | None = Field(description="the last level assessed before `from`")


def _times(seconds: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(value, UTC) for value in seconds.tolist()]


def _or_null(values: np.ndarray, valid: np.ndarray) -> list[float | None]:
    return [v if ok else None for v, ok in zip(values.tolist(), valid.tolist(), strict=True)]


def _rates(samples: SensorSeries, span: timedelta) -> dict[str, Any]:
    """Velocity and tangent angle at each sample's newest reading, aligned with the samples."""
    spacing_h = float(np.median(np.diff(samples.last_at))) / 3600 if len(samples) > 1 else 0.0
    kinematics = KinematicsParams(
        window_hours=min(max(MIN_WINDOW_HOURS, WINDOW_SAMPLES * spacing_h), 24 * 365),
        max_gap_hours=min(max(MIN_GAP_HOURS, GAP_SAMPLES * spacing_h), 24 * 365))
    baseline_days = min(MAX_BASELINE_DAYS, max(span.total_seconds() / 86_400 * BASELINE_FRACTION,
                                                1 / 24))
    kin = estimate_kinematics(samples.last_at, samples.last, kinematics)
    angle = assess_tangent_angle(kin, TangentAngleParams(baseline_days=baseline_days))
    # Map each sample's newest reading onto the model's sorted, de-duplicated times.
    at = np.clip(np.searchsorted(kin.t, samples.last_at), 0, kin.n - 1)
    found = kin.t[at] == samples.last_at
    return {"velocity": _or_null(kin.velocity[at], found & kin.valid_velocity[at]),
            "tangent_angle": _or_null(angle.angle[at], found & angle.valid[at]),
            "v_bar": angle.v_bar if angle.v_bar_source != "insufficient" else None,
            "v_bar_source": angle.v_bar_source}


def _sensor(samples: SensorSeries, displacement: bool, span: timedelta) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sensor_id": samples.sensor_id, "t": _times(samples.t), "n": samples.n.tolist(),
        "mean": samples.mean.tolist(), "min": samples.min.tolist(), "max": samples.max.tolist(),
        "last": samples.last.tolist(), "last_at": _times(samples.last_at),
        "velocity": None, "tangent_angle": None, "v_bar": None, "v_bar_source": None}
    if displacement and len(samples):  # values are finite: the model keeps every sample
        body.update(_rates(samples, span))
    return body


def _empty(sensor_id: str) -> SensorSeries:
    nothing = np.zeros(0)
    return SensorSeries(sensor_id, nothing, np.zeros(0, np.int64), nothing, nothing, nothing,
                        nothing, nothing)


def _level(change: LevelChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {"observed_at": change.observed_at, "level": change.level,
            "tier": Level.parse(change.level).tier, "model": change.model,
            "model_version": change.model_version}


TimeQuery = Annotated[datetime | None, BeforeValidator(restore_plus)]


@router.get("/{point_id}/series", response_class=OrjsonResponse,
            responses={200: {"model": SeriesResponse},
                       404: {"model": ErrorMessage, "description": "no such risk point"}},
            summary="A point's downsampled readings, velocity, tangent angle and levels")
def read_point_series(
    session: SessionDep,
    point_id: Annotated[str, Path(max_length=64, description="risk-point id")],
    kind: Annotated[SensorKind, Query(description="sensor kind to chart")],
    start: Annotated[TimeQuery, Query(
        alias="from", description="ISO 8601 with a time zone; default: one day before `to`",
        examples=["2026-07-01T00:00:00Z"])] = None,
    end: Annotated[TimeQuery, Query(
        alias="to", description="ISO 8601 with a time zone; default: now",
        examples=["2026-07-02T00:00:00+08:00"])] = None,
    max_samples: Annotated[int, Query(
        ge=1, le=MAX_SAMPLES, description=f"most samples per sensor, 1..{MAX_SAMPLES}")
    ] = DEFAULT_SAMPLES,
) -> OrjsonResponse:
    start, end = require_aware("from", start), require_aware("to", end)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    if start > end:
        raise InvalidQuery("to", f"to ({end.isoformat()}) is before from ({start.isoformat()})",
                           end.isoformat())
    point = get_point(session, point_id)
    if point is None:
        raise RiskPointNotFound(point_id)
    series = read_series(session, point_id, kind.value, start, end, max_samples)
    found = {samples.sensor_id: samples for samples in series.sensors}
    registered = {s.sensor_id for s in point.sensors if s.kind == kind.value}
    displacement = kind in DISPLACEMENT_KINDS
    sensors = [_sensor(found.get(sensor_id) or _empty(sensor_id), displacement, end - start)
               for sensor_id in sorted(registered | found.keys())]
    return OrjsonResponse({
        "point_id": point_id, "kind": kind.value, "unit": CANONICAL_UNIT[kind],
        "velocity_unit": "mm/day", "tangent_angle_unit": "degrees",
        "from": start.astimezone(UTC), "to": end.astimezone(UTC), "max_samples": max_samples,
        "sample_seconds": series.width_s, "sensors": sensors,
        "levels": [_level(change) for change in series.levels],
        "level_at_from": _level(series.level_before)})
