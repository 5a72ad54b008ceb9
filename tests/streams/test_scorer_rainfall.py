"""Rainfall in the scorer: gauges and the rainfall grid's derived readings scored with
intensity-duration thresholds and antecedent rainfall, fused with deformation per point.

Reference numbers are computed by hand from Caine (1980), I = 14.82 D^-0.39 mm/h.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pydantic import ValidationError

from geowarn.services import rainfall_scoring_config
from geowarn.settings import Settings
from streams.scorer import Scorer
from tests.streams.site_scenarios import HOUR, LEVELS, T0, interleave, readings, records, score
from warning_models.rainfall import LevelBounds, RainfallParameters
from warning_models.rainfall_fusion import RainfallScoringConfig

GRID = "grid:rainfall_observed"
RATIO_RTOL = 1e-9        # the scorer's ratio is the model's formula on exact sums
CAINE_3H = 14.82 * 3.0 ** -0.39      # 9.6559 mm/h
CAINE_6H = 14.82 * 6.0 ** -0.39      # 7.3683 mm/h


def rain(point: str, sensor: str, hours: np.ndarray, mm_per_h: np.ndarray) -> list[bytes]:
    return readings(point, sensor, "rain_gauge", T0 + HOUR * hours, mm_per_h, unit="mm/h")


def rainfall_indicator(assessment, sensor: str):
    return next(e for e in assessment.evidence
                if e.name == "rainfall_intensity_duration" and e.sensor_id == sensor)


def test_gridded_rain_reaches_yellow_at_three_hours_with_its_evidence() -> None:
    # 10 mm/h for 6 h: 1 h gives 10 / 14.82 = 0.675 (none); 3 h gives 10 / 9.656 = 1.036
    # (yellow, >= 1.0); 6 h gives 10 / 7.368 = 1.357 (still yellow, < 1.5).
    hours = np.arange(1.0, 7.0)
    timeline = score(rain("P", GRID, hours, np.full(6, 10.0)))
    assert [LEVELS[level] for level in timeline.levels] == ["none"] * 2 + ["yellow"] * 4
    third = rainfall_indicator(timeline.assessments[2], GRID)
    assert third.level == "yellow" and third.valid
    assert_allclose(third.value, 10.0 / CAINE_3H, rtol=RATIO_RTOL)
    assert third.numbers["duration_h"] == 3.0
    assert third.numbers["accumulation_3h_mm"] == 30.0
    assert third.numbers["grid_sample"] == 1.0 and third.numbers["selected"] == 1.0
    assert "accumulation_6h_mm" not in third.numbers          # 6 h not covered yet: no data
    last = rainfall_indicator(timeline.assessments[-1], GRID)
    assert_allclose(last.value, 10.0 / CAINE_6H, rtol=RATIO_RTOL)
    assert last.numbers["accumulation_6h_mm"] == 60.0
    assert "accumulation_72h_mm" not in last.numbers


def test_a_fresh_gauge_at_the_point_wins_over_the_grid_and_the_grid_fills_in_when_it_is_stale(
        ) -> None:
    # Heavy rain in the grid cell (20 mm/h: 1.35 at 1 h, yellow), light rain at the gauge.
    grid_hours = np.arange(1.0, 9.0)
    gauge_hours = np.arange(0.5, 3.0, 0.5)        # reports every 30 min, then stops at 2.5 h
    values = interleave((T0 + HOUR * gauge_hours, rain("P", "RG1", gauge_hours,
                                                      np.full(gauge_hours.size, 1.0))),
                        (T0 + HOUR * grid_hours, rain("P", GRID, grid_hours,
                                                     np.full(grid_hours.size, 20.0))))
    timeline = score(values, batch=4)
    at = {round((a.observed_at.timestamp() - T0) / HOUR, 2): a for a in timeline.assessments}
    assert at[2.0].level == "none"                 # the fresh gauge's light rain counts
    grid = rainfall_indicator(at[2.0], GRID)
    assert grid.numbers["selected"] == 0.0 and not grid.valid
    assert "superseded by gauge" in grid.rule
    assert rainfall_indicator(at[2.0], "RG1").numbers["selected"] == 1.0
    # the gauge's newest reading (2.5 h) is more than 2 h old at 5 h: the grid takes over
    assert at[5.0].level == "yellow"
    assert rainfall_indicator(at[5.0], GRID).numbers["selected"] == 1.0


def test_rain_raises_a_moving_slope_one_level() -> None:
    # GNSS creeping at 8 mm/d (yellow by the absolute threshold, 5..20 mm/d) for two days;
    # rain of 10 mm/h over its last 6 h is yellow: the slope goes to orange.
    gnss_hours = np.arange(0.0, 48.0, 0.5)
    displacement = 8.0 / 24.0 * gnss_hours
    rain_hours = np.arange(43.0, 49.0)
    dry = score(readings("P", "G1", "gnss", T0 + HOUR * gnss_hours, displacement))
    wet = score(interleave((T0 + HOUR * gnss_hours, readings("P", "G1", "gnss",
                                                              T0 + HOUR * gnss_hours,
                                                              displacement)),
                           (T0 + HOUR * rain_hours, rain("P", GRID, rain_hours,
                                                        np.full(6, 10.0)))))
    assert LEVELS[dry.levels[-1]] == "yellow"
    assert LEVELS[wet.levels[-1]] == "orange"
    indicator = rainfall_indicator(wet.assessments[-1], GRID)
    assert indicator.level == "yellow" and indicator.numbers["contribution_level"] == 3.0
    assert wet.assessments[-1].rule == "max_indicator"


def test_effective_antecedent_rainfall_grades_the_point_with_regional_bounds() -> None:
    # 2 mm in one hour every day for 15 days: far below the ID threshold (2 / 14.82 = 0.13),
    # but P_e = 2 * (1 - 0.8^15) / (1 - 0.8) = 9.648 mm on day 14, above blue (9 mm).
    config = RainfallScoringConfig(regions={"510000": RainfallParameters(
        effective_rainfall_mm=LevelBounds(blue=9.0, yellow=50.0, orange=100.0, red=200.0))})
    hours = 24.0 * np.arange(15) + 12.0
    scorer = Scorer({"P": ("landslide", ("510000",)), "Q": "landslide"}, rainfall=config,
                    emit="every_reading")
    values = interleave((T0 + HOUR * hours, rain("P", "RG1", hours, np.full(15, 2.0))),
                        (T0 + HOUR * hours, rain("Q", "RG1", hours, np.full(15, 2.0))))
    out = scorer.handle(records(values)).assessments
    last = {a.point_id: a for a in out}
    p = rainfall_indicator(last["P"], "RG1")
    assert_allclose(p.numbers["effective_rainfall_mm"], 2.0 * (1 - 0.8 ** 15) / 0.2, rtol=1e-12)
    assert last["P"].level == "blue" and p.numbers["level_effective_rainfall"] == 1.0
    assert last["Q"].level == "none"           # the national default has no P_e bounds
    earlier = [a for a in out if a.point_id == "P"][-2]
    assert "effective_rainfall_mm" not in rainfall_indicator(earlier, "RG1").numbers


def test_rain_state_survives_a_checkpoint() -> None:
    hours = np.arange(1.0, 4.0)
    first = Scorer({"P": "landslide"})
    first.handle(records(rain("P", GRID, hours[:2], np.full(2, 10.0))))
    restored = Scorer({"P": "landslide"})
    restored.restore(0, first.snapshot(0))
    out = restored.handle(records(rain("P", GRID, hours[2:], np.full(1, 10.0)), start_offset=2))
    indicator = rainfall_indicator(out.assessments[-1], GRID)
    assert out.assessments[-1].level == "yellow"
    assert indicator.numbers["accumulation_3h_mm"] == 30.0


def test_the_rainfall_file_of_the_settings_is_validated_when_loaded(tmp_path) -> None:
    good = tmp_path / "rain.yaml"
    good.write_text("regions: {'510000': {threshold: guzzetti_2008}}\n"
                    "fusion: {alone_cap: blue}\n")
    config = rainfall_scoring_config(Settings(rainfall_thresholds_file=good))
    assert config.regions["510000"].threshold.name == "guzzetti_2008"
    assert config.fusion.alone_cap == 1
    assert rainfall_scoring_config(Settings()) == RainfallScoringConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("fusion: {escalate_cap: red}\n")
    with pytest.raises(ValidationError, match="escalate_cap"):
        rainfall_scoring_config(Settings(rainfall_thresholds_file=bad))


def test_grid_readings_stand_for_the_interval_of_the_rainfall_rasters() -> None:
    config = rainfall_scoring_config(Settings(rainfall_interval_hours=3.0))
    assert config.fusion.grid_interval_hours == 3.0
