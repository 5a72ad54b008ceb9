"""Slope, susceptibility and the susceptibility x rainfall nowcast on constructed grids."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import rasterio
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError
from scipy import ndimage

from tests.conftest import SHARED_DATA
from warning_models.levels import Level
from warning_models.nowcast import (
    DEFAULT_MATRIX,
    LEVEL_NODATA,
    NowcastParams,
    antecedent_rainfall,
    classify,
    level_grid,
    nowcast,
    rainfall_index,
)
from warning_models.susceptibility import (
    FactorLayer,
    SusceptibilityParams,
    geographic_cell_size_m,
    slope_degrees,
    susceptibility_index,
)

SLOPE_TOL_DEG = 1e-6
GEO_SLOPE_TOL_DEG = 1e-4     # geographic grid: cell sizes change slightly from row to row
CELL_TOL_M = 0.01
TEN_PERCENT_DEG = math.degrees(math.atan(0.1))


# ------------------------------------------------------------------ slope


def test_a_ten_percent_plane_has_atan_point_one_everywhere_including_edges() -> None:
    rows, cols = np.mgrid[0:40, 0:50].astype(float)
    east = 0.1 * cols * 30.0                           # rises 10 % eastwards, 30 m cells
    assert_allclose(slope_degrees(east, 30.0, 30.0), TEN_PERCENT_DEG, atol=SLOPE_TOL_DEG)
    diagonal = 0.06 * cols * 25.0 + 0.08 * rows * 20.0  # grade 0.1 towards south-east
    assert_allclose(slope_degrees(diagonal, 25.0, 20.0), TEN_PERCENT_DEG, atol=SLOPE_TOL_DEG)


def test_flat_ground_has_zero_slope_and_a_45_degree_plane_45() -> None:
    assert_allclose(slope_degrees(np.full((5, 5), 800.0), 10.0, 10.0), 0.0, atol=SLOPE_TOL_DEG)
    rows = np.mgrid[0:5, 0:5][0].astype(float)
    assert_allclose(slope_degrees(rows * 10.0, 10.0, 10.0), 45.0, atol=SLOPE_TOL_DEG)


def test_geographic_cell_sizes_match_reference_lengths_of_a_degree() -> None:
    dx, dy = geographic_cell_size_m(np.array([0.0, 45.0]), 1.0, 1.0)
    geod = pyproj.Geod(ellps="WGS84")
    equator = geod.inv(0.0, 0.0, 1.0, 0.0)[2]           # the equator is a geodesic
    meridian_45 = geod.inv(0.0, 44.5, 0.0, 45.5)[2]     # one degree of meridian around 45 N
    assert_allclose(dx, [equator, 78_846.835], atol=CELL_TOL_M)   # 45 N: tabulated 78.847 km
    assert_allclose(dy[1], meridian_45, atol=CELL_TOL_M)


def test_a_ten_percent_plane_on_a_geographic_grid() -> None:
    step = 1 / 3600                                     # one arc-second
    lat = 45.0 - step * (np.arange(60) + 0.5)           # rows north to south
    dx, dy = geographic_cell_size_m(lat, step, step)
    # rises 10 % southwards: height grows with the distance from the north edge
    south = np.concatenate([[0.0], np.cumsum(0.5 * (dy[1:] + dy[:-1]))])
    dem = np.repeat((0.1 * south)[:, None], 40, axis=1)
    assert_allclose(slope_degrees(dem, dx, dy), TEN_PERCENT_DEG, atol=GEO_SLOPE_TOL_DEG)
    # the same DEM taken as if cells were square degrees-as-metres is badly wrong
    assert abs(slope_degrees(dem, step, step)[30, 20] - TEN_PERCENT_DEG) > 1.0


def test_no_data_in_a_window_gives_no_slope_and_the_input_stays_untouched() -> None:
    dem = np.arange(49, dtype=float).reshape(7, 7)
    dem[3, 3] = np.nan
    before = dem.copy()
    slope = slope_degrees(dem, 10.0, 10.0)
    assert np.isnan(slope[2:5, 2:5]).all()
    assert np.isfinite(slope).sum() == 49 - 9
    assert_array_equal(dem, before)


def test_kirishima_dem_slopes_are_plausible() -> None:
    with rasterio.open(SHARED_DATA / "insar" / "kirishima" / "height.tif") as src:
        dem = src.read(1).astype(float)
        t = src.transform
    lat = t.f + t.e * (np.arange(dem.shape[0]) + 0.5)
    dx, dy = geographic_cell_size_m(lat, t.a, t.e)
    slope = slope_degrees(dem, dx, dy)
    # the DEM has a few holes: no slope exactly where a 3x3 window touches one
    touches_hole = ndimage.maximum_filter(np.isnan(dem), size=3, mode="nearest")
    assert touches_hole.sum() > 0
    assert_array_equal(np.isnan(slope), touches_hole)
    valid = slope[~touches_hole]
    assert 0.0 <= valid.min() and valid.max() < 70.0    # volcanic cones, no cliffs at 20 m
    assert 5.0 < np.median(valid) < 30.0


def test_bad_cell_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        slope_degrees(np.zeros((3, 3)), 0.0, 10.0)
    with pytest.raises(ValueError, match="one value per row"):
        slope_degrees(np.zeros((3, 3)), np.ones(2), 10.0)


# ------------------------------------------------------------ susceptibility


def test_susceptibility_weights_and_normalises_its_layers() -> None:
    params = SusceptibilityParams(
        slope=FactorLayer(weight=2.0, low=10.0, high=30.0),
        factors={"fault_distance_m": FactorLayer(weight=1.0, low=1000.0, high=0.0)})
    slope = np.array([[5.0, 20.0, 40.0, np.nan]])
    fault = np.array([[2000.0, 500.0, 0.0, 0.0]])
    index = susceptibility_index(slope, {"fault_distance_m": fault}, params)
    assert_allclose(index[0, :3], [0.0, (2 * 0.5 + 0.5) / 3, 1.0], rtol=1e-12)
    assert np.isnan(index[0, 3])
    assert params.required_inputs == ("slope_deg", "fault_distance_m")


def test_a_missing_factor_layer_is_an_error_not_a_zero() -> None:
    params = SusceptibilityParams(factors={"lithology": FactorLayer(low=0, high=5)})
    with pytest.raises(KeyError, match="lithology"):
        susceptibility_index(np.zeros((2, 2)), {}, params)


@pytest.mark.parametrize("bad", [{"low": 1, "high": 1}, {"weight": 0, "low": 0, "high": 1},
                                 {"low": float("nan"), "high": 1}])
def test_bad_factor_layers_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        FactorLayer(**bad)


# ------------------------------------------------------------------- nowcast


def test_the_default_matrix_over_all_classes() -> None:
    # one cell per (susceptibility class, rainfall class) pair
    susc = np.array([0.1, 0.3, 0.5, 0.7, 0.9])[:, None] * np.ones((1, 4))
    ratio = np.array([0.25, 0.75, 1.25, 2.0])[None, :] * np.ones((5, 1))
    result = nowcast(susc, ratio * 100.0, np.full(susc.shape, 100.0))
    assert_array_equal(result.levels, np.asarray(DEFAULT_MATRIX, dtype=np.int8))
    assert result.evidence()["cells_by_level"]["red"] == 1


def test_below_the_percentile_nothing_above_blue_and_class_bounds_are_inclusive() -> None:
    susc = np.full((1, 3), 0.95)
    rain = np.array([[99.9, 100.0, 150.0]])
    result = nowcast(susc, rain, np.full((1, 3), 100.0))
    assert result.levels.tolist() == [[Level.BLUE, Level.ORANGE, Level.RED]]


def test_no_data_stays_no_data_and_is_not_level_none() -> None:
    susc = np.array([[np.nan, 0.9, 0.9, 0.9, 0.05]])
    rain = np.array([[300.0, np.nan, 300.0, 300.0, 300.0]])
    clim = np.array([[100.0, 100.0, np.nan, 100.0, 100.0]])
    before = (susc.copy(), rain.copy(), clim.copy())
    result = nowcast(susc, rain, clim)
    assert result.levels.tolist() == [[LEVEL_NODATA, LEVEL_NODATA, LEVEL_NODATA,
                                       Level.RED, Level.NONE]]
    for array, copy in zip((susc, rain, clim), before, strict=True):
        assert_array_equal(array, copy)


def test_dry_climatology_is_floored() -> None:
    index = rainfall_index(np.array([5.0, 0.0]), np.array([0.0, 0.0]), min_percentile_mm=2.0)
    assert_allclose(index, [2.5, 0.0])


def test_a_custom_matrix_is_applied() -> None:
    params = NowcastParams(susceptibility_bounds=(0.5,), rainfall_bounds=(1.0,),
                           matrix=((0, 1), (2, 4)))
    result = nowcast(np.array([[0.2, 0.2, 0.8, 0.8]]), np.array([[10.0, 200.0, 10.0, 200.0]]),
                     np.full((1, 4), 100.0), params)
    assert result.levels.tolist() == [[0, 1, 2, 4]]


def test_level_grid_and_classify() -> None:
    assert classify(np.array([np.nan, 0.1, 0.2, 0.99]), (0.2, 0.5)).tolist() == [-1, 0, 1, 2]
    levels = level_grid(np.array([0, 4, -1]), np.array([3, 3, 0]))
    assert levels.tolist() == [0, 4, LEVEL_NODATA]


def test_antecedent_rainfall_sums_the_last_days_and_keeps_gaps_missing() -> None:
    daily = np.ones((10, 2, 2))
    daily[0] = 100.0              # older than the window
    daily[-1, 0, 0] = np.nan
    total = antecedent_rainfall(daily, days=7)
    assert np.isnan(total[0, 0])
    assert total[1, 1] == 7.0
    with pytest.raises(ValueError):
        antecedent_rainfall(daily, days=11)


def test_a_susceptibility_grid_on_another_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="0..1"):
        nowcast(np.array([[3.0]]), np.array([[1.0]]), np.array([[1.0]]))


@pytest.mark.parametrize("bad", [
    {"matrix": ((0, 0), (0, 0))},                                   # wrong shape
    {"matrix": tuple(tuple(min(v + 1, 5) for v in row) for row in DEFAULT_MATRIX)},  # level 5
    {"matrix": ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 2), (0, 1, 2, 3), (0, 1, 3, 2))},  # falls
    {"rainfall_bounds": (1.0, 0.5, 1.5)},
    {"susceptibility_bounds": (0.2, 0.4, 0.6, 1.2)},
    {"min_percentile_mm": 0},
])
def test_bad_nowcast_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        NowcastParams(**bad)
