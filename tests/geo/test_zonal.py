"""County summaries of a constructed level grid whose shares are known from the polygons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from numpy.testing import assert_allclose

from geo.boundaries import Boundaries
from geo.insar_areas import equal_area_crs
from geo.zonal import SHARE_COLUMNS, county_summaries, point_levels
from warning_models.levels import Level
from warning_models.nowcast import LEVEL_NODATA

SHARE_TOL = 1e-5      # exact cell coverage vs the polygons' own area on an equal-area projection
AREA_RTOL = 1e-4      # cell areas on the ellipsoid vs polygon areas (county edges not densified)
WENCHUAN, DUJIANGYAN = "513221", "510181"
STEP = 0.005          # degrees, about 500 m
WEST, NORTH = 102.85, 31.72
ROWS, COLS = 196, 188
SPLIT_ROW = 98        # red north of this row, blue south of it
NODATA_COLS = 10      # the westernmost columns have no data


@pytest.fixture(scope="module")
def grid() -> dict:
    levels = np.full((ROWS, COLS), Level.BLUE, dtype=np.int8)
    levels[:SPLIT_ROW] = Level.RED
    levels[:, :NODATA_COLS] = LEVEL_NODATA
    transform = Affine(STEP, 0.0, WEST, 0.0, -STEP, NORTH)
    split_lat = NORTH - SPLIT_ROW * STEP
    south = NORTH - ROWS * STEP
    east = WEST + COLS * STEP
    data_west = WEST + NODATA_COLS * STEP
    # straight lines in degrees are curves on the equal-area projection: densify the boxes
    def box(*bounds: float) -> shapely.Geometry:
        return shapely.segmentize(shapely.box(*bounds), STEP / 10)

    return {"levels": levels, "transform": transform,
            "north": box(data_west, split_lat, east, NORTH),
            "data": box(data_west, south, east, NORTH),
            "south": box(data_west, south, east, split_lat)}


def _equal_area(geoms: list, grid: dict) -> np.ndarray:
    import geopandas as gpd
    crs = equal_area_crs(grid["transform"], "EPSG:4326", grid["levels"].shape)
    return gpd.GeoSeries(geoms, crs=4326).to_crs(crs).area.to_numpy()


def test_the_two_counties_lie_inside_the_grid(boundaries: Boundaries, grid: dict) -> None:
    counties = boundaries.counties.set_index("adcode").loc[[WENCHUAN, DUJIANGYAN]]
    extent = shapely.box(WEST, NORTH - ROWS * STEP, WEST + COLS * STEP, NORTH)
    assert counties.geometry.within(extent).all()


def test_shares_and_coverage_equal_the_polygon_overlaps(boundaries: Boundaries,
                                                        grid: dict) -> None:
    out = county_summaries(grid["levels"], grid["transform"], "EPSG:4326", boundaries)
    assert {WENCHUAN, DUJIANGYAN} <= set(out.adcode)
    geoms = boundaries.counties.set_index("adcode").geometry.loc[out.adcode].to_numpy()
    data = _equal_area(list(shapely.intersection(geoms, grid["data"])), grid)
    north = _equal_area(list(shapely.intersection(geoms, grid["north"])), grid)
    whole = _equal_area(list(geoms), grid)
    has_data = data > 0
    assert_allclose(out.share_red[has_data], (north / data)[has_data], atol=SHARE_TOL)
    assert_allclose(out.share_blue[has_data], (1 - north / data)[has_data], atol=SHARE_TOL)
    assert_allclose(out[list(SHARE_COLUMNS)].sum(axis=1)[has_data], 1.0, atol=1e-9)
    assert_allclose(out.data_area_m2, data, rtol=AREA_RTOL)
    assert_allclose(out.county_area_m2, whole, rtol=1e-9)
    assert_allclose(out.data_coverage, data / whole, atol=AREA_RTOL)
    expected_max = np.where(north > 0, Level.RED, np.where(data > 0, Level.BLUE, LEVEL_NODATA))
    # cells are counted when any part of them is inside, so a sliver can raise the maximum
    sure = (north > 1e6) | ((north == 0) & (data > 1e6)) | (data == 0)
    assert (out.max_level[sure].to_numpy() == expected_max[sure]).all()
    wenchuan = out.set_index("adcode").loc[WENCHUAN]
    assert 0.0 < wenchuan.share_red < 1.0 and wenchuan.max_level_label == "red"


def test_threatened_population_counts_points_at_or_above_the_level(
        boundaries: Boundaries, grid: dict) -> None:
    counties = boundaries.counties.set_index("adcode").geometry
    wen_north = shapely.intersection(counties[WENCHUAN], grid["north"]).representative_point()
    wen_south = shapely.intersection(counties[WENCHUAN], grid["south"]).representative_point()
    dujiangyan = shapely.intersection(counties[DUJIANGYAN], grid["south"]).representative_point()
    lon = np.array([wen_north.x, wen_south.x, dujiangyan.x, 150.0])   # the last one is abroad
    lat = np.array([wen_north.y, wen_south.y, dujiangyan.y, 0.0])
    people = np.array([100, 50, 30, 999])
    assert point_levels(grid["levels"], grid["transform"], "EPSG:4326", lon, lat).tolist() == [
        Level.RED, Level.BLUE, Level.BLUE, LEVEL_NODATA]

    def summary(min_level: Level) -> pd.DataFrame:
        return county_summaries(grid["levels"], grid["transform"], "EPSG:4326", boundaries,
                                point_lon=lon, point_lat=lat, point_population=people,
                                min_level=min_level).set_index("adcode")

    orange = summary(Level.ORANGE)
    assert orange.loc[WENCHUAN, "threatened_population"] == 100
    assert orange.loc[WENCHUAN, "points_at_or_above"] == 1
    assert orange.loc[DUJIANGYAN, "threatened_population"] == 0
    blue = summary(Level.BLUE)
    assert blue.loc[WENCHUAN, "threatened_population"] == 150
    assert blue.loc[DUJIANGYAN, "threatened_population"] == 30
    assert blue.threatened_population.sum() == 180


def test_a_grid_outside_china_touches_no_county(boundaries: Boundaries) -> None:
    levels = np.full((10, 10), Level.RED, dtype=np.int8)
    out = county_summaries(levels, Affine(0.01, 0, 150.0, 0, -0.01, 0.0), "EPSG:4326",
                           boundaries)
    assert out.empty
