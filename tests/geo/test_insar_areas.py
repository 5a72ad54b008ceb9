"""InSAR areas on the map, on the real Kirishima product: polygons, coverage, velocity at points."""

from __future__ import annotations

import h5py
import numpy as np
import orjson
import pyproj
import pytest
import rasterio
import shapely
from numpy.testing import assert_allclose
from pydantic import ValidationError
from rasterio.features import rasterize

from geo.insar_areas import (
    CANDIDATE,
    COVERED,
    AreaMatchParams,
    area_polygons,
    classify_areas,
    find_risk_areas,
    mintpy_georef,
    pixel_areas_m2,
    reference_pixel,
    sample_velocity,
)
from tests.conftest import SHARED_DATA
from warning_models.insar import MODEL_VERSION, InsarParams

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
AREA_RTOL = 1e-4          # polygon area on the equal-area projection vs summed pixel areas
TRANSFORM_TOL_DEG = 1e-9
VELOCITY_TOL_MM_YR = 1e-6


@pytest.fixture(scope="module")
def product() -> dict:
    with h5py.File(KIRISHIMA / "velocity.h5", "r") as f:
        velocity = f["velocity"][:].astype(float) * 1000.0
        attrs = {k: f.attrs[k] for k in f.attrs}
    with h5py.File(KIRISHIMA / "temporalCoherence.h5", "r") as f:
        coherence = f["temporalCoherence"][:].astype(float)
    georef = mintpy_georef(attrs)
    return {"velocity": velocity, "coherence": coherence, "attrs": attrs, "georef": georef}


@pytest.fixture(scope="module")
def detected(product: dict):
    g = product["georef"]
    return find_risk_areas(product["velocity"], product["coherence"], g.transform, g.crs,
                           (g.ref_lon, g.ref_lat), source={"product": "kirishima velocity.h5"})


def test_mintpy_georeferencing_matches_the_dem_on_the_same_grid(product: dict) -> None:
    with rasterio.open(KIRISHIMA / "height.tif") as dem:
        expected = dem.transform
    assert_allclose(tuple(product["georef"].transform)[:6], tuple(expected)[:6],
                    atol=TRANSFORM_TOL_DEG)


def test_reference_point_falls_in_mintpys_reference_pixel(product: dict) -> None:
    g, attrs = product["georef"], product["attrs"]
    row, col = reference_pixel(g.transform, g.crs, g.ref_lon, g.ref_lat,
                               product["velocity"].shape)
    assert (row, col) == (int(attrs["REF_Y"]), int(attrs["REF_X"]))


def test_polygons_rasterise_back_to_exactly_the_clusters(product: dict, detected) -> None:
    result, areas = detected
    g = product["georef"]
    assert areas.crs.to_epsg() == 4326
    assert areas.is_valid.all()
    burnt = rasterize(zip(areas.geometry, areas.label, strict=True),
                      out_shape=result.labels.shape, transform=g.transform, fill=0,
                      dtype="int32")
    assert (burnt == result.labels).all()


def test_polygon_areas_agree_with_the_pixel_areas(detected) -> None:
    _, areas = detected
    assert_allclose(areas.area_m2, areas.pixel_area_m2, rtol=AREA_RTOL)
    # ~20 m pixels at 32 N: 0.000185185 deg is 17.5 m east-west, 20.5 m north-south
    assert_allclose(areas.area_m2 / areas.pixel_count, 17.50 * 20.52, rtol=5e-3)


def test_peak_and_mean_velocities_come_from_the_field(product: dict, detected) -> None:
    result, areas = detected
    for row in areas.itertuples():
        pixels = result.velocity_mm_yr[result.labels == row.label]
        assert abs(row.mean_velocity_mm_yr - pixels.mean()) < VELOCITY_TOL_MM_YR
        assert abs(abs(row.peak_velocity_mm_yr) - np.abs(pixels).max()) < VELOCITY_TOL_MM_YR
        assert row.geometry.buffer(1e-9).contains(shapely.Point(row.peak_lon, row.peak_lat))


def test_a_point_inside_the_largest_area_covers_it_and_the_others_stay_candidates(
        detected) -> None:
    result, areas = detected
    largest = int(np.argmax(areas.area_m2))
    inside = areas.geometry.iloc[largest].representative_point()
    out = classify_areas(areas, result, ["kir-001"], np.array([inside.x]), np.array([inside.y]))
    assert out.status.iloc[largest] == COVERED
    assert out.risk_point_ids.iloc[largest] == ["kir-001"]
    others = out.drop(index=out.index[largest])
    assert (others.status == CANDIDATE).all()
    assert not others.covered.any()


def test_the_buffer_decides_for_a_point_just_outside(detected) -> None:
    result, areas = detected
    small = areas.iloc[[int(np.argmin(areas.area_m2))]]
    laea = pyproj.CRS.from_proj4("+proj=laea +lat_0=31.9 +lon_0=130.87 +datum=WGS84 +units=m")
    poly = small.geometry.to_crs(laea).iloc[0]
    _, miny, maxx, maxy = poly.bounds
    point_m = shapely.Point(maxx + 50.0, (miny + maxy) / 2)
    distance = poly.distance(point_m)
    lon, lat = pyproj.Transformer.from_crs(laea, 4326, always_xy=True).transform(
        point_m.x, point_m.y)
    near = classify_areas(small, result, ["p"], np.array([lon]), np.array([lat]),
                          params=AreaMatchParams(buffer_m=distance + 5.0))
    far = classify_areas(small, result, ["p"], np.array([lon]), np.array([lat]),
                         params=AreaMatchParams(buffer_m=distance - 5.0))
    assert near.status.iloc[0] == COVERED
    assert far.status.iloc[0] == CANDIDATE


def test_candidates_carry_their_evidence(detected) -> None:
    result, areas = detected
    assert (areas.status == CANDIDATE).all()          # no risk points were given
    evidence = areas.evidence.iloc[0]
    orjson.dumps(evidence)                              # plain JSON types only
    assert evidence["model_version"] == MODEL_VERSION
    assert evidence["params"]["k_sigma"] == InsarParams().k_sigma
    assert evidence["params"]["buffer_m"] == AreaMatchParams().buffer_m
    assert evidence["peak_velocity_mm_yr"] == areas.peak_velocity_mm_yr.iloc[0]
    assert evidence["threshold_mm_yr"] == result.threshold_mm_yr
    assert evidence["source"] == {"product": "kirishima velocity.h5"}


def test_velocity_at_points_honours_reference_and_coherence(product: dict) -> None:
    g = product["georef"]
    v, coherence = product["velocity"] + 3.0, product["coherence"]   # referenced elsewhere
    ref = reference_pixel(g.transform, g.crs, g.ref_lon, g.ref_lat, v.shape)
    incoherent = np.argwhere(coherence < 0.7)[0]
    coherent = (100, 200)
    rows = np.array([ref[0], incoherent[0], coherent[0]])
    cols = np.array([ref[1], incoherent[1], coherent[1]])
    # a point 0.4 pixel from the corner still belongs to its pixel
    lon, lat = g.transform @ (cols + 0.1, rows + 0.9)
    lon = np.append(lon, 0.0)                                    # far outside
    lat = np.append(lat, 0.0)
    got = sample_velocity(v, coherence, g.transform, g.crs, ref, lon, lat)
    assert got[0] == 0.0
    assert np.isnan(got[1])
    assert abs(got[2] - (v[coherent] - v[ref])) < VELOCITY_TOL_MM_YR
    assert np.isnan(got[3])


def test_projected_grids_have_a_constant_pixel_area() -> None:
    from affine import Affine
    area = pixel_areas_m2(Affine(30.0, 0, 500000, 0, -30.0, 3_500_000), "EPSG:32652", (3, 3))
    assert float(area) == 900.0


def test_geographic_pixel_areas_sum_to_the_ellipsoids_band_area() -> None:
    from affine import Affine
    # one row of 360 one-degree cells between 30 and 31 N: the band's area on WGS84
    area = pixel_areas_m2(Affine(1.0, 0, -180, 0, -1.0, 31.0), "EPSG:4326", (1, 360))
    # Geod's edges are geodesics: follow the two parallels closely with many vertices
    along = np.linspace(0.0, 1.0, 2001)
    lons = np.concatenate([along, along[::-1]])
    lats = np.concatenate([np.full(along.size, 30.0), np.full(along.size, 31.0)])
    band, _ = pyproj.Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    assert_allclose(area[0, 0], abs(band), rtol=1e-6)


def test_empty_registry_and_area_polygons_without_areas(product: dict) -> None:
    g = product["georef"]
    v = np.zeros((20, 20))
    from warning_models.insar import detect_active_areas
    result = detect_active_areas(v, np.ones_like(v), (0, 0), 400.0)
    areas = area_polygons(result, g.transform, g.crs)
    assert len(areas) == 0
    assert len(classify_areas(areas, result, [], np.zeros(0), np.zeros(0))) == 0


def test_bad_buffer_fails_when_loaded() -> None:
    with pytest.raises(ValidationError):
        AreaMatchParams(buffer_m=-1)


def test_a_projected_grid_gives_areas_in_square_metres_and_lonlat_polygons() -> None:
    from affine import Affine
    # UTM zone 52N, 30 m pixels, a 6 x 6 block moving 10 mm/yr near Kirishima
    transform = Affine(30.0, 0.0, 690_000.0, 0.0, -30.0, 3_540_000.0)
    v = np.zeros((50, 50))
    v[20:26, 20:26] = 10.0
    v[0, 0] = 0.1          # a little noise so that sigma is not zero
    ref_lon, ref_lat = pyproj.Transformer.from_crs(32652, 4326, always_xy=True).transform(
        690_015.0, 3_539_985.0)                    # centre of pixel (0, 0)
    result, areas = find_risk_areas(v, np.ones_like(v), transform, "EPSG:32652",
                                    (ref_lon, ref_lat))
    assert result.reference_pixel == (0, 0)
    assert len(areas) == 1
    assert areas.pixel_count.iloc[0] == 36
    assert areas.pixel_area_m2.iloc[0] == 36 * 900.0
    # UTM is conformal, not equal-area: its scale factor here is within 0.1 % of 1
    assert_allclose(areas.area_m2.iloc[0], 36 * 900.0, rtol=2e-3)
    assert 130.0 < areas.centroid_lon.iloc[0] < 131.5 and 31.5 < areas.centroid_lat.iloc[0] < 32.5
