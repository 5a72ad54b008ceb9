"""Assessments with their evidence, built from the scorer's state arrays.

An assessment states the point's level, its status (ok, degraded, no_data),
the fusion rule that set the level, the earliest predicted failure time
among its sensors with its interval, and one ``Indicator`` per model and
sensor with the numbers behind it:

- the absolute indicator of the sensor's kind (``velocity`` in mm/d for
  displacement kinds, ``tilt_rate``, ``pore_pressure_rise``, ``mud_level``)
  with its thresholds (per kind and hazard type), window and samples;
- for displacement sensors ``tangent_angle`` (α in degrees, v̄ and its
  source, the velocity, its standard error and the acceleration), and
  ``inverse_velocity`` once α has passed the gate (hours to failure,
  predicted failure time and interval, fit size and r²);
- for rain series (gauges and the rainfall grid's derived readings)
  ``rainfall_intensity_duration``: the largest ratio of observed to
  threshold intensity over the accumulation windows, its duration, the
  accumulations, the effective antecedent rainfall P_e, the threshold
  used, whether the series was the point's selected rain source or a grid
  sample set aside for a fresh gauge, and the level it stood for next to the
  deformation (``warning_models.rainfall_fusion``);
- ``sensor_offline`` / ``sensor_stuck`` for sensors that are silent or
  stuck: an alarm of its own kind, never a silent absence.

Built only for the points that emit, in Python; everything upstream is
vectorised.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from streams.codec import ns_to_datetime
from streams.schemas import Assessment, Indicator
from streams.scorer_engine import ABSOLUTE, V_BAR_SOURCES, SiteEngine
from streams.scorer_state import EMPTY, KINDS
from warning_models.levels import LEVEL_LABELS
from warning_models.rainfall_fusion import ROLE_SELECTED, ROLES
from warning_models.site_fusion import RULES, STATUSES
from warning_models.site_params import ParamRow

LEVEL_NAMES = ("blue", "yellow", "orange", "red")


def _seconds(value: float) -> datetime:
    return datetime.fromtimestamp(round(value, 6), UTC)


def _label(level: int) -> str:
    return LEVEL_LABELS[level] if level >= 0 else "none"


def _rule_text(name: str, value: float, unit: str, level: int, bounds: np.ndarray) -> str:
    if level <= 0:
        return f"{name} {value:.3g} {unit} below blue {bounds[0]:.3g}"
    return f"{name} {value:.3g} {unit} >= {LEVEL_NAMES[level - 1]} {bounds[level - 1]:.3g}"


def build_assessments(engine: SiteEngine, points: np.ndarray, *, model: str,
                      model_version: str) -> list[Assessment]:
    """One assessment per point, from the state as it is now (call right after fusing)."""
    st, index, ps = engine.series, engine.index, engine.points
    members, row = engine.members(points)
    P = engine.series_params(members)
    clock = ps.clock[points]
    silence = clock[row] - st.seen[members]
    silent = (st.seen[members] == EMPTY) | (silence > engine.silence_limit(members, P))
    stuck = st.stuck[members] & ~silent
    limit = engine.silence_limit(members, P)
    by_row: dict[int, list[int]] = {}
    for position, r in enumerate(row.tolist()):
        by_row.setdefault(r, []).append(position)
    out = []
    for r, point in enumerate(points.tolist()):
        evidence: list[Indicator] = []
        failures: list[tuple[float, float, float]] = []
        positions = sorted(by_row.get(r, []), key=lambda m: (-int(st.level[members[m]]),
                                                               index.keys[members[m]]))
        for m in positions:
            slot = int(members[m])
            if st.seen[slot] == EMPTY:
                continue
            evidence.extend(_series_indicators(engine, slot, P.row(m),
                                               bool(silent[m]), bool(stuck[m]),
                                               float(silence[m]), float(limit[m])))
            if st.lvl_iv[slot] >= 0 and not silent[m] and not stuck[m]:
                failures.append((float(st.iv_tf[slot]), float(st.iv_lo[slot]),
                                 float(st.iv_hi[slot])))
        level = LEVEL_LABELS[int(ps.level[point])]
        observed_at = ns_to_datetime(int(clock[r]))
        point_id = index.point_ids[point]
        earliest = min(failures) if failures else None
        out.append(Assessment(
            assessment_id=Assessment.make_id(point_id, observed_at, level, model_version),
            point_id=point_id, level=level, observed_at=observed_at, model=model,
            model_version=model_version, evidence=evidence,
            status=STATUSES[int(ps.status[point])], rule=RULES[int(ps.rule[point])],
            predicted_failure_at=_seconds(earliest[0]) if earliest else None,
            predicted_failure_lower=_seconds(earliest[1]) if earliest else None,
            predicted_failure_upper=_seconds(earliest[2]) if earliest else None))
    return out


def _series_indicators(engine: SiteEngine, slot: int, p: ParamRow, silent: bool, stuck: bool,
                       silence_ns: float, limit_ns: float) -> list[Indicator]:
    st, index = engine.series, engine.index
    _, sensor_id, kind = index.keys[slot]
    status = "offline" if silent else "stuck" if stuck else "online"
    seen = ns_to_datetime(int(st.seen[slot]))
    common = {"sensor_id": sensor_id, "kind": kind, "status": status}
    out: list[Indicator] = []
    if silent:
        out.append(Indicator(
            **common, name="sensor_offline", value=silence_ns / 3.6e12, unit="h", level="none",
            valid=False, observed_at=seen,
            rule=f"silent for {silence_ns / 3.6e12:.2f} h (event time), more than "
                 f"{int(p['missed_intervals'])} expected intervals "
                 f"({limit_ns / 3.6e12:.2f} h)"))
    if stuck:
        out.append(Indicator(
            **common, name="sensor_stuck", value=float(st.stuck_run[slot]), unit="readings",
            level="none", valid=False, observed_at=seen,
            rule=f"{int(st.stuck_run[slot])} consecutive readings within "
                 f"{p['stuck_epsilon']:g} of each other"))
    usable = not (silent or stuck)
    observed = ns_to_datetime(int(st.eval_ns[slot])) if st.eval_ns[slot] != EMPTY else seen
    window_hours = float(p["window_days"]) * 24.0
    spikes = {"spikes_rejected": float(st.spikes[slot])}
    if kind in ABSOLUTE:
        name, unit = ABSOLUTE[kind]
        hazard = int(engine.points.hazard[index.series_point[slot]])
        bounds = engine.bounds[hazard, KINDS.index(kind)]
        level = int(st.lvl_abs[slot])
        value, judged = float(st.abs_value[slot]), float(st.abs_judged[slot])
        out.append(Indicator(
            **common, name=name, value=value, unit=unit, level=_label(level),
            thresholds=dict(zip(LEVEL_NAMES, bounds.tolist(), strict=True)),
            window_hours=window_hours, samples=int(st.samples[slot]), valid=level >= 0 and usable,
            observed_at=observed,
            rule=_rule_text(f"judged {name}", judged, unit, level, bounds) if level >= 0
            else "insufficient data in the window",
            numbers={"judged": judged, **spikes, **({
                "standard_error": float(st.velocity_se[slot]),
                "acceleration_per_day": float(st.acceleration[slot])}
                if engine.rate_kind[KINDS.index(kind)] else {})}))
    if kind == "rain_gauge":
        out.append(_rainfall(engine, slot, common, usable, observed))
    if engine.displacement[KINDS.index(kind)]:
        source = V_BAR_SOURCES[int(st.v_bar_source[slot])]
        angles = np.array([p["angle_blue"], p["angle_yellow"], p["angle_orange"],
                           p["angle_red"]], dtype=float)
        level = int(st.lvl_tan[slot])
        v_bar = float(st.v_bar[slot])
        if level >= 0:
            rule = (_rule_text("lower-bound tangent angle", float(st.alpha_low[slot]), "°", level,
                               angles) + f"; v̄ {v_bar:.3g} mm/d ({source})")
        else:
            rule = ("no usable v̄ (configure it or wait for the baseline window)"
                    if source == "none" else "insufficient data in the window")
        out.append(Indicator(
            **common, name="tangent_angle", value=float(st.alpha[slot]), unit="degree",
            level=_label(level), thresholds=dict(zip(LEVEL_NAMES, angles.tolist(), strict=True)),
            window_hours=window_hours, samples=int(st.samples[slot]),
            valid=level >= 0 and usable, observed_at=observed, rule=rule,
            numbers={"tangent_angle_lower_deg": float(st.alpha_low[slot]),
                     "v_bar_mm_per_day": v_bar, "v_bar_samples": float(st.v_bar_n[slot]),
                     "velocity_mm_per_day": float(st.velocity[slot]),
                     "velocity_se_mm_per_day": float(st.velocity_se[slot]),
                     "acceleration_mm_per_day2": float(st.acceleration[slot])}))
        if st.iv_gated[slot]:
            out.append(_inverse_velocity(engine, slot, p, common, usable, observed))
    return out


def _inverse_velocity(engine: SiteEngine, slot: int, p: ParamRow, common: dict, usable: bool,
                      observed: datetime) -> Indicator:
    st = engine.series
    level = int(st.lvl_iv[slot])
    reported = level >= 0
    hours = float(st.iv_hours[slot])
    if reported:
        rule = (f"inverse velocity: {hours:.1f} h to failure"
                + (f" < {'red' if level == 4 else 'orange'} lead "
                   f"{p['red_lead_hours' if level == 4 else 'orange_lead_hours']:g} h"
                   if level >= 3 else f", beyond the orange lead {p['orange_lead_hours']:g} h"))
    else:
        rule = (f"no significant trend of 1/v over {int(st.iv_n[slot])} smoothed velocities "
                f"of the accelerating part")
    return Indicator(
        **common, name="inverse_velocity", value=hours, unit="h", level=_label(level),
        thresholds={"orange": float(p["orange_lead_hours"]), "red": float(p["red_lead_hours"])},
        valid=reported and usable, observed_at=observed, rule=rule,
        numbers={"n_fit": float(st.iv_n[slot]), "r2": float(st.iv_r2[slot]),
                 "smoothed_velocity_mm_per_day": float(st.iv_sma[slot]),
                 "gate_angle_deg": float(p["gate_angle"])},
        predicted_failure_at=_seconds(float(st.iv_tf[slot])) if reported else None,
        predicted_failure_lower=_seconds(float(st.iv_lo[slot])) if reported else None,
        predicted_failure_upper=_seconds(float(st.iv_hi[slot])) if reported else None)


def _rainfall(engine: SiteEngine, slot: int, common: dict, usable: bool,
              observed: datetime) -> Indicator:
    rain = engine.rain
    r = int(rain.rows(np.asarray([slot]), engine.index, create=False)[0])
    if r < 0:
        return Indicator(**common, name="rainfall_intensity_duration", value=0.0,
                         unit="ratio", level="none", valid=False, observed_at=observed,
                         rule="no rain accumulated yet")
    params = rain.models[int(rain.model[r])]
    bounds = params.ratio_bounds.as_array()
    level, ratio = int(rain.level[r]), float(rain.ratio[r])
    role = ROLES[int(rain.role[r])]
    contribution = int(rain.contribution[r])
    source = "rainfall grid" if rain.grid[r] else "gauge"
    if level < 0:
        rule = "no accumulation window with data yet"
    else:
        rule = (_rule_text(f"{source}: intensity {rain.intensity[r]:.3g} mm/h over "
                           f"{rain.duration_h[r]:g} h / {params.threshold.name} threshold "
                           f"{rain.threshold[r]:.3g} mm/h =", ratio, "", level, bounds)
                + f"; {role.replace('_', ' ')}, stands for {_label(contribution)} next to "
                  f"the deformation")
    numbers = {f"accumulation_{w:g}h_mm": float(a) for w, a in zip(rain.windows, rain.acc[r],
                                                                    strict=True)}
    numbers.update({
        "duration_h": float(rain.duration_h[r]), "intensity_mm_per_h": float(rain.intensity[r]),
        "threshold_mm_per_h": float(rain.threshold[r]),
        "threshold_alpha": params.threshold.alpha, "threshold_beta": params.threshold.beta,
        "effective_rainfall_mm": float(rain.p_e[r]), "antecedent_k": params.antecedent.k,
        "antecedent_days": float(params.antecedent.days),
        "level_intensity_duration": float(rain.level_id[r]),
        "level_effective_rainfall": float(rain.level_pe[r]),
        "selected": float(rain.role[r] == ROLE_SELECTED), "grid_sample": float(rain.grid[r]),
        "contribution_level": float(contribution)})
    # no data (NaN) is left out: JSON has no NaN
    numbers = {name: value for name, value in numbers.items() if np.isfinite(value)}
    return Indicator(
        **common, name="rainfall_intensity_duration",
        value=ratio if np.isfinite(ratio) else 0.0, unit="ratio",
        level=_label(level), thresholds=dict(zip(LEVEL_NAMES, bounds.tolist(), strict=True)),
        window_hours=float(rain.duration_h[r]) if level >= 0 else None,
        valid=level >= 0 and usable and rain.role[r] == ROLE_SELECTED, observed_at=observed, rule=rule,
        numbers=numbers)
