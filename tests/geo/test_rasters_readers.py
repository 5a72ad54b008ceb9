"""Readers: GeoTIFF (EPSG:4326 and Albers/Krasovsky), CF NetCDF, MintPy HDF5 (real Kirishima data)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

from geo.rasters import (
    GeoTiffSource,
    MintPySource,
    NetCdfSource,
    RasterPolicy,
    open_raster,
    read_raster,
    reproject_to_wgs84,
    sample_points,
)
from tests.conftest import SHARED_DATA
from tests.geo.test_rasters_support import (
    ALBERS_KRASOVSKY,
    SICHUAN,
    albers_tif,
    cell_codes,
    projected_netcdf,
    rain_netcdf,
    wgs84_tif,
    write_tif,
)

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
UNPACK_RTOL = 1e-6            # int16 * float32 scale_factor + add_offset, exact to float32
DOC_TOL = 1e-4                # README rounds X_FIRST/Y_FIRST to 4 decimals
PROJ_AGREEMENT_M = 1e-3       # rasterio's PROJ and pyproj's PROJ on the same projection


@pytest.fixture
def policy(tmp_path: Path) -> RasterPolicy:
    return RasterPolicy(allowed_roots=(tmp_path,))


@pytest.fixture
def kirishima_policy() -> RasterPolicy:
    # Kirishima is in Japan: no territory check for this real product.
    return RasterPolicy(allowed_roots=(KIRISHIMA,), territory=None)


# -- GeoTIFF -----------------------------------------------------------------


def test_geotiff_wgs84_reads_values_transform_units_and_nodata(tmp_path: Path,
                                                               policy: RasterPolicy) -> None:
    path = wgs84_tif(tmp_path / "rain.tif", nodata_cells=((2, 3),))
    with open_raster(path, policy, valid_at=datetime(2026, 7, 1, 8, tzinfo=UTC)) as source:
        assert isinstance(source, GeoTiffSource)
        assert source.meta.shape == (40, 60)
        assert source.meta.crs.to_epsg() == 4326
        assert source.meta.units == "mm"
        assert source.meta.block_shape == (16, 16)
        assert source.meta.valid_at == datetime(2026, 7, 1, 8, tzinfo=UTC)
        grid = source.read()
    expected = cell_codes(40, 60)
    expected[2, 3] = np.nan
    assert_array_equal(grid.data, expected)
    assert grid.transform == from_origin(103.0, 31.0, 0.01, 0.01)
    assert grid.nodata_mask.sum() == 1
    assert grid.masked().mask[2, 3]


def test_geotiff_internal_mask_and_scale_offset_are_honoured(tmp_path: Path,
                                                             policy: RasterPolicy) -> None:
    path = tmp_path / "masked.tif"
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    mask = np.full((3, 4), 255, dtype=np.uint8)
    mask[1, 1] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), \
            rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="int16",
                          crs="EPSG:4326", transform=from_origin(103, 31, 0.1, 0.1)) as dst:
        dst.write(data, 1)
        dst.scales, dst.offsets = (0.5,), (10.0,)
        dst.write_mask(mask)
    grid = read_raster(path, policy)
    expected = data * 0.5 + 10.0
    expected[1, 1] = np.nan
    assert_array_equal(grid.data, expected)


def test_geotiff_time_tag_gives_valid_time(tmp_path: Path, policy: RasterPolicy) -> None:
    path = write_tif(tmp_path / "t.tif", cell_codes(3, 3), from_origin(103, 31, 0.1, 0.1),
                     "EPSG:4326")
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(valid_at="2026-07-01T08:00:00Z")
    with open_raster(path, policy) as source:
        assert source.meta.valid_at == datetime(2026, 7, 1, 8, tzinfo=UTC)


def test_albers_krasovsky_grid_is_placed_where_pyproj_puts_it(tmp_path: Path,
                                                              policy: RasterPolicy) -> None:
    path = albers_tif(tmp_path / "albers.tif")
    with open_raster(path, policy) as source:
        crs = source.meta.crs
        assert "aea" in crs.to_proj4() and "krass" in crs.to_proj4()
        grid = source.read()
    # Cell (25, 40) centre, to lon/lat by rasterio, back to Albers by pyproj.
    x, y = grid.transform @ (40.5, 25.5)
    lon, lat = warp_transform(crs, "EPSG:4326", [x], [y])
    back = pyproj.Transformer.from_crs("EPSG:4326", ALBERS_KRASOVSKY, always_xy=True)
    assert_allclose(back.transform(lon[0], lat[0]), (x, y), atol=PROJ_AGREEMENT_M)
    assert_allclose((lon[0], lat[0]), SICHUAN, atol=0.01)
    assert sample_points(grid, np.array(lon), np.array(lat))[0] == 25 * 1000 + 40


def test_albers_grid_reprojects_to_wgs84_with_nearest_values(tmp_path: Path,
                                                             policy: RasterPolicy) -> None:
    grid = read_raster(albers_tif(tmp_path / "albers.tif"), policy)
    wgs = reproject_to_wgs84(grid)
    assert wgs.crs.to_epsg() == 4326
    west, south, east, north = wgs.bounds
    assert west < SICHUAN[0] < east and south < SICHUAN[1] < north
    finite = wgs.data[np.isfinite(wgs.data)]
    assert np.isin(finite, grid.data).all()          # nearest never invents a value
    # At source cell centres away from the edges, the reprojected grid holds that cell
    # or a neighbour (the two grids' cells do not coincide).
    rows, cols = np.mgrid[5:45:7, 5:75:7]
    xs, ys = grid.transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    lon, lat = warp_transform(grid.crs, "EPSG:4326", xs, ys)
    got = sample_points(wgs, np.array(lon), np.array(lat))
    assert np.abs(got // 1000 - rows.ravel()).max() <= 1
    assert np.abs(got % 1000 - cols.ravel()).max() <= 1


# -- NetCDF ------------------------------------------------------------------


@pytest.mark.parametrize("south_up", [True, False])
def test_netcdf_scale_offset_fill_and_missing_value(tmp_path: Path, policy: RasterPolicy,
                                                    south_up: bool) -> None:
    path = rain_netcdf(tmp_path / "rain.nc", south_up=south_up)
    with open_raster(path, policy) as source:
        assert isinstance(source, NetCdfSource)
        assert source.meta.variable == "precip"
        assert source.meta.units == "mm"
        assert source.meta.valid_at == datetime(2026, 7, 1, 8, tzinfo=UTC)
        assert_allclose(tuple(source.meta.transform)[:6], (0.1, 0, 103.0, 0, -0.1, 30.0),
                        atol=1e-12)
        grid = source.read()
        window = source.read_window(rasterio.windows.Window(1, 2, 3, 2))
    rows, cols = np.mgrid[0:4, 0:5]
    expected = (rows * 10 + cols).astype(float)
    expected[0, 0] = expected[1, 2] = np.nan
    assert_allclose(grid.data, expected, rtol=UNPACK_RTOL)
    assert_allclose(window, expected[2:4, 1:4], rtol=UNPACK_RTOL)


def test_netcdf_grid_mapping_albers_krasovsky(tmp_path: Path, policy: RasterPolicy) -> None:
    path = projected_netcdf(tmp_path / "albers.nc", {
        "grid_mapping_name": "albers_conical_equal_area", "standard_parallel": [25.0, 47.0],
        "longitude_of_central_meridian": 105.0, "latitude_of_projection_origin": 0.0,
        "false_easting": 0.0, "false_northing": 0.0,
        "semi_major_axis": 6378245.0, "inverse_flattening": 298.3})   # Krasovsky 1940
    with open_raster(path, policy) as source:
        # Same projection as the PROJ string: the same point lands on the same metres.
        x, y = warp_transform("EPSG:4326", source.meta.crs, [SICHUAN[0]], [SICHUAN[1]])
        expected = pyproj.Transformer.from_crs("EPSG:4326", ALBERS_KRASOVSKY, always_xy=True)
        assert_allclose((x[0], y[0]), expected.transform(*SICHUAN), atol=PROJ_AGREEMENT_M)
        assert tuple(source.meta.transform)[:6] == (1000.0, 0, 0.0, 0, -1000.0, 3_400_000.0)
        assert_array_equal(source.read().data, cell_codes(3, 6))


def test_netcdf3_classic_file_is_read(tmp_path: Path, policy: RasterPolicy) -> None:
    import xarray as xr

    lat = np.array([30.25, 30.75])
    lon = np.array([103.25, 103.75, 104.25])
    ds = xr.Dataset({"rain": (("lat", "lon"), np.arange(6.0).reshape(2, 3), {"units": "mm"})},
                    coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                            "lon": ("lon", lon, {"units": "degrees_east"})})
    path = tmp_path / "classic.nc"
    ds.to_netcdf(path, engine="scipy")
    grid = read_raster(path, policy)
    assert_array_equal(grid.data, [[3, 4, 5], [0, 1, 2]])      # north row first
    assert grid.crs.to_epsg() == 4326


# -- MintPy HDF5 (real data, read in place) ------------------------------------


def test_mintpy_velocity_matches_documented_product(kirishima_policy: RasterPolicy) -> None:
    with open_raster(KIRISHIMA / "velocity.h5", kirishima_policy) as source:
        assert isinstance(source, MintPySource)
        meta = source.meta
        grid = source.read()
    assert meta.shape == (541, 541)
    assert meta.variable == "velocity"
    assert meta.units == "m/year"
    assert meta.crs.to_epsg() == 4326
    assert meta.valid_at == datetime(2017, 9, 18, tzinfo=UTC)
    t = meta.transform
    assert abs(t.c - 130.8199) < DOC_TOL and abs(t.f - 31.9801) < DOC_TOL
    assert t.a == pytest.approx(0.000185185, rel=1e-9) and t.e == pytest.approx(-0.000185185,
                                                                               rel=1e-9)
    assert (t.b, t.d) == (0.0, 0.0)
    assert float(meta.attrs["REF_LAT"]) == pytest.approx(31.91593, abs=1e-5)
    assert float(meta.attrs["REF_LON"]) == pytest.approx(130.85, abs=1e-5)
    assert not np.isnan(grid.data).any()
    assert np.nanmin(grid.data) == pytest.approx(-0.056, abs=1e-3)
    assert np.nanmax(grid.data) == pytest.approx(0.052, abs=1e-3)
    # The velocity is relative to the reference point, where it is zero by construction.
    ref = sample_points(grid, np.array([float(meta.attrs["REF_LON"])]),
                        np.array([float(meta.attrs["REF_LAT"])]))
    assert ref[0] == 0.0


def test_mintpy_velocity_equals_its_geotiff_conversion(kirishima_policy: RasterPolicy) -> None:
    rng = np.random.default_rng(20240101)
    with open_raster(KIRISHIMA / "velocity.h5", kirishima_policy) as h5, \
            open_raster(KIRISHIMA / "velocity_los_mm_per_yr.tif", kirishima_policy) as tif:
        assert tif.meta.transform == h5.meta.transform
        west, south, east, north = h5.meta.bounds
        lon = rng.uniform(west, east, 100)
        lat = rng.uniform(south, north, 100)
        metres = sample_points(h5, lon, lat)
        millimetres = sample_points(tif, lon, lat)
    assert not np.isnan(metres).any()
    # The GeoTIFF was made in float32 arithmetic (velocity * 1000 as float32).
    expected = (metres.astype(np.float32) * np.float32(1000)).astype(float)
    assert_allclose(millimetres, expected, rtol=0, atol=1e-6)


def test_mintpy_coherence_file_picks_its_dataset(kirishima_policy: RasterPolicy) -> None:
    grid = read_raster(KIRISHIMA / "temporalCoherence.h5", kirishima_policy)
    assert grid.variable == "temporalCoherence"
    assert grid.shape == (541, 541)
    assert 0.0 <= np.nanmin(grid.data) and np.nanmax(grid.data) <= 1.0
