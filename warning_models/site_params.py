"""Configuration of the vectorised site model, and its per-point parameter arrays.

``SiteModelConfig`` gathers everything the scorer's site model is judged by:

- ``thresholds``: absolute bounds per sensor kind and hazard type
  (``warning_models.thresholds.VelocityThresholds``);
- ``site``: the reference models' parameters with overrides per hazard
  type, region and point (``warning_models.site_config.SiteConfig``);
- ``scorer``: the few settings that only the vectorised model has
  (``SiteModelParams``).

It loads from one plain mapping (the parsed YAML/JSON file the composition
root reads), e.g.::

    thresholds: {gnss: {blue: 3, yellow: 8, orange: 25, red: 60},
                 hazard_types: {debris_flow: {mud_level: {blue: 300, ...}}}}
    site: {points: {P-0042: {tangent_angle: {v_bar_mm_per_day: 0.8}}}}
    scorer: {judge_confidence: 0.99}

A mapping of sensor kinds alone (the format of the first velocity model's
thresholds file) is read as ``thresholds``. Everything is validated when
loaded, so a bad file fails at start.

``ParamTable`` turns the resolved parameters of every point into arrays
indexed by a small profile number (points that resolve alike share one), so
the hot path gathers parameters with one fancy index per field instead of
touching pydantic objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warning_models.site_config import SiteConfig, SiteParams
from warning_models.thresholds import VelocityThresholds, thresholds_from_mapping

DISPLACEMENT = ("gnss", "crack", "inclinometer", "extensometer")
FILTERED_KINDS = (*DISPLACEMENT, "tilt", "pore_pressure", "soil_moisture")
NS_PER_S = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_S
NS_PER_DAY = 24 * NS_PER_HOUR


class SiteModelParams(BaseModel):
    """Settings of the vectorised model that the reference models do not have.

    judge_confidence: levels are judged on the one-sided lower confidence
        bound of the velocity (and v̄ must be significantly positive) at this
        confidence; 0.5 judges the estimates themselves, as the reference does.
        Readings are judged one by one, each window overlapping the last, so
        the bound must be strict: with hourly GNSS readings of 2 mm noise on a
        stable slope, 0.999 raised a false blue in about 1 % of 60-day series
        (0.99 in nearly all of them).
    curvature_confidence: a quadratic (whose end-point velocity is about four
        times noisier) replaces the window's straight line only where its
        curvature is significant at this confidence; 0.5: always, as the
        reference (``warning_models.site_batch.fit_rates``).
    angle_dead_band_deg / threshold_dead_band: a level, once reached, is kept
        while the tangent angle stays within this many degrees below its bound /
        the absolute indicator within this fraction below its bound (a dead
        band: steady creep at a bound does not flap); 0 disables it.
    spike_confirm: this many consecutive readings off the fit on the same
        side are a real step, not spikes: they are all accepted.
    spike_kinds / stuck_kinds: kinds whose readings are screened for spikes /
        stuck values (a dry rain gauge or mud-level gauge legitimately reads
        0 for days, and a debris surge must not wait for confirmation).
    default_interval_s: expected reporting interval of a sensor until its
        own readings tell (three readings in its window).
    min_offline_silence_s: a sensor is never offline after a shorter silence,
        whatever its interval (uploads arrive in bursts).
    depth: time bins per series window; forecast_cells: coarse cells of the
        inverse-velocity ring; recent_times: event times remembered per
        series to drop re-sent readings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge_confidence: float = Field(0.999, ge=0.5, lt=1.0)
    curvature_confidence: float = Field(0.999999, ge=0.5, lt=1.0)
    angle_dead_band_deg: float = Field(5.0, ge=0.0, le=30.0)
    threshold_dead_band: float = Field(0.2, ge=0.0, lt=1.0)
    spike_confirm: int = Field(2, ge=2, le=8)
    spike_kinds: tuple[str, ...] = FILTERED_KINDS
    stuck_kinds: tuple[str, ...] = FILTERED_KINDS
    default_interval_s: float = Field(3600.0, gt=0, le=7 * 86_400)
    min_offline_silence_s: float = Field(1800.0, ge=0, le=30 * 86_400)
    depth: int = Field(32, ge=4, le=256)
    forecast_cells: int = Field(64, ge=16, le=512)
    recent_times: int = Field(8, ge=1, le=64)


class SiteModelConfig(BaseModel):
    """Thresholds, per-point site parameters and the vectorised model's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: VelocityThresholds = VelocityThresholds()
    site: SiteConfig = SiteConfig()
    scorer: SiteModelParams = SiteModelParams()

    @model_validator(mode="after")
    def _bins_fit_the_windows(self) -> SiteModelConfig:
        sections = [self.site.default, *self.site.hazard_types.values(),
                    *self.site.regions.values(), *self.site.points.values()]
        windows = [s.kinematics.window_hours for s in sections if s.kinematics is not None]
        gaps = [s.kinematics.max_gap_hours for s in sections if s.kinematics is not None]
        blues = [s.tangent_angle.thresholds.blue for s in sections
                 if s.tangent_angle is not None]
        if min(blues) < self.scorer.angle_dead_band_deg:
            raise ValueError(f"angle_dead_band_deg ({self.scorer.angle_dead_band_deg}) cannot "
                             f"exceed the lowest blue tangent angle ({min(blues)})")
        bin_hours = max(windows) / (self.scorer.depth - 1)
        if min(gaps) < bin_hours:
            raise ValueError(f"max_gap_hours ({min(gaps)}) must be at least the width of a time "
                             f"bin ({bin_hours:.2f} h = longest window / (depth - 1))")
        return self

    def digest(self) -> str:
        """Short hash of the whole configuration: part of the model version."""
        payload = {"thresholds": self.thresholds.digest_payload(),
                   "site": self.site.model_dump(mode="json"),
                   "scorer": self.scorer.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]

    def max_window_hours(self) -> float:
        """Longest kinematics window of any section (sizes the time bins)."""
        sections = [self.site.default, *self.site.hazard_types.values(),
                    *self.site.regions.values(), *self.site.points.values()]
        return max(s.kinematics.window_hours for s in sections if s.kinematics is not None)

    def max_fit_window_days(self) -> tuple[float, int]:
        """Longest inverse-velocity fit window (days) and longest moving average (samples)."""
        sections = [self.site.default, *self.site.hazard_types.values(),
                    *self.site.regions.values(), *self.site.points.values()]
        iv = [s.inverse_velocity for s in sections if s.inverse_velocity is not None]
        return (max(p.fit_window_days for p in iv),
                max(p.sma_samples if p.fit_on == "sma" else p.lma_samples for p in iv))


def site_model_from_mapping(data: Mapping[str, Any] | None) -> SiteModelConfig:
    """A ``SiteModelConfig`` from a parsed configuration file (see the module docstring).

    Raises pydantic.ValidationError for invalid content, TypeError when
    ``data`` is not a mapping.
    """
    if data is None:
        return SiteModelConfig()
    if not isinstance(data, Mapping):
        raise TypeError("expected a mapping with 'thresholds', 'site' and/or 'scorer'")
    if not set(data) & {"site", "scorer"}:
        return SiteModelConfig(thresholds=thresholds_from_mapping(data))
    return SiteModelConfig(thresholds=thresholds_from_mapping(data.get("thresholds")),
                           site=SiteConfig.model_validate(data.get("site") or {}),
                           scorer=SiteModelParams.model_validate(data.get("scorer") or {}))


def _seconds_ns(value: Any) -> int:
    return NEVER_NS if value is None else round(value.timestamp() * NS_PER_S)


NEVER_NS = np.iinfo(np.int64).min


def _columns(p: SiteParams) -> dict[str, float]:
    """The numbers of one point's parameters that the hot path reads."""
    k, ta, iv, q, f = p.kinematics, p.tangent_angle, p.inverse_velocity, p.quality, p.fusion
    th = ta.thresholds
    return {
        "window_days": k.window_hours / 24.0, "degree": k.degree, "min_samples": k.min_samples,
        "min_span_fraction": k.min_span_fraction, "max_gap_ns": k.max_gap_hours * NS_PER_HOUR,
        "spike_k": k.spikes.k, "spike_min_deviation": k.spikes.min_deviation,
        "spike_min_samples": k.spikes.min_window_samples,
        "angle_blue": th.blue, "angle_yellow": th.yellow, "angle_orange": th.orange,
        "angle_red": th.red,
        "v_bar": np.nan if ta.v_bar_mm_per_day is None else ta.v_bar_mm_per_day,
        "baseline_start_ns": _seconds_ns(ta.baseline_start),
        "baseline_end_ns": _seconds_ns(ta.baseline_end),
        "baseline_days": ta.baseline_days, "min_baseline_samples": ta.min_baseline_samples,
        "min_baseline_coverage": ta.min_baseline_coverage,
        "min_v_bar": ta.min_v_bar_mm_per_day,
        "smooth": iv.sma_samples if iv.fit_on == "sma" else iv.lma_samples,
        "fit_window_days": iv.fit_window_days, "accelerating_angle": iv.accelerating_angle_deg,
        "min_fit_samples": iv.min_fit_samples, "gate_angle": iv.gate_angle_deg,
        "iv_confidence": iv.confidence, "red_lead_hours": iv.red_lead_hours,
        "orange_lead_hours": iv.orange_lead_hours,
        "relative_weights": iv.weighting == "relative",
        "lead_from_lower": iv.lead_from == "lower_bound",
        "min_velocity": iv.min_velocity_mm_per_day,
        "stuck_epsilon": q.stuck_epsilon,
        "stuck_min_samples": q.stuck_min_samples or np.iinfo(np.int32).max,
        "stuck_min_span_ns": np.inf if q.stuck_min_span_s is None
        else q.stuck_min_span_s * NS_PER_S,
        "missed_intervals": q.missed_intervals,
        "red_hold_ns": f.red_hold_hours * NS_PER_HOUR,
        "downgrade_hold_ns": f.downgrade_hold_hours * NS_PER_HOUR,
        "hold_unconfirmed": f.hold_while_unconfirmed,
    }


_INT_COLUMNS = frozenset({"degree", "min_samples", "spike_min_samples", "min_baseline_samples",
                          "smooth", "min_fit_samples", "stuck_min_samples", "missed_intervals",
                          "baseline_start_ns", "baseline_end_ns", "max_gap_ns", "red_hold_ns",
                          "downgrade_hold_ns"})
_BOOL_COLUMNS = frozenset({"relative_weights", "lead_from_lower", "hold_unconfirmed"})


class ParamTable:
    """Resolved parameters of every point as columns indexed by profile number.

    ``profile(point_id, regions, hazard_type)`` resolves a point through the
    ``SiteConfig`` (cached per distinct resolution, so 50,000 points cost a
    handful of resolutions) and returns its profile; ``gather(profiles)``
    returns every column for an array of profiles.
    """

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.params: list[SiteParams] = []
        self.sources: list[Mapping[str, str]] = []
        self._ids: dict[SiteParams, int] = {}
        self._resolved: dict[tuple, int] = {}
        self._columns: dict[str, list] = {}
        self._arrays: dict[str, np.ndarray] | None = None
        self.profile(None, (), None)                  # profile 0: the defaults

    def profile(self, point_id: str | None, regions: tuple[str, ...] = (),
                hazard_type: str | None = None) -> int:
        c = self.config
        key = (point_id if point_id in c.points else None,
               tuple(r for r in regions if r in c.regions),
               hazard_type if hazard_type in c.hazard_types else None)
        found = self._resolved.get(key)
        if found is not None:
            return found
        resolved = c.resolve(*key)
        pid = self._ids.get(resolved.params)
        if pid is None:
            pid = len(self.params)
            self._ids[resolved.params] = pid
            self.params.append(resolved.params)
            self.sources.append(resolved.sources)
            for name, value in _columns(resolved.params).items():
                self._columns.setdefault(name, []).append(value)
            self._arrays = None
        self._resolved[key] = pid
        return pid

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {name: np.asarray(values, dtype=np.int64 if name in _INT_COLUMNS
                                             else bool if name in _BOOL_COLUMNS else float)
                            for name, values in self._columns.items()}
        return self._arrays

    def gather(self, profiles: np.ndarray) -> Columns:
        """The columns for these profiles, each gathered when first read."""
        return Columns(self.arrays, np.asarray(profiles, dtype=np.int64), len(self.params) == 1)


class ParamRow:
    """One profile's parameters (``row[name]`` is a Python number)."""

    def __init__(self, arrays: dict[str, np.ndarray], profile: int) -> None:
        self._arrays, self._profile = arrays, profile

    def __getitem__(self, name: str) -> float:
        return self._arrays[name][self._profile].item()


class Columns(dict):
    """Parameter columns of some rows, gathered lazily (most steps read a few of ~45)."""

    def __init__(self, arrays: dict[str, np.ndarray], idx: np.ndarray, single: bool) -> None:
        super().__init__()
        self._arrays, self._idx, self._single = arrays, idx, single

    def __missing__(self, name: str) -> np.ndarray:
        column = self._arrays[name]
        value = (np.full(self._idx.shape, column[0]) if self._single else column[self._idx])
        self[name] = value
        return value

    def row(self, i: int) -> ParamRow:
        """The parameters of one row, as Python numbers read on demand."""
        return ParamRow(self._arrays, 0 if self._single else int(self._idx[i]))

    def subset(self, mask: np.ndarray) -> Columns:
        return Columns(self._arrays, self._idx[mask] if not self._single
                       else np.zeros(int(np.count_nonzero(mask)), np.int64), self._single)
