"""Properties of the deformation, quality and fusion models, and site configuration.

- levels never decrease when only velocity grows;
- no NaN (or inf) ever leaves a model, whatever finite input it gets
  (duplicates, unsorted, tiny series);
- the order of arrival does not matter;
- configuration resolves point > region > hazard type > default and fails
  when loaded, not when used.

Velocity growth is produced by scaling displacement by a power of two, which
is exact in floating point, so the comparisons need no tolerance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from warning_models.fusion import FusionParams, FusionState, Indicator, deformation_indicators, step
from warning_models.inverse_velocity import InverseVelocityParams, forecast_from_kinematics
from warning_models.kinematics import KinematicsParams, estimate_kinematics
from warning_models.levels import Level
from warning_models.quality import QualityParams, assess_series, sensor_health
from warning_models.site_config import SECTIONS, SiteConfig, SiteParams
from warning_models.tangent_angle import (
    TangentAngleParams,
    TangentAngleThresholds,
    angle_levels,
    assess_tangent_angle,
    tangent_angle,
)

DAY = 86_400.0
HOUR = 3_600.0
T0 = 1_780_000_000.0
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Small windows so that short random series exercise every branch of the models.
SMALL = SiteParams.model_validate({
    "kinematics": {"window_hours": 12, "min_samples": 4, "max_gap_hours": 8},
    "tangent_angle": {"baseline_days": 2, "min_baseline_samples": 3},
    "inverse_velocity": {"gate_angle_deg": 0, "accelerating_angle_deg": 0, "min_fit_samples": 3,
                         "sma_samples": 2, "lma_samples": 3},
})

hours = st.integers(0, 24 * 6).map(lambda h: T0 + h * HOUR)           # many duplicate times
anytime = st.floats(T0, T0 + 6 * DAY, allow_nan=False, allow_infinity=False)
value = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
readings = st.lists(st.tuples(st.one_of(hours, anytime), value), max_size=120)


def run_models(t: np.ndarray, s: np.ndarray, params: SiteParams = SMALL) -> tuple:
    kin = estimate_kinematics(t, s, params.kinematics)
    angle = assess_tangent_angle(kin, params.tangent_angle)
    forecast = forecast_from_kinematics(kin, angle, params.inverse_velocity)
    quality = assess_series(t, s, params.quality)
    return kin, angle, forecast, quality


def float_arrays(result: object) -> dict[str, np.ndarray]:
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
            if isinstance(getattr(result, f.name), np.ndarray)}


def as_arrays(pairs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    t = np.array([p[0] for p in pairs], dtype=float)
    s = np.array([p[1] for p in pairs], dtype=float)
    return t, s


@PROPERTY
@given(readings)
def test_no_nan_ever_leaves_a_model(pairs: list[tuple[float, float]]) -> None:
    t, s = as_arrays(pairs)
    for result in run_models(t, s):
        for name, array in float_arrays(result).items():
            assert np.all(np.isfinite(array)), name
    kin, angle, forecast, _ = run_models(t, s)
    indicators = deformation_indicators(kin, angle, forecast, sensor_id="s1")
    now = float(np.max(t)) if t.size else T0
    health = sensor_health(["s1"], [now if t.size else None], HOUR, now)
    _, fused = step(FusionState(), indicators, now, health=health)
    numbers = [i.value for i in indicators] + [v for i in indicators for v in i.numbers.values()]
    assert np.all(np.isfinite(numbers))
    assert fused.level in Level


def test_no_nan_from_extreme_finite_values() -> None:
    t = T0 + HOUR * np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], dtype=float)
    s = np.array([1e308, 1e308, -1e308, 1e308, 0, 1e308, 1e308, -1e308, 1e-308, 5e307, 1e308,
                  1e308, -1e308, 1e308])
    for result in run_models(t, s):
        for name, array in float_arrays(result).items():
            assert np.all(np.isfinite(array)), name


@PROPERTY
@given(readings, st.randoms(use_true_random=False))
def test_order_of_arrival_does_not_matter(pairs: list[tuple[float, float]], rnd) -> None:
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    for first, second in zip(run_models(*as_arrays(pairs)), run_models(*as_arrays(shuffled)),
                             strict=True):
        a, b = float_arrays(first), float_arrays(second)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


ascending = st.lists(st.floats(0, 89.9), min_size=4, max_size=4, unique=True).map(sorted)


@PROPERTY
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50), st.data(),
       st.floats(1e-3, 1e3), ascending)
def test_tangent_levels_never_decrease_when_velocity_grows(v: list[float], data, v_bar: float,
                                                           bounds: list[float]) -> None:
    growth = data.draw(st.lists(st.floats(0, 1e3), min_size=len(v), max_size=len(v)))
    thresholds = TangentAngleThresholds(**dict(zip(("blue", "yellow", "orange", "red"), bounds,
                                                   strict=True)))
    slow = angle_levels(tangent_angle(v, v_bar), thresholds)
    fast = angle_levels(tangent_angle(np.add(v, growth), v_bar), thresholds)
    assert np.all(fast >= slow)


increments = st.lists(st.floats(0.0, 50.0), min_size=0, max_size=100)


@PROPERTY
@given(increments, st.sampled_from([2.0, 4.0, 16.0]), st.floats(0.05, 5.0))
def test_no_level_decreases_when_only_velocity_grows(steps: list[float], factor: float,
                                                     v_bar: float) -> None:
    """Scaling a moving slope's displacement by 2^k multiplies every velocity by 2^k."""
    t = T0 + HOUR * np.arange(len(steps))
    s = np.cumsum(steps)
    params = SMALL.model_copy(update={"tangent_angle": TangentAngleParams(v_bar_mm_per_day=v_bar)})
    slow = run_models(t, s, params)
    fast = run_models(t, factor * s, params)
    assert np.all(fast[1].level >= slow[1].level)                 # tangent angle
    assert np.all(fast[2].level >= slow[2].level)                 # inverse velocity
    now = float(t[-1]) if t.size else T0
    fused = [step(FusionState(), deformation_indicators(*r[:3], sensor_id="s"), now)[1].level
             for r in (slow, fast)]
    assert fused[1] >= fused[0]


indicator_spec = st.tuples(st.sampled_from(["tangent_angle", "inverse_velocity"]),
                           st.sampled_from(["a", "b", "c"]), st.integers(0, 4), st.booleans(),
                           st.integers(0, 6))


def build(specs: list[tuple], hour: int) -> list[Indicator]:
    return [Indicator(name, sensor, Level(level), T0 + (hour - lag) * HOUR, valid=valid)
            for name, sensor, level, valid, lag in specs]


@PROPERTY
@given(st.lists(st.lists(indicator_spec, max_size=5), max_size=8),
       st.lists(indicator_spec, min_size=1, max_size=6), st.data(),
       st.floats(0, 12), st.floats(0, 12))
def test_fused_level_never_decreases_when_an_indicator_rises(
        history: list[list[tuple]], final: list[tuple], data, red_hold: float,
        down_hold: float) -> None:
    params = FusionParams(red_hold_hours=red_hold, downgrade_hold_hours=down_hold)
    state = FusionState()
    for hour, specs in enumerate(history):
        state, _ = step(state, build(specs, 10 * hour), T0 + 10 * hour * HOUR, params=params)
    raised = [(n, s, data.draw(st.integers(level, 4)), v, lag) for n, s, level, v, lag in final]
    now = 10 * len(history)
    low = step(state, build(final, now), T0 + now * HOUR, params=params)[1]
    high = step(state, build(raised, now), T0 + now * HOUR, params=params)[1]
    assert high.level >= low.level


@PROPERTY
@given(st.lists(indicator_spec, max_size=10), st.randoms(use_true_random=False))
def test_fusion_ignores_the_order_within_a_batch(specs: list[tuple], rnd) -> None:
    batch = build(specs, 6)
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    assert step(FusionState(), batch, T0 + 6 * HOUR) == step(FusionState(), shuffled, T0 + 6 * HOUR)


levels_of_config = st.sampled_from(["default", "hazard_type", "region", "point"])


@PROPERTY
@given(st.fixed_dictionaries({section: st.sets(levels_of_config) for section in SECTIONS}))
def test_the_most_specific_configuration_wins_per_section(where: dict[str, set[str]]) -> None:
    marker = {  # a distinctive, valid value per section and level
        "kinematics": lambda i: {"window_hours": 10 + i},
        "tangent_angle": lambda i: {"v_bar_mm_per_day": 1 + i},
        "inverse_velocity": lambda i: {"fit_window_days": 1 + i},
        "quality": lambda i: {"missed_intervals": 1 + i},
        "fusion": lambda i: {"red_hold_hours": 1 + i},
    }
    order = ["default", "hazard_type", "region", "point"]
    layers: dict[str, dict] = {name: {} for name in order}
    for section, levels in where.items():
        for name in levels:
            layers[name][section] = marker[section](order.index(name))
    config = SiteConfig.model_validate({
        "default": layers["default"], "hazard_types": {"landslide": layers["hazard_type"]},
        "regions": {"510000": layers["region"], "999999": {"fusion": {"red_hold_hours": 99}}},
        "points": {"P1": layers["point"]}})
    resolved = config.resolve("P1", regions=["510100", "510000"], hazard_type="landslide")
    for section, levels in where.items():
        winner = max(levels, key=order.index) if levels else None
        expected = SiteParams.model_validate(
            {section: marker[section](order.index(winner))} if winner else {})
        assert getattr(resolved.params, section) == getattr(expected, section)
        label = {"default": "default", "hazard_type": "hazard_type:landslide",
                 "region": "region:510000", "point": "point:P1", None: "default"}[winner]
        assert resolved.sources[section] == label


def test_configuration_loads_from_plain_dicts() -> None:
    config = SiteConfig.model_validate({
        "default": {"tangent_angle": {"thresholds": {"yellow": 60}}},
        "hazard_types": {"collapse": {"fusion": {"red_hold_hours": 2}}},
        "regions": {"500000": {"inverse_velocity": {"red_lead_hours": 72,
                                                    "orange_lead_hours": 240}}},
        "points": {"P-0042": {"tangent_angle": {"v_bar_mm_per_day": 0.8}}},
    })
    resolved = config.resolve("P-0042", regions=("500235", "500000"), hazard_type="collapse")
    assert resolved.params.tangent_angle.v_bar_mm_per_day == 0.8
    assert resolved.params.tangent_angle.thresholds.yellow == 55.0   # the section is taken whole
    assert resolved.params.inverse_velocity.red_lead_hours == 72
    assert resolved.params.fusion.red_hold_hours == 2
    assert resolved.params.kinematics == KinematicsParams()
    assert dict(resolved.sources) == {
        "kinematics": "default", "tangent_angle": "point:P-0042",
        "inverse_velocity": "region:500000", "quality": "default", "fusion": "hazard_type:collapse"}
    other = config.resolve("P-9", regions="430000", hazard_type="landslide")
    assert other.params.tangent_angle.thresholds.yellow == 60
    assert set(other.sources.values()) == {"default"}


@pytest.mark.parametrize("bad", [
    {"points": {"P1": {"tangent_angle": {"thresholds": {"orange": 86, "red": 85}}}}},
    {"regions": {"510000": {"inverse_velocity": {"red_lead_hours": 200}}}},
    {"hazard_types": {"landslide": {"quality": {"missed_intervals": 0}}}},
    {"default": {"fusion": {"downgrade_hold_hours": -1}}},
    {"points": {"P1": {"tangent_anlge": {}}}},
    {"points": {"": {}}},
])
def test_a_bad_configuration_fails_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SiteConfig.model_validate(bad)


def test_parameter_models_are_immutable() -> None:
    params = QualityParams()
    with pytest.raises(ValidationError):
        params.missed_intervals = 5  # type: ignore[misc]
    assert InverseVelocityParams().gate_angle_deg == 80.0
