"""Rainfall against deformation, and the choice of rain source: constructed tables."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from pydantic import ValidationError

from warning_models.levels import Level
from warning_models.rainfall import GUZZETTI_2008, RainfallParameters
from warning_models.rainfall_fusion import (
    ROLE_NONE,
    ROLE_SELECTED,
    ROLE_SUPERSEDED,
    RainfallFusionParams,
    RainfallScoringConfig,
    alone_caps,
    rainfall_config_from_mapping,
    rainfall_contribution,
    select_sources,
)

N, B, Y, O, R = (int(level) for level in Level)


def test_rainfall_raises_capped_escalates_a_moving_slope_and_never_gives_red() -> None:
    params = RainfallFusionParams()
    #                      deformation, rain, cap -> contribution
    table = np.array([[-1, Y, Y, Y],     # rain alone: yellow
                      [N, R, Y, Y],      # rain alone is capped at yellow for a landslide
                      [-1, R, O, O],     # ... at orange for a debris flow
                      [B, Y, Y, Y],      # moving (blue) + yellow rain: one level up = yellow
                      [Y, Y, Y, O],      # yellow deformation + yellow rain: orange
                      [O, R, Y, O],      # orange stays orange: rain never gives red
                      [R, Y, Y, O],      # red deformation: the fused maximum keeps red
                      [Y, B, Y, B],      # blue rain does not escalate
                      [Y, -1, Y, -1]])   # no rain data: no contribution
    got = rainfall_contribution(table[:, 0], table[:, 1], table[:, 2], params)
    assert_array_equal(got, table[:, 3])
    assert got.dtype == np.int8
    fused = np.maximum(got, table[:, 0])
    assert (fused >= table[:, 0]).all()            # rainfall never lowers a level


def test_escalation_bounds_come_from_the_configuration() -> None:
    params = RainfallFusionParams(escalate_from="orange", escalate_cap="yellow")
    got = rainfall_contribution(np.array([B, B, Y]), np.array([Y, O, O]),
                                np.array([Y, Y, Y]), params)
    assert_array_equal(got, [Y, Y, Y])


def test_a_fresh_gauge_wins_and_the_grid_fills_in_when_it_is_stale_silent_or_missing() -> None:
    fresh_hours = 2.0
    #          point, grid?, level, age h, silent
    rows = [(0, False, B, 0.5, False),    # fresh gauge ...
            (0, True, O, 0.0, False),     # ... sets the grid sample of its point aside
            (1, False, Y, 3.0, False),    # stale gauge ...
            (1, True, B, 0.0, False),     # ... the grid fills in
            (2, False, Y, 0.1, True),     # silent gauge ...
            (2, True, Y, 0.0, False),     # ... the grid fills in
            (3, True, -1, 0.0, False),    # a grid sample with no window of data yet
            (4, False, N, 1.0, False),    # two fresh gauges: both count
            (4, False, Y, 2.0, False)]
    point, grid, level, age, silent = (np.array(c) for c in zip(*rows, strict=True))
    got = select_sources(point, grid, level, age, silent, 5, fresh_hours)
    assert_array_equal(got, [ROLE_SELECTED, ROLE_SUPERSEDED, ROLE_NONE, ROLE_SELECTED,
                             ROLE_NONE, ROLE_SELECTED, ROLE_NONE, ROLE_SELECTED, ROLE_SELECTED])


def test_configuration_regional_models_caps_and_bad_values() -> None:
    regional = RainfallParameters(threshold=GUZZETTI_2008)
    config = rainfall_config_from_mapping({
        "regions": {"510000": {"threshold": "guzzetti_2008"},
                    "511900": {"threshold": {"name": "bazhong", "alpha": 6.0, "beta": 0.4,
                                             "min_duration_h": 1, "max_duration_h": 72}}},
        "fusion": {"alone_cap": "blue", "hazard_alone_caps": {"debris_flow": "II"}}})
    models = config.models()
    assert config.model_index(("510000",)) == 1 and models[1] == regional
    assert config.model_index(("511900", "510000")) == 2 and models[2].threshold.alpha == 6.0
    assert config.model_index(("440000",)) == 0
    assert_array_equal(alone_caps(["landslide", "debris_flow"], config.fusion), [B, O])
    assert config.digest() != RainfallScoringConfig().digest()
    with pytest.raises(ValidationError, match="cannot give red"):
        RainfallFusionParams(hazard_alone_caps={"debris_flow": "red"})
    with pytest.raises(ValidationError, match="alone_cap"):
        RainfallFusionParams(alone_cap="red")
    with pytest.raises(ValidationError, match="unknown threshold"):
        rainfall_config_from_mapping({"default": {"threshold": "nobody_2020"}})
    with pytest.raises(TypeError, match="mapping"):
        rainfall_config_from_mapping(["caine_1980"])
