"""One warning level per risk point from its indicators, with corroboration and hold times.

An indicator is one model's judgement of one sensor at one event time (for
example the tangent angle of a GNSS station). ``step`` folds new indicators
into a small explicit state and returns the point's fused level:

    new_state, fused = step(state, indicators, now, health=..., params=...)

Rules (``FusionParams`` holds the numbers):

1. Only the newest indicator per (name, sensor) counts; an older one that
   arrives late is ignored, so the order of arrival does not matter.
   Indicators of silent (offline, never reported) or stuck sensors do not
   count; each such sensor raises a sensor alarm of its own.
2. Red needs corroboration: a red indicator plus another indicator at orange
   or above from a different independence group (``Indicator.group``, by
   default the sensor: two models of one sensor are not independent), or
   red sustained without interruption for ``red_hold_hours``. Otherwise red
   is capped at orange.
3. Upgrades are immediate. The fused level is the highest candidate level
   in effect at any moment of the last ``downgrade_hold_hours`` (event
   time), so a level falls only after the lower level has held that long and
   noise around a threshold cannot make it flap.
4. A level is not lowered while a sensor that raised it is silent, stuck or
   has no valid estimate (``hold_while_unconfirmed``): absence of evidence
   does not lift a warning.
5. When every sensor of the point is silent (or nothing was ever reported)
   the status is ``"no_data"``, which is not level none; the level is kept.

These rules are geowarn's operational choice, not a published model: they
guard against single-sensor false alarms and against flapping (for graded
alarm levels in an operational system see Intrieri, Gigli, Mugnai, Fanti and
Casagli 2012, "Design and implementation of a landslide early warning
system", Engineering Geology 147-148, 124-136). Time is event time
throughout; nothing reads the wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from warning_models import inverse_velocity as _iv
from warning_models import tangent_angle as _ta
from warning_models.inverse_velocity import FailureForecast
from warning_models.kinematics import Kinematics
from warning_models.levels import Level
from warning_models.quality import PointDataStatus, SensorHealth, event_seconds, point_status

MODEL_NAME = "fusion"
MODEL_VERSION = "fusion-1.0"
REQUIRES_INPUTS = ("indicators", "event_time_s")
CITATION = "geowarn rules; cf. Intrieri et al. (2012) Eng. Geol. 147-148:124-136"

RuleName = Literal["no_data", "max_indicator", "red_corroborated", "red_sustained",
                   "red_capped", "downgrade_hold", "held_unconfirmed"]


class FusionParams(BaseModel):
    """Corroboration and hold times of the fused level (hours of event time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red_hold_hours: float = Field(
        6.0, ge=0, le=24 * 30, description="uncorroborated red must last this long")
    downgrade_hold_hours: float = Field(
        24.0, ge=0, le=24 * 365, description="a lower level must hold this long")
    hold_while_unconfirmed: bool = Field(
        True, description="keep a level while a sensor that raised it cannot report")


@dataclass(frozen=True)
class Indicator:
    """One model's level for one sensor at one event time (s; datetime accepted).

    ``group`` is the independence key (default: the sensor id); ``valid`` is
    False when the model had too little data ("insufficient data"): such an
    indicator replaces older ones but raises nothing. ``numbers`` carries the
    values behind the level for the evidence; all must be finite.
    """

    name: str
    sensor_id: str
    level: Level
    observed_at: float
    group: str = ""
    value: float = 0.0
    unit: str = ""
    valid: bool = True
    model_version: str = ""
    numbers: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", Level.parse(self.level))
        object.__setattr__(self, "observed_at", event_seconds(self.observed_at))
        object.__setattr__(self, "group", self.group or self.sensor_id)
        object.__setattr__(self, "value", float(self.value))
        numbers = {str(k): float(v) for k, v in sorted(dict(self.numbers).items())}
        object.__setattr__(self, "numbers", MappingProxyType(numbers))
        bad = [k for k, v in numbers.items() if not math.isfinite(v)]
        if not math.isfinite(self.observed_at) or not math.isfinite(self.value) or bad:
            raise ValueError(f"indicator {self.name}/{self.sensor_id} has non-finite numbers "
                             f"(observed_at, value or {bad})")

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.sensor_id)

    def _rank(self) -> tuple[Any, ...]:
        return (self.observed_at, int(self.level), self.valid, self.value, self.group,
                self.unit, self.model_version, tuple(self.numbers.items()))

    def as_evidence(self) -> dict[str, Any]:
        return {"name": self.name, "sensor_id": self.sensor_id, "group": self.group,
                "level": self.level.label, "valid": self.valid, "value": self.value,
                "unit": self.unit, "observed_at": self.observed_at,
                "model_version": self.model_version, "numbers": dict(self.numbers)}

    def to_dict(self) -> dict[str, Any]:
        data = self.as_evidence()
        data["level"] = int(self.level)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Indicator:
        return cls(name=data["name"], sensor_id=data["sensor_id"], level=Level(data["level"]),
                   observed_at=data["observed_at"], group=data.get("group", ""),
                   value=data.get("value", 0.0), unit=data.get("unit", ""),
                   valid=bool(data.get("valid", True)),
                   model_version=data.get("model_version", ""),
                   numbers=data.get("numbers", {}))


@dataclass(frozen=True)
class SensorAlarm:
    """A sensor that cannot be trusted or heard: an alarm of its own kind."""

    sensor_id: str
    kind: Literal["sensor_offline", "sensor_never_reported", "sensor_stuck"]
    last_seen: float | None
    silence_s: float | None
    reason: str


_ALARM_KIND = {"offline": "sensor_offline", "never_reported": "sensor_never_reported",
               "stuck": "sensor_stuck"}


@dataclass(frozen=True)
class HoldEntry:
    """A candidate level still in effect: raised at ``since``, superseded at ``until``."""

    since: float
    level: Level
    until: float | None
    sensors: tuple[str, ...]


@dataclass(frozen=True)
class FusionState:
    """Everything ``step`` needs from the past; immutable, serialisable (``to_dict``).

    ``holds`` is a short stack of candidate levels, strictly decreasing from
    the first (the fused level) to the last (the newest candidate).
    """

    level: Level = Level.NONE
    clock: float | None = None
    latest: tuple[Indicator, ...] = ()
    holds: tuple[HoldEntry, ...] = ()
    red_since: float | None = None
    status: PointDataStatus = "no_data"

    def to_dict(self) -> dict[str, Any]:
        return {"level": int(self.level), "clock": self.clock, "red_since": self.red_since,
                "status": self.status, "latest": [i.to_dict() for i in self.latest],
                "holds": [{"since": h.since, "level": int(h.level), "until": h.until,
                           "sensors": list(h.sensors)} for h in self.holds]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionState:
        holds = tuple(HoldEntry(float(h["since"]), Level(h["level"]),
                                None if h["until"] is None else float(h["until"]),
                                tuple(h["sensors"])) for h in data.get("holds", ()))
        return cls(level=Level(data["level"]), clock=data.get("clock"),
                   latest=tuple(Indicator.from_dict(i) for i in data.get("latest", ())),
                   holds=holds, red_since=data.get("red_since"),
                   status=data.get("status", "no_data"))


@dataclass(frozen=True)
class FusedLevel:
    """The point's level at event time ``observed_at`` (s), why, and on what evidence."""

    level: Level
    status: PointDataStatus
    rule_fired: RuleName
    evidence: Mapping[str, Any]
    alarms: tuple[SensorAlarm, ...]
    observed_at: float
    model_version: str = MODEL_VERSION


def _merge_latest(old: Iterable[Indicator], new: Iterable[Indicator]) -> tuple[Indicator, ...]:
    best: dict[tuple[str, str], Indicator] = {}
    for ind in (*old, *new):
        kept = best.get(ind.key)
        if kept is None or ind._rank() > kept._rank():
            best[ind.key] = ind
    return tuple(best[k] for k in sorted(best))


def _alarms(health: Iterable[SensorHealth]) -> tuple[SensorAlarm, ...]:
    alarms = [SensorAlarm(h.sensor_id, _ALARM_KIND[h.status], h.last_seen,  # type: ignore[arg-type]
                          h.silence_s, h.reason) for h in health if h.status in _ALARM_KIND]
    return tuple(sorted(alarms, key=lambda a: (a.sensor_id, a.kind)))


def step(state: FusionState, indicators: Iterable[Indicator], now: object, *,
         health: Iterable[SensorHealth] | None = None,
         params: FusionParams | None = None) -> tuple[FusionState, FusedLevel]:
    """Fold ``indicators`` observed up to event time ``now`` into ``state``.

    ``health`` (from ``quality.sensor_health``) lists the point's sensors;
    without it every sensor that sent an indicator counts as online and the
    point has no data only while no indicator was ever seen. Time never runs
    backwards: the state's clock is the latest of ``now``, the previous clock
    and the newest indicator. Pure: the input state is not modified.
    """
    params = params or FusionParams()
    incoming = list(indicators)
    health_list = None if health is None else list(health)
    clock = max([event_seconds(now)] + [i.observed_at for i in incoming]
                + ([state.clock] if state.clock is not None else []))
    latest = _merge_latest(state.latest, incoming)
    alarms = _alarms(health_list or ())
    excluded = {h.sensor_id for h in health_list or () if h.status != "online"}
    status: PointDataStatus
    if health_list is not None:
        status = point_status(health_list)
    else:
        status = "ok" if latest else "no_data"
    active = [i for i in latest if i.sensor_id not in excluded]
    base = {"model": MODEL_NAME, "model_version": MODEL_VERSION, "observed_at": clock,
            "params": params.model_dump(), "excluded_sensors": sorted(excluded),
            "indicators": [i.as_evidence() for i in active]}

    if status == "no_data":
        new_state = replace(state, clock=clock, latest=latest, status=status)
        evidence = {**base, "rule": "no_data", "level": state.level.label,
                    "reason": "every sensor of the point is silent" if health_list
                    else "no indicator received yet"}
        return new_state, FusedLevel(state.level, status, "no_data",
                                     MappingProxyType(evidence), alarms, clock)

    valid = [i for i in active if i.valid]
    raw = max((i.level for i in valid), default=Level.NONE)
    orange_groups = sorted({i.group for i in valid if i.level >= Level.ORANGE})
    red_since: float | None = None
    rule: RuleName = "max_indicator"
    candidate = raw
    if raw == Level.RED:
        red_since = state.red_since if state.red_since is not None else min(
            i.observed_at for i in valid if i.level == Level.RED)
        if len(orange_groups) >= 2:
            rule = "red_corroborated"
        elif clock - red_since >= params.red_hold_hours * 3600.0:
            rule = "red_sustained"
        else:
            candidate, rule = Level.ORANGE, "red_capped"
    contributors = tuple(sorted({i.sensor_id for i in valid if i.level >= candidate}))
    holds = _push(state.holds, candidate, contributors, clock)

    confirmed = {i.sensor_id for i in valid}
    horizon = clock - params.downgrade_hold_hours * 3600.0
    kept: list[HoldEntry] = []
    blocked: list[bool] = []
    for entry in holds:
        expired = entry.until is not None and entry.until <= horizon
        unconfirmed = params.hold_while_unconfirmed and any(
            s not in confirmed for s in entry.sensors)
        if expired and not unconfirmed:
            continue
        kept.append(entry)
        blocked.append(expired)
    level = kept[0].level
    if level > candidate:
        rule = "held_unconfirmed" if blocked[0] else "downgrade_hold"

    new_state = FusionState(level=level, clock=clock, latest=latest, holds=tuple(kept),
                            red_since=red_since, status=status)
    evidence = {**base, "rule": rule, "level": level.label, "candidate": candidate.label,
                "raw_max": raw.label, "corroborating_groups": orange_groups,
                "red_since": red_since, "contributors": list(kept[0].sensors),
                "level_since": kept[0].since,
                "holds": [{"level": e.level.label, "since": e.since, "until": e.until,
                           "sensors": list(e.sensors)} for e in kept]}
    return new_state, FusedLevel(level, status, rule, MappingProxyType(evidence), alarms, clock)


def _push(holds: tuple[HoldEntry, ...], candidate: Level, sensors: tuple[str, ...],
          clock: float) -> tuple[HoldEntry, ...]:
    """Add the newest candidate to the decreasing stack of levels still in effect."""
    entries = list(holds)
    since = clock
    while entries and entries[-1].level <= candidate:
        popped = entries.pop()
        if popped.level == candidate:
            since = min(since, popped.since)
    if entries and entries[-1].until is None:
        entries[-1] = replace(entries[-1], until=clock)
    entries.append(HoldEntry(since, candidate, None, sensors))
    return tuple(entries)


def deformation_indicators(kin: Kinematics, angle: _ta.TangentAngleResult,
                           forecast: FailureForecast, *, sensor_id: str, group: str = "",
                           index: int = -1) -> tuple[Indicator, ...]:
    """Tangent-angle and inverse-velocity indicators of one sensor at sample ``index``."""
    if kin.n == 0:
        return ()
    i = int(np.arange(kin.n)[index])
    th = angle.thresholds
    tangent = Indicator(
        name="tangent_angle", sensor_id=sensor_id, group=group, level=Level(int(angle.level[i])),
        observed_at=float(kin.t[i]), value=float(angle.angle[i]), unit="degree",
        valid=bool(angle.valid[i]), model_version=_ta.MODEL_VERSION,
        numbers={"velocity_mm_per_day": float(kin.velocity[i]),
                 "v_bar_mm_per_day": float(angle.v_bar), "threshold_blue": th.blue,
                 "threshold_yellow": th.yellow, "threshold_orange": th.orange,
                 "threshold_red": th.red})
    p = forecast.params
    inverse = Indicator(
        name="inverse_velocity", sensor_id=sensor_id, group=group,
        level=Level(int(forecast.level[i])), observed_at=float(kin.t[i]),
        value=float(forecast.hours_to_failure[i]), unit="h", valid=bool(forecast.reported[i]),
        model_version=_iv.MODEL_VERSION,
        numbers={"t_f": float(forecast.t_f[i]), "t_f_lower": float(forecast.t_f_lower[i]),
                 "t_f_upper": float(forecast.t_f_upper[i]), "slope": float(forecast.slope[i]),
                 "intercept_day_per_mm": float(forecast.intercept[i]),
                 "n_fit": float(forecast.n_fit[i]), "r2": float(forecast.r2[i]),
                 "sma_mm_per_day": float(forecast.sma[i]), "lma_mm_per_day": float(forecast.lma[i]),
                 "gate_angle_deg": p.gate_angle_deg, "red_lead_hours": p.red_lead_hours,
                 "orange_lead_hours": p.orange_lead_hours})
    return (tangent, inverse)
