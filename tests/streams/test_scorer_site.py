"""The site model through the real scorer (``Scorer.handle`` on batches of records).

Each scenario is a constructed series (tests/streams/site_scenarios.py) fed
in event time; the timeline is the point's assessments, one per reading
(``emit="every_reading"``) unless a test checks what is emitted live.
"""

from __future__ import annotations

import numpy as np
import pytest

from streams.schemas import Assessment
from streams.scorer import Scorer
from streams.scorer_index import PointProfile
from tests.streams.site_scenarios import (
    DAY,
    HOUR,
    LEVELS,
    STEP_CYCLE_DAYS,
    STEP_END,
    STEP_START,
    STEP_V_BAR,
    T0,
    creep,
    interleave,
    readings,
    records,
    score,
    step_like,
    true_angle_day,
    voight,
)
from warning_models.levels import Level
from warning_models.site_params import site_model_from_mapping

T_F = 60.0                     # failure day of the Voight series
FORECAST_RTOL = 0.10           # of the remaining time, once α ≥ 85° (the tolerance)


def configured(**site: dict) -> Scorer:
    config = site_model_from_mapping({"site": {"default": site}} if site else {})
    return Scorer({"P": "landslide"}, config, emit="every_reading")


@pytest.fixture(scope="module")
def voight_timeline():
    t, s = voight(seed=21)
    return score(readings("P", "G1", "gnss", t, s))


def test_voight_acceleration_is_red_before_failure(voight_timeline) -> None:
    tl = voight_timeline
    red = tl.first(Level.RED)
    assert true_angle_day(80.0) < red < T_F - 1.0          # more than a day before failure
    assert tl.first(Level.ORANGE) > true_angle_day(75.0)
    assert tl.first(Level.YELLOW) > 30.0                    # nothing while the creep is uniform
    assert tl.levels[-1] == Level.RED
    assert tl.rules[int(np.flatnonzero(tl.levels == Level.RED)[0])] == "red_sustained"
    assert np.all(np.diff(tl.levels[tl.days > 30.0]) >= 0)   # it only rises


def test_voight_failure_time_within_10_percent_of_the_remaining_time(voight_timeline) -> None:
    tl = voight_timeline
    t_f = T0 + T_F * DAY
    critical = [i for i in range(len(tl.assessments))
                if (ind := tl.indicator(i, "tangent_angle")) is not None and ind.valid
                and ind.value >= 85.0]
    assert len(critical) > 40
    for i in critical:
        a = tl.assessments[i]
        assert a.predicted_failure_at is not None, tl.days[i]
        remaining = t_f - a.observed_at.timestamp()
        error = abs(a.predicted_failure_at.timestamp() - t_f)
        assert error <= FORECAST_RTOL * remaining, (tl.days[i], error / remaining)
        assert a.predicted_failure_lower <= a.predicted_failure_at <= a.predicted_failure_upper
    gated = [i for i in range(len(tl.assessments)) if tl.indicator(i, "inverse_velocity")]
    angles = [tl.indicator(i, "tangent_angle").numbers["tangent_angle_lower_deg"] for i in gated]
    assert min(angles) >= 80.0                      # no forecast before the angle passes 80°


def test_the_evidence_carries_the_numbers_rule_and_model(voight_timeline) -> None:
    a = voight_timeline.assessments[-1]
    assert (a.level, a.status, a.rule) == ("red", "ok", "red_sustained")
    assert a.model == "deformation-site" and a.model_version.startswith("site-1+")
    names = [e.name for e in a.evidence]
    assert names == ["velocity", "tangent_angle", "inverse_velocity"]
    velocity, angle, inverse = a.evidence
    assert velocity.unit == "mm/d" and velocity.thresholds == {
        "blue": 2.0, "yellow": 5.0, "orange": 20.0, "red": 50.0}
    assert velocity.value > 50 and velocity.numbers["standard_error"] > 0
    assert angle.value > 85 and 0.9 < angle.numbers["v_bar_mm_per_day"] < 1.1
    assert angle.numbers["acceleration_mm_per_day2"] > 0 and "first_days" in angle.rule
    assert inverse.level == "red" and inverse.value < 48 and inverse.unit == "h"
    assert inverse.predicted_failure_at == a.predicted_failure_at
    again = Assessment.model_validate_json(a.model_dump_json())
    assert again == a


def test_steady_creep_for_60_days_never_exceeds_blue() -> None:
    t, s = creep(seed=31)
    t2, s2 = creep(seed=32)
    tl = score(interleave((t, readings("P", "G1", "gnss", t, s)),
                          (t2, readings("P", "C1", "crack", t2, s2))))
    assert tl.levels.max() == Level.BLUE
    assert set(tl.statuses) == {"ok"}
    after_baseline = tl.days > 30.5
    assert np.all(tl.levels[after_baseline] == Level.BLUE)     # uniform creep: steady attention


@pytest.mark.parametrize("seed", [1, 2])
def test_noisy_gnss_on_a_stable_or_creeping_slope_raises_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    days = np.arange(0.0, 60.0, 1.0 / 24.0)
    noise = rng.normal(0.0, 2.0, days.size)                     # 2 mm per hourly solution
    stable = score(readings("P", "G1", "gnss", T0 + days * DAY, noise), emit="changes")
    moving = score(readings("P", "G1", "gnss", T0 + days * DAY, 0.5 * days + noise),
                   emit="changes")
    assert [LEVELS[lv] for lv in stable.levels] == ["none"]      # asserted once, never raised
    assert moving.levels.max() <= Level.BLUE


def test_step_like_creep_is_yellow_during_steps_and_falls_after_the_hold() -> None:
    t, s = step_like(seed=41)
    scorer = configured(tangent_angle={"v_bar_mm_per_day": STEP_V_BAR})
    tl = score(readings("P", "G1", "gnss", t, s), scorer=scorer)
    hold = 1.0                                                  # downgrade_hold_hours / 24
    assert tl.levels.max() == Level.YELLOW
    phase = tl.days % STEP_CYCLE_DAYS
    moving = (phase >= STEP_START + 0.5) & (phase < STEP_END)
    assert moving.sum() > 400 and np.all(tl.levels[moving] == Level.YELLOW)
    for cycle in range(2):
        end = cycle * STEP_CYCLE_DAYS + STEP_END
        after = (tl.days >= end) & (tl.days < end + 10.0)
        assert np.all(tl.levels[after & (tl.days < end + hold)] == Level.YELLOW)  # held
        assert np.all(tl.levels[after & (tl.days > end + hold + 0.5)] == Level.NONE)
        quiet = (tl.days > end + 2.0) & (tl.days < end + STEP_CYCLE_DAYS - 21.0)
        assert np.all(tl.levels[quiet] == Level.NONE)


def test_step_like_creep_without_a_configured_v_bar_stays_below_orange() -> None:
    t, s = step_like(seed=42)
    tl = score(readings("P", "G1", "gnss", t, s))
    assert tl.levels.max() == Level.YELLOW           # v̄ from the first 30 days, steps and all
    assert tl.levels[(tl.days % STEP_CYCLE_DAYS) < STEP_START - 1.0].max() == Level.NONE


def test_spikes_and_gaps_change_no_level_of_steady_creep() -> None:
    t, s = creep(seed=61)
    s = s.copy()
    rng = np.random.default_rng(62)
    spiked = rng.choice(np.arange(30, t.size), 15, replace=False)
    s[spiked] += rng.choice([-1.0, 1.0], 15) * rng.uniform(20, 80, 15)          # mm
    keep = ~((t > T0 + 20 * DAY) & (t < T0 + 22.5 * DAY))                    # a 2.5-day gap
    keep &= ~((t > T0 + 40 * DAY) & (t < T0 + 40.4 * DAY))                   # and a 10-hour one
    tl = score(readings("P", "G1", "gnss", t[keep], s[keep]))
    assert tl.levels.max() <= Level.BLUE
    assert tl.assessments[-1].evidence[0].numbers["spikes_rejected"] == 15
    silent = [i for i, st in enumerate(tl.statuses) if st == "no_data"]
    gaps = [(20.0, 22.5), (40.0, 40.4)]
    assert {next(k for k, (a, b) in enumerate(gaps) if a < tl.days[i] < b) for i in silent} == {
        0, 1}                                                 # each gap, judged as such
    assert all(tl.levels[i] == tl.levels[i - 1] for i in silent)   # no data is not "no hazard"
    offline = tl.indicator(silent[0], "sensor_offline")
    assert offline.status == "offline" and offline.value >= 3.0     # hours of silence


def test_spikes_and_a_gap_still_let_the_acceleration_reach_red() -> None:
    t, s = voight(seed=71)
    s = s.copy()
    late = np.flatnonzero(t > T0 + 45 * DAY)
    s[late[::97]] += 150.0
    keep = ~((t > T0 + 50 * DAY) & (t < T0 + 51 * DAY))
    tl = score(readings("P", "G1", "gnss", t[keep], s[keep]))
    assert true_angle_day(80.0) < tl.first(Level.RED) < T_F
    assert tl.first(Level.ORANGE) > true_angle_day(75.0)


def test_duplicates_and_reordering_within_batches_change_no_level() -> None:
    t, s = voight(seed=51)
    values = readings("P", "G1", "gnss", t, s)
    clean = score(values, batch=48)
    rng = np.random.default_rng(52)
    messy = []
    for lo in range(0, len(values), 48):
        chunk = values[lo:lo + 48]
        chunk = chunk + [chunk[i] for i in rng.choice(len(chunk), 8)]      # re-sent in the batch
        if lo:
            chunk += values[lo - 3:lo]                    # and the previous batch's last ones
        messy.append([chunk[i] for i in rng.permutation(len(chunk))])
    scorer = Scorer({"P": "landslide"}, emit="every_reading")
    out = []
    for offset, chunk in enumerate(messy):
        out.extend(scorer.handle(records(chunk, start_offset=offset * 100)).assessments)
    assert [(a.observed_at, a.level, a.rule) for a in out] == [
        (a.observed_at, a.level, a.rule) for a in clean.assessments]


@pytest.mark.parametrize("batch", [1, 13, 500])
def test_batch_size_does_not_change_the_level_timeline(batch: int) -> None:
    t, s = voight(seed=5, t_f=20.0, onset=8.0, end_before=0.5)
    t2, s2 = creep(seed=6, days=19.5)
    t2 = t2 + 600.0     # readings of one point at one instant are judged in key order within
    values = interleave((t, readings("P", "G1", "gnss", t, s)),      # a batch, in arrival
                        (t2, readings("P", "C1", "crack", t2, s2)))  # order across batches

    def live() -> Scorer:
        scorer = configured(tangent_angle={"v_bar_mm_per_day": 1.0})
        scorer.emit = "changes"
        return scorer

    reference = score(values, batch=64, scorer=live())
    other = score(values, batch=batch, scorer=live())
    assert [a.model_dump() for a in other.assessments] == [
        a.model_dump() for a in reference.assessments]
    assert reference.levels.max() >= Level.ORANGE


def test_a_dead_sensor_raises_an_alarm_of_its_own_and_no_level() -> None:
    t, s = creep(seed=81, days=40.0)
    alive = t < T0 + 20 * DAY
    t2, s2 = creep(seed=82, days=40.0)
    tl = score(interleave((t2, readings("P", "G1", "gnss", t2, s2)),
                          (t[alive], readings("P", "C1", "crack", t[alive], s[alive]))),
               emit="changes")
    assert tl.levels.max() <= Level.BLUE
    dead = tl.days > 20.0
    assert set(np.asarray(tl.statuses)[dead]) == {"degraded"}
    assert set(np.asarray(tl.statuses)[~dead]) == {"ok"}
    alarm = next(i for i in range(len(tl.days)) if dead[i])
    assert 20.0 + 3.0 / 24.0 - 0.05 < tl.days[alarm] < 20.0 + 4.0 / 24.0  # 3 missed intervals
    offline = tl.indicator(alarm, "sensor_offline", "C1")
    assert offline is not None and offline.level == "none" and offline.valid is False
    assert tl.assessments[alarm].observed_at.timestamp() < T0 + 20.5 * DAY   # in event time


def test_a_point_whose_sensors_all_fell_silent_is_no_data_not_none() -> None:
    t, s = creep(seed=91, days=12.0)
    other_t = T0 + np.arange(0.0, 20.0, 1.0 / 24.0) * DAY        # another point keeps talking
    values = interleave((t, readings("P", "G1", "gnss", t, 3.0 * (s + (t - T0) / DAY))),
                        (other_t, readings("Q", "G1", "gnss", other_t, np.zeros(other_t.size))))
    scorer = Scorer({"P": "landslide", "Q": "landslide"})
    tl = score(values, scorer=scorer, emit="changes")
    last = tl.assessments[-1]
    assert last.status == "no_data" and last.level == LEVELS[tl.levels[-2]] != "none"
    assert last.rule == "no_data"
    assert last.observed_at.timestamp() == pytest.approx(T0 + 12.0 * DAY + 3 * HOUR, abs=HOUR)
    assert last.evidence[0].name == "sensor_offline"


def test_absolute_thresholds_per_kind_and_hazard_type() -> None:
    config = site_model_from_mapping({"thresholds": {"hazard_types": {"debris_flow": {
        "mud_level": {"blue": 100, "yellow": 200, "orange": 400, "red": 800}}}}})
    scorer = Scorer({"D": "debris_flow", "L": "landslide"}, config, emit="every_reading")
    hours = np.arange(0.0, 6.0, 0.25)
    level = np.where(hours < 3.0, 50.0, 450.0)                 # a surge to 450 mm
    values = (readings("D", "M1", "mud_level", T0 + hours * HOUR, level)
              + readings("L", "M1", "mud_level", T0 + hours * HOUR, level))
    out = scorer.handle(records(values)).assessments
    last = {a.point_id: a for a in out}
    mud = {p: next(e for e in a.evidence if e.name == "mud_level") for p, a in last.items()}
    assert mud["D"].level == "orange" and mud["D"].thresholds["orange"] == 400.0   # override
    assert mud["L"].level == "none" and mud["L"].thresholds["blue"] == 500.0       # default


@pytest.mark.parametrize(("kind", "unit", "rate", "name", "level"), [
    ("crack", "mm", 12.0, "velocity", "orange"),           # crack opening rate, mm/day
    ("tilt", "degrees", 0.2, "tilt_rate", "yellow"),      # degrees/day
    ("pore_pressure", "kPa", 25.0, "pore_pressure_rise", "orange"),   # kPa per day (24 h window)
])
def test_rate_kinds_are_judged_against_their_own_thresholds(kind: str, unit: str, rate: float,
                                                            name: str, level: str) -> None:
    days = np.arange(0.0, 3.0, 1.0 / 24.0)
    values = readings("P", "S1", kind, T0 + days * DAY, 10.0 + rate * days, unit=unit)
    tl = score(values)
    indicator = tl.indicator(len(tl.assessments) - 1, name)
    assert indicator.level == level and indicator.valid
    assert indicator.value == pytest.approx(rate, rel=1e-6)
    angle = tl.indicator(len(tl.assessments) - 1, "tangent_angle")
    assert (angle is not None) == (kind == "crack")      # displacement kinds only
    assert angle is None or angle.valid is False          # no v̄: none configured, no baseline


def test_per_point_and_regional_configuration_is_resolved_when_the_registry_loads() -> None:
    config = site_model_from_mapping({"site": {
        "regions": {"510000": {"tangent_angle": {"v_bar_mm_per_day": 0.5}}},
        "points": {"P2": {"tangent_angle": {"v_bar_mm_per_day": 4.0}}}}})
    known = {"P1": PointProfile("landslide", ("510100", "510000")),
             "P2": PointProfile("landslide", ("510100", "510000")), "P3": "landslide"}
    scorer = Scorer(known, config, emit="every_reading")
    days = np.arange(0.0, 2.0, 1.0 / 24.0)
    values = [v for p in ("P1", "P2", "P3")
              for v in readings(p, "G1", "gnss", T0 + days * DAY, 1.0 * days)]
    out = {a.point_id: a for a in scorer.handle(records(values)).assessments}
    angle = {p: next(e for e in a.evidence if e.name == "tangent_angle") for p, a in out.items()}
    assert angle["P1"].numbers["v_bar_mm_per_day"] == 0.5 and angle["P1"].value > 60
    assert angle["P2"].numbers["v_bar_mm_per_day"] == 4.0 and angle["P2"].value < 20
    assert angle["P3"].valid is False                   # no v̄ yet: no baseline, none configured
