"""The scorer's vectorised site model against the reference per-series models.

Both judge the same constructed series reading by reading: the scorer through
``Scorer.handle``; the reference, at each reading, ``kinematics`` →
``tangent_angle`` → ``inverse_velocity`` on the readings of the last six
days and ``fusion.step`` on their indicators. The scorer runs in reference
mode (estimates judged as they are: confidence 0.5, no dead bands) with the
same v̄, so what remains are the differences of what each sees: the
scorer's window is made of ~46-minute bins (its edge moves by up to half a
bin), its forecast ring of ~2-hour cells, and it screens spikes causally.

Tolerances (stated, per series):
- velocity: within 2 % (or 0.05 mm/d) at 95 % of the readings; on the smooth
  series within 5 % at every reading; on the step-like series within
  2 mm/d (at a step the window edges of the two differ);
- tangent angle: within 0.5° at 95 % of the readings, 1° on the smooth
  series; the tangent-angle level equal at 97 % of the readings and never
  more than one level apart;
- inverse velocity: a forecast at the same readings, failure times within
  5 % of the remaining time;
- fused level: equal at 99 % of the readings; each level first reached
  within a quarter of a day of the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from streams.scorer import Scorer
from tests.streams.site_scenarios import (
    DAY,
    LEVELS,
    STEP_V_BAR,
    T0,
    creep,
    readings,
    score,
    step_like,
    voight,
)
from warning_models.fusion import FusionState, deformation_indicators, step
from warning_models.inverse_velocity import forecast_from_kinematics
from warning_models.kinematics import estimate_kinematics
from warning_models.quality import sensor_health
from warning_models.site_config import SiteParams
from warning_models.site_params import site_model_from_mapping
from warning_models.tangent_angle import assess_tangent_angle

BUFFER_DAYS = 6.0
VELOCITY_RTOL_P95 = 0.02
VELOCITY_FLOOR = 0.05          # mm/d
SMOOTH_VELOCITY_RTOL = 0.05
STEP_VELOCITY_ATOL = 2.0       # mm/d
ANGLE_ATOL_P95 = 0.5           # degrees
SMOOTH_ANGLE_ATOL = 1.0
LEVEL_AGREEMENT = 0.97
FORECAST_RTOL = 0.05           # of the remaining time
FUSED_AGREEMENT = 0.99
FIRST_LEVEL_ATOL_DAYS = 0.25
REFERENCE_MODE = {"judge_confidence": 0.5, "curvature_confidence": 0.5,
                  "angle_dead_band_deg": 0.0, "threshold_dead_band": 0.0}


def side_by_side(t: np.ndarray, s: np.ndarray, v_bar: float) -> dict[str, np.ndarray]:
    site = {"tangent_angle": {"v_bar_mm_per_day": v_bar}}
    config = site_model_from_mapping({"site": {"default": site}, "scorer": REFERENCE_MODE})
    timeline = score(readings("P", "G1", "gnss", t, s),
                     scorer=Scorer({"P": "landslide"}, config, emit="every_reading"))
    params = SiteParams.model_validate(site)
    state = FusionState()
    rows = []
    for i, a in enumerate(timeline.assessments):
        now = a.observed_at.timestamp()
        recent = (t <= now + 1e-6) & (t > now - BUFFER_DAYS * DAY)
        kin = estimate_kinematics(t[recent], s[recent], params.kinematics, evaluate_from=now)
        angle = assess_tangent_angle(kin, params.tangent_angle)
        forecast = forecast_from_kinematics(kin, angle, params.inverse_velocity,
                                            evaluate_from=now)
        health = sensor_health(["G1"], [now], 3600.0, now, params.quality)
        state, fused = step(state, deformation_indicators(kin, angle, forecast, sensor_id="G1"),
                            now, health=health, params=params.fusion)
        ours = timeline.indicator(i, "tangent_angle")
        rows.append((
            timeline.days[i], ours.numbers["velocity_mm_per_day"], kin.velocity[-1],
            kin.valid_velocity[-1] and ours.valid, ours.value, angle.angle[-1],
            angle.valid[-1] and ours.valid, LEVELS.index(ours.level), angle.level[-1],
            a.predicted_failure_at.timestamp() if a.predicted_failure_at else np.nan,
            forecast.t_f[-1] if forecast.reported[-1] else np.nan, timeline.levels[i],
            int(fused.level)))
    names = ("day", "v", "v_ref", "v_ok", "alpha", "alpha_ref", "alpha_ok", "level",
             "level_ref", "t_f", "t_f_ref", "fused", "fused_ref")
    columns = np.array(rows, dtype=float).T
    out = dict(zip(names, columns, strict=True))
    for name in ("v_ok", "alpha_ok"):
        out[name] = out[name].astype(bool) & (out["day"] > 1.0)
    return out


SERIES = {
    "voight": (lambda: voight(seed=21), 1.0, True),
    "creep": (lambda: creep(seed=31), 1.0, True),
    "step_like": (lambda: step_like(seed=41), STEP_V_BAR, False),
}


@pytest.fixture(scope="module", params=sorted(SERIES))
def compared(request):
    make, v_bar, smooth = SERIES[request.param]
    t, s = make()
    return request.param, side_by_side(t, s, v_bar), smooth


def test_velocity_agrees(compared) -> None:
    name, c, smooth = compared
    ok = c["v_ok"]
    assert ok.sum() > 1000
    error = np.abs(c["v"] - c["v_ref"])[ok]
    relative = error / np.maximum(np.abs(c["v_ref"][ok]), VELOCITY_FLOOR)
    assert np.percentile(relative, 95) <= VELOCITY_RTOL_P95, name
    if smooth:
        assert relative.max() <= SMOOTH_VELOCITY_RTOL, name
    else:
        assert error.max() <= STEP_VELOCITY_ATOL, name


def test_tangent_angle_and_its_level_agree(compared) -> None:
    name, c, smooth = compared
    ok = c["alpha_ok"]
    difference = np.abs(c["alpha"] - c["alpha_ref"])[ok]
    assert np.percentile(difference, 95) <= ANGLE_ATOL_P95, name
    if smooth:
        assert difference.max() <= SMOOTH_ANGLE_ATOL, name
    levels = np.abs(c["level"] - c["level_ref"])[ok]
    assert np.mean(levels == 0) >= LEVEL_AGREEMENT, name
    assert levels.max() <= 1, name


def test_forecast_agrees(compared) -> None:
    name, c, _ = compared
    ours, theirs = ~np.isnan(c["t_f"]), ~np.isnan(c["t_f_ref"])
    np.testing.assert_array_equal(ours, theirs)
    if name != "voight":
        assert not ours.any()
        return
    assert ours.sum() > 50
    remaining = c["t_f_ref"][ours] - (T0 + c["day"][ours] * DAY)
    assert np.all(np.abs(c["t_f"] - c["t_f_ref"])[ours] <= FORECAST_RTOL * remaining)


def test_fused_level_agrees(compared) -> None:
    name, c, _ = compared
    assert np.mean(c["fused"] == c["fused_ref"]) >= FUSED_AGREEMENT, name
    for level in range(1, 5):
        ours, theirs = c["fused"] >= level, c["fused_ref"] >= level
        assert ours.any() == theirs.any(), (name, level)
        if ours.any():
            first = c["day"][np.argmax(ours)] - c["day"][np.argmax(theirs)]
            assert abs(first) <= FIRST_LEVEL_ATOL_DAYS, (name, level)
