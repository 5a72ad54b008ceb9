"""Fusion of indicators into one level per point, unit rules and replayed scenarios.

The scenarios replay synthetic sensor series the way a scorer runs live: at
each step only the readings observed so far (and at most ``BUFFER_DAYS``
old) are scored, indicators of the newest sample feed ``fusion.step``, and
sensor health is judged against the newest event time, never the wall clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from warning_models.fusion import (
    MODEL_VERSION,
    FusionParams,
    FusionState,
    Indicator,
    deformation_indicators,
    step,
)
from warning_models.inverse_velocity import forecast_from_kinematics
from warning_models.kinematics import estimate_kinematics
from warning_models.levels import Level
from warning_models.quality import sensor_health
from warning_models.site_config import SiteParams
from warning_models.tangent_angle import assess_tangent_angle

DAY = 86_400.0
HOUR = 3_600.0
T0 = 1_780_000_000.0
BUFFER_DAYS = 6.0
REPLAY_STEP_HOURS = 3.0
VOIGHT_START_DAY = 40.0       # replays of the Voight series start ten days into the acceleration


# ----------------------------------------------------------------------------- unit rules


def ind(name: str, sensor: str, level: Level | str, at: float, group: str = "",
        valid: bool = True) -> Indicator:
    return Indicator(name=name, sensor_id=sensor, level=level, observed_at=T0 + at * HOUR,
                     group=group, valid=valid, value=1.0, unit="x")


def run(steps: list[tuple[float, list[Indicator]]], params: FusionParams | None = None,
        **kwargs: object) -> list:
    state, out = FusionState(), []
    for hour, indicators in steps:
        state, fused = step(state, indicators, T0 + hour * HOUR, params=params, **kwargs)
        out.append(fused)
    return out


def test_red_from_two_independent_groups_is_immediate() -> None:
    fused = run([(0, [ind("tangent_angle", "gnss1", "red", 0),
                      ind("tangent_angle", "crack1", "orange", 0)])])[0]
    assert fused.level == Level.RED and fused.rule_fired == "red_corroborated"
    assert fused.evidence["corroborating_groups"] == ["crack1", "gnss1"]


def test_two_models_of_one_sensor_do_not_corroborate_each_other() -> None:
    fused = run([(0, [ind("tangent_angle", "gnss1", "red", 0),
                      ind("inverse_velocity", "gnss1", "red", 0)])])[0]
    assert fused.level == Level.ORANGE and fused.rule_fired == "red_capped"


def test_sensors_in_one_group_are_not_independent() -> None:
    fused = run([(0, [ind("tangent_angle", "gnss1", "red", 0, group="mast"),
                      ind("tangent_angle", "gnss2", "orange", 0, group="mast")])])[0]
    assert fused.level == Level.ORANGE


def test_a_single_red_becomes_red_after_the_hold_time() -> None:
    params = FusionParams(red_hold_hours=6)
    out = run([(h, [ind("tangent_angle", "gnss1", "red", h)]) for h in range(8)], params)
    assert [f.level for f in out] == [Level.ORANGE] * 6 + [Level.RED] * 2
    assert out[6].rule_fired == "red_sustained"


def test_an_interrupted_red_starts_its_hold_again() -> None:
    params = FusionParams(red_hold_hours=4, downgrade_hold_hours=0)
    levels = ["red", "red", "red", "orange", "red", "red", "red", "red", "red"]
    out = run([(h, [ind("tangent_angle", "s", lvl, h)]) for h, lvl in enumerate(levels)], params)
    assert [f.level.label for f in out] == ["orange"] * 8 + ["red"]


def test_downgrade_waits_for_the_hold_time() -> None:
    params = FusionParams(downgrade_hold_hours=24)
    steps = [(0, [ind("tangent_angle", "s", "yellow", 0)])]
    steps += [(h, [ind("tangent_angle", "s", "none", h)]) for h in range(1, 27)]
    out = run(steps, params)
    assert all(f.level == Level.YELLOW for f in out[:25])
    assert out[1].rule_fired == "downgrade_hold"
    assert out[25].level == Level.NONE and out[25].rule_fired == "max_indicator"


def test_no_flapping_around_a_threshold() -> None:
    params = FusionParams(downgrade_hold_hours=12)
    pattern = ["yellow", "blue"] * 30
    out = run([(h, [ind("tangent_angle", "s", lvl, h)]) for h, lvl in enumerate(pattern)], params)
    assert {f.level for f in out} == {Level.YELLOW}


def test_a_downgrade_goes_to_the_highest_level_of_the_hold_window() -> None:
    params = FusionParams(downgrade_hold_hours=10)
    levels = ["orange"] + ["yellow"] * 5 + ["none"] * 20
    out = run([(h, [ind("tangent_angle", "s", lvl, h)]) for h, lvl in enumerate(levels)], params)
    labels = [f.level.label for f in out]
    assert labels[:11] == ["orange"] * 11
    assert labels[11:16] == ["yellow"] * 5 and labels[16:] == ["none"] * 10


def test_upgrades_are_immediate() -> None:
    out = run([(0, [ind("t", "s", "blue", 0)]), (1, [ind("t", "s", "orange", 1)])])
    assert [f.level for f in out] == [Level.BLUE, Level.ORANGE]


def test_offline_sensor_raises_its_own_alarm_and_does_not_count() -> None:
    now = T0 + 10 * HOUR
    health = sensor_health(["a", "b"], [now, now - 5 * HOUR], HOUR, now)
    indicators = [Indicator("tangent_angle", "a", Level.BLUE, now),
                  Indicator("tangent_angle", "b", Level.ORANGE, now - 5 * HOUR)]
    _, fused = step(FusionState(), indicators, now, health=health)
    assert fused.level == Level.BLUE and fused.status == "degraded"
    assert [(a.sensor_id, a.kind) for a in fused.alarms] == [("b", "sensor_offline")]
    assert fused.evidence["excluded_sensors"] == ["b"]


def test_all_sensors_silent_is_no_data_and_keeps_the_level() -> None:
    state, fused = step(FusionState(), [Indicator("t", "a", Level.YELLOW, T0)], T0,
                        health=sensor_health(["a"], [T0], HOUR, T0))
    assert fused.level == Level.YELLOW
    later = T0 + 50 * HOUR
    state, fused = step(state, [], later, health=sensor_health(["a"], [T0], HOUR, later))
    assert fused.status == "no_data" and fused.rule_fired == "no_data"
    assert fused.level == Level.YELLOW and fused.level != Level.NONE
    assert fused.alarms[0].kind == "sensor_offline"
    _, fresh = step(FusionState(), [], T0)
    assert fresh.status == "no_data" and fresh.level == Level.NONE


def test_level_is_held_while_the_sensor_that_raised_it_is_silent() -> None:
    params = FusionParams(downgrade_hold_hours=2)
    state, _ = step(FusionState(), [Indicator("t", "a", Level.ORANGE, T0),
                                    Indicator("t", "b", Level.BLUE, T0)], T0, params=params)
    now = T0 + 30 * HOUR
    health = sensor_health(["a", "b"], [T0, now], HOUR, now)
    state, fused = step(state, [Indicator("t", "b", Level.BLUE, now)], now, health=health,
                        params=params)
    assert fused.level == Level.ORANGE and fused.rule_fired == "downgrade_hold"
    later = now + 5 * HOUR
    health = sensor_health(["a", "b"], [T0, later], HOUR, later)
    state, fused = step(state, [Indicator("t", "b", Level.BLUE, later)], later, health=health,
                        params=params)
    assert fused.level == Level.ORANGE and fused.rule_fired == "held_unconfirmed"
    back = later + HOUR                    # "a" reports again, lower: the hold has passed
    health = sensor_health(["a", "b"], [back, back], HOUR, back)
    _, fused = step(state, [Indicator("t", "a", Level.NONE, back)], back, health=health,
                    params=params)
    assert fused.level == Level.BLUE


def test_invalid_indicators_raise_nothing_and_hold_what_their_sensor_raised() -> None:
    params = FusionParams(downgrade_hold_hours=1)
    out = run([(0, [ind("t", "s", "yellow", 0)]),
               (1, [ind("t", "s", "none", 1, valid=False)]),
               (5, [ind("t", "s", "none", 5, valid=False)]),
               (6, [ind("t", "s", "blue", 6)])], params)
    assert [f.level for f in out] == [Level.YELLOW] * 3 + [Level.BLUE]
    assert out[2].rule_fired == "held_unconfirmed"
    assert run([(0, [ind("t", "s", "red", 0, valid=False)])])[0].level == Level.NONE


def test_a_late_older_indicator_does_not_override_a_newer_one() -> None:
    state, _ = step(FusionState(), [ind("t", "s", "blue", 5)], T0 + 5 * HOUR)
    _, fused = step(state, [ind("t", "s", "red", 2)], T0 + 6 * HOUR)
    assert fused.level == Level.BLUE


def test_the_clock_never_runs_backwards() -> None:
    state, _ = step(FusionState(), [ind("t", "s", "blue", 5)], T0 + 5 * HOUR)
    state, fused = step(state, [], T0)
    assert state.clock == T0 + 5 * HOUR and fused.observed_at == T0 + 5 * HOUR


def test_order_of_indicators_in_a_batch_does_not_matter() -> None:
    batch = [ind("t", "a", "red", 1), ind("t", "a", "blue", 0), ind("v", "b", "orange", 1),
             ind("t", "c", "yellow", 1), ind("t", "a", "red", 1)]
    first = step(FusionState(), batch, T0 + HOUR)
    second = step(FusionState(), batch[::-1], T0 + HOUR)
    assert first == second


def test_state_round_trips_through_json() -> None:
    state, _ = step(FusionState(), [ind("t", "a", "red", 0), ind("t", "b", "blue", 0)], T0)
    state, _ = step(state, [ind("t", "a", "yellow", 3)], T0 + 3 * HOUR)
    restored = FusionState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    nxt = [ind("t", "a", "none", 40)]
    assert step(restored, nxt, T0 + 40 * HOUR) == step(state, nxt, T0 + 40 * HOUR)


def test_evidence_carries_rule_numbers_and_model_version() -> None:
    indicator = Indicator("tangent_angle", "gnss1", "orange", T0, value=82.5, unit="degree",
                          model_version="tangent_angle-1.0", numbers={"v_bar_mm_per_day": 0.7})
    _, fused = step(FusionState(), [indicator], T0)
    assert fused.model_version == MODEL_VERSION == fused.evidence["model_version"]
    assert fused.evidence["rule"] == fused.rule_fired == "max_indicator"
    [evidence] = fused.evidence["indicators"]
    assert evidence["value"] == 82.5 and evidence["numbers"] == {"v_bar_mm_per_day": 0.7}
    assert evidence["model_version"] == "tangent_angle-1.0"
    json.dumps(dict(fused.evidence))


def test_indicators_refuse_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        Indicator("t", "s", Level.BLUE, T0, value=float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        Indicator("t", "s", Level.BLUE, T0, numbers={"x": float("inf")})


# ----------------------------------------------------------------------------- scenarios


def noisy(exact: np.ndarray, seed: int) -> np.ndarray:
    """Cumulative displacement whose increments carry 5 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    increments = np.diff(exact) * (1.0 + 0.05 * rng.standard_normal(exact.size - 1))
    return np.r_[exact[0], exact[0] + np.cumsum(increments)]


def voight(seed: int, t_f: float = 60.0, onset: float = 30.0, v_bar: float = 1.0,
           end_before: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Uniform creep at v_bar, then Voight's law with α = 2 (1/v linear in t) until t_f."""
    t = np.arange(0.0, t_f - end_before, 1.0 / 24.0)
    big_a = 1.0 / (v_bar * (t_f - onset))                 # v = 1 / (A (t_f - t)) after the onset
    after = np.maximum(t, onset)
    exact = v_bar * np.minimum(t, onset) + np.log((t_f - onset) / (t_f - after)) / big_a
    return T0 + t * DAY, noisy(exact, seed)


def creep(seed: int, days: float = 60.0, v_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, days, 1.0 / 24.0)
    return T0 + t * DAY, noisy(v_bar * t, seed)


STEP_CYCLE_DAYS, STEP_START, STEP_END = 60.0, 20.0, 41.0
STEP_SLOW, STEP_FAST = 0.1, 3.0                            # mm/day


def step_like(seed: int, cycles: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Reservoir slope: 0.1 mm/day most of the time, 3 mm/day for three weeks each cycle."""
    t = np.arange(0.0, cycles * STEP_CYCLE_DAYS, 2.0 / 24.0)
    phase = t % STEP_CYCLE_DAYS
    v = np.where((phase >= STEP_START) & (phase < STEP_END), STEP_FAST, STEP_SLOW)
    exact = np.r_[0.0, np.cumsum(v[:-1] * np.diff(t))]
    return T0 + t * DAY, noisy(exact, seed)


STEP_V_BAR = (STEP_SLOW * (STEP_CYCLE_DAYS - STEP_END + STEP_START)
              + STEP_FAST * (STEP_END - STEP_START)) / STEP_CYCLE_DAYS   # long-term mean


@dataclass(frozen=True)
class Timeline:
    days: np.ndarray
    levels: np.ndarray
    candidates: np.ndarray          # the level the indicators ask for, before holds
    rules: list[str]
    statuses: list[str]
    alarms: list[tuple[str, ...]]

    def first(self, level: Level) -> float:
        reached = np.flatnonzero(self.levels >= level)
        return float(self.days[reached[0]]) if reached.size else float("inf")


def replay(series: dict[str, tuple[np.ndarray, np.ndarray]], params: SiteParams, *,
           start_day: float = 1.0, stop_day: float | None = None, interval_s: float = HOUR,
           step_hours: float = REPLAY_STEP_HOURS) -> Timeline:
    """Score the series as a live scorer would, step by step in event time."""
    stop = max(float(np.max(t)) for t, _ in series.values()) if stop_day is None else (
        T0 + stop_day * DAY)
    state = FusionState()
    days, levels, candidates, rules, statuses, alarms = [], [], [], [], [], []
    for now in np.arange(T0 + start_day * DAY, stop + 1.0, step_hours * HOUR):
        indicators, last_seen = [], []
        for sensor, (t, s) in sorted(series.items()):
            seen = t <= now
            last_seen.append(float(np.max(t[seen])) if seen.any() else None)
            recent = seen & (t > now - BUFFER_DAYS * DAY)
            if not recent.any():
                continue
            newest = float(np.max(t[recent]))
            kin = estimate_kinematics(t[recent], s[recent], params.kinematics,
                                      evaluate_from=newest)
            angle = assess_tangent_angle(kin, params.tangent_angle)
            forecast = forecast_from_kinematics(kin, angle, params.inverse_velocity,
                                                evaluate_from=newest)
            indicators += deformation_indicators(kin, angle, forecast, sensor_id=sensor)
        health = sensor_health(sorted(series), last_seen, interval_s, now, params.quality)
        state, fused = step(state, indicators, now, health=health, params=params.fusion)
        days.append((now - T0) / DAY)
        levels.append(int(fused.level))
        candidates.append(int(Level[fused.evidence.get("candidate", fused.level.label).upper()]))
        rules.append(fused.rule_fired)
        statuses.append(fused.status)
        alarms.append(tuple(f"{a.sensor_id}:{a.kind}" for a in fused.alarms))
    return Timeline(np.asarray(days), np.asarray(levels), np.asarray(candidates), rules,
                    statuses, alarms)


def site(v_bar: float) -> SiteParams:
    return SiteParams.model_validate({"tangent_angle": {"v_bar_mm_per_day": v_bar}})


def true_angle_day(angle_deg: float, t_f: float = 60.0, onset: float = 30.0) -> float:
    """Day at which the noise-free Voight series reaches a tangent angle (v̄ = 1)."""
    return t_f - (t_f - onset) / np.tan(np.radians(angle_deg))


def test_voight_acceleration_reaches_red_before_failure_with_one_sensor() -> None:
    timeline = replay({"gnss1": voight(seed=21)}, site(1.0), start_day=20.0)
    red = timeline.first(Level.RED)
    assert true_angle_day(80.0) < red < 60.0
    assert timeline.first(Level.ORANGE) > true_angle_day(75.0)
    assert timeline.rules[int(np.flatnonzero(timeline.levels == Level.RED)[0])] == "red_sustained"
    assert timeline.levels[-1] == Level.RED


def test_two_independent_sensors_corroborate_red_earlier() -> None:
    single = replay({"gnss1": voight(seed=22)}, site(1.0), start_day=VOIGHT_START_DAY)
    pair = replay({"gnss1": voight(seed=22), "crack1": voight(seed=23)}, site(1.0),
                  start_day=VOIGHT_START_DAY)
    assert true_angle_day(80.0) < pair.first(Level.RED) < single.first(Level.RED) < 60.0
    assert "red_corroborated" in pair.rules


def test_steady_creep_for_60_days_never_exceeds_blue() -> None:
    timeline = replay({"gnss1": creep(seed=31), "crack1": creep(seed=32)}, site(1.0),
                      step_hours=6.0)
    assert timeline.levels.max() == Level.BLUE
    assert set(timeline.statuses) == {"ok"}


def test_step_like_creep_is_yellow_during_steps_and_falls_after_the_hold() -> None:
    params = site(STEP_V_BAR)
    hold_days = params.fusion.downgrade_hold_hours / 24.0
    window_days = params.kinematics.window_hours / 24.0
    step_days = 6.0 / 24.0
    timeline = replay({"gnss1": step_like(seed=41)}, params, step_hours=24.0 * step_days)
    assert timeline.levels.max() == Level.YELLOW
    phase = timeline.days % STEP_CYCLE_DAYS
    moving = (phase >= STEP_START + window_days) & (phase < STEP_END)
    assert moving.sum() > 100
    assert np.all(timeline.levels[moving] == Level.YELLOW)
    for cycle in range(2):
        end = cycle * STEP_CYCLE_DAYS + STEP_END
        after = (timeline.days >= end) & (timeline.days < end + 10.0)
        calm = timeline.days[after & (timeline.candidates == Level.NONE)][0]
        assert calm - end <= window_days + step_days          # the step is over for the models
        held = after & (timeline.days < calm + hold_days)
        fallen = after & (timeline.days >= calm + hold_days)
        assert np.all(timeline.levels[held] == Level.YELLOW)  # no drop inside the hold
        assert np.all(timeline.levels[fallen] == Level.NONE)
        assert held.sum() >= 4 and fallen.sum() >= 20


def test_duplicates_and_reordering_change_no_level() -> None:
    t, s = voight(seed=51)
    rng = np.random.default_rng(52)
    repeat = rng.choice(t.size, 200, replace=False)
    t2, s2 = np.r_[t, t[repeat]], np.r_[s, s[repeat]]     # exact duplicates, re-sent
    order = rng.permutation(t2.size)
    clean = replay({"gnss1": (t, s)}, site(1.0), start_day=VOIGHT_START_DAY)
    messy = replay({"gnss1": (t2[order], s2[order])}, site(1.0), start_day=VOIGHT_START_DAY)
    assert np.array_equal(clean.levels, messy.levels)
    assert clean.rules == messy.rules


def test_spikes_and_gaps_raise_no_false_level_in_steady_creep() -> None:
    t, s = creep(seed=61)
    s = s.copy()
    rng = np.random.default_rng(62)
    spikes = rng.choice([-1.0, 1.0], 15) * rng.uniform(20, 80, 15)      # mm
    s[rng.choice(t.size, 15, replace=False)] += spikes
    keep = ~((t > T0 + 20 * DAY) & (t < T0 + 22.5 * DAY))            # a 2.5-day gap
    keep &= ~((t > T0 + 40 * DAY) & (t < T0 + 40.4 * DAY))           # and a 10-hour one
    timeline = replay({"gnss1": (t[keep], s[keep])}, site(1.0))
    assert timeline.levels.max() == Level.BLUE


def test_spikes_and_gaps_still_let_the_acceleration_reach_red() -> None:
    t, s = voight(seed=71)
    s = s.copy()
    late = np.flatnonzero(t > T0 + 45 * DAY)
    s[late[::97]] += 150.0
    keep = ~((t > T0 + 50 * DAY) & (t < T0 + 51 * DAY))
    timeline = replay({"gnss1": (t[keep], s[keep])}, site(1.0), start_day=VOIGHT_START_DAY)
    assert true_angle_day(80.0) < timeline.first(Level.RED) < 60.0
    assert timeline.first(Level.ORANGE) > true_angle_day(75.0)


def test_a_dead_sensor_raises_an_alarm_and_no_level() -> None:
    t, s = creep(seed=81, days=40.0)
    alive = t < T0 + 20 * DAY
    timeline = replay({"gnss1": creep(seed=82, days=40.0), "crack1": (t[alive], s[alive])},
                      site(1.0), step_hours=6.0)
    assert timeline.levels.max() == Level.BLUE
    dead = timeline.days > 20.0 + 3.0 / 24.0 + 6.0 / 24.0
    assert {a for a, d in zip(timeline.alarms, dead, strict=True) if d} == {
        ("crack1:sensor_offline",)}
    assert set(np.asarray(timeline.statuses)[dead]) == {"degraded"}
    assert not any(np.asarray(timeline.alarms, dtype=object)[~dead & (timeline.days < 20.0)])


def test_acceleration_seen_by_the_surviving_sensor_still_reaches_red() -> None:
    t, s = voight(seed=91)
    alive = t < T0 + 35 * DAY
    timeline = replay({"gnss1": voight(seed=92), "crack1": (t[alive], s[alive])}, site(1.0),
                      start_day=VOIGHT_START_DAY)
    assert "crack1:sensor_offline" in timeline.alarms[-1]
    assert true_angle_day(80.0) < timeline.first(Level.RED) < 60.0


def test_every_sensor_silent_is_no_data_not_none() -> None:
    timeline = replay({"gnss1": creep(seed=93, days=10.0), "crack1": creep(seed=94, days=10.0)},
                      site(1.0), stop_day=12.0)
    silent = timeline.days > 10.0 + 3.0 / 24.0 + REPLAY_STEP_HOURS / 24.0
    assert set(np.asarray(timeline.statuses)[silent]) == {"no_data"}
    assert set(np.asarray(timeline.rules)[silent]) == {"no_data"}
    assert np.all(timeline.levels[silent] == timeline.levels[~silent][-1])
    assert timeline.alarms[-1] == ("crack1:sensor_offline", "gnss1:sensor_offline")
