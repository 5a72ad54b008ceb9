"""Every way a raster is refused raises its own RasterError subclass, with a message that says why."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5netcdf
import h5py
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from geo.rasters import (
    CorruptRasterError,
    MissingCrsError,
    OutsideTerritoryError,
    RasterError,
    RasterLayoutError,
    RasterNotFoundError,
    RasterPathError,
    RasterPolicy,
    RasterTooLargeError,
    UnknownCrsError,
    UnsupportedFormatError,
    open_raster,
    read_raster,
)
from geo.rasters.policy import resolve_location
from tests.conftest import SHARED_DATA
from tests.geo.test_rasters_support import (
    cell_codes,
    mintpy_h5,
    projected_netcdf,
    rain_netcdf,
    wgs84_tif,
    write_tif,
)

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
TEN_BILLION = 100_000 * 100_000


@pytest.fixture
def policy(tmp_path: Path) -> RasterPolicy:
    return RasterPolicy(allowed_roots=(tmp_path,))


def truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_all_errors_share_one_base() -> None:
    for cls in (CorruptRasterError, MissingCrsError, OutsideTerritoryError, RasterLayoutError,
                RasterNotFoundError, RasterPathError, RasterTooLargeError, UnknownCrsError,
                UnsupportedFormatError):
        assert issubclass(cls, RasterError)


# -- corrupt and truncated files ------------------------------------------------


@pytest.mark.parametrize("name", ["velocity.h5", "velocity_los_mm_per_yr.tif"])
def test_real_file_truncated_to_half_is_corrupt(tmp_path: Path, policy: RasterPolicy,
                                                name: str) -> None:
    path = truncated_copy(KIRISHIMA / name, tmp_path / name)
    with pytest.raises(CorruptRasterError, match="truncated|damaged"):
        open_raster(path, policy.model_copy(update={"territory": None}))


def test_truncated_cog_with_intact_header_is_corrupt_at_open(tmp_path: Path,
                                                             policy: RasterPolicy) -> None:
    # A COG keeps its header first, so GDAL opens the half file; its blocks are gone.
    full = tmp_path / "full.tif"
    noise = np.random.default_rng(1).random((512, 512)).astype(np.float32)
    with rasterio.open(full, "w", driver="COG", width=512, height=512, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(103, 31, 0.001, 0.001),
                       compress="deflate", blocksize=128) as dst:
        dst.write(noise, 1)
    path = truncated_copy(full, tmp_path / "half.tif")
    with pytest.raises(CorruptRasterError, match="truncated"):
        open_raster(path, policy)


def test_truncated_netcdf_is_corrupt(tmp_path: Path, policy: RasterPolicy) -> None:
    full = rain_netcdf(tmp_path / "full.nc")
    path = truncated_copy(full, tmp_path / "half.nc")
    with pytest.raises(CorruptRasterError):
        open_raster(path, policy)


def test_empty_file_is_corrupt(tmp_path: Path, policy: RasterPolicy) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(CorruptRasterError, match="empty"):
        open_raster(tmp_path / "empty.tif", policy)


# -- CRS ------------------------------------------------------------------------


def test_tif_without_crs(tmp_path: Path, policy: RasterPolicy) -> None:
    path = write_tif(tmp_path / "nocrs.tif", cell_codes(4, 4), from_origin(103, 31, 0.1, 0.1), None)
    with pytest.raises(MissingCrsError, match="no coordinate reference system"):
        open_raster(path, policy)


def test_tif_with_engineering_crs_is_unknown(tmp_path: Path, policy: RasterPolicy) -> None:
    local = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],'
                         'AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
    path = write_tif(tmp_path / "local.tif", cell_codes(4, 4), from_origin(0, 100, 10, 10), local)
    with pytest.raises(UnknownCrsError, match="EPSG:4326"):
        open_raster(path, policy)


def test_netcdf_with_bad_grid_mapping_is_unknown_crs(tmp_path: Path, policy: RasterPolicy) -> None:
    path = projected_netcdf(tmp_path / "bad.nc", {"grid_mapping_name": "no_such_projection"})
    with pytest.raises(UnknownCrsError, match="grid_mapping"):
        open_raster(path, policy)


def test_mintpy_in_radar_coordinates_has_no_crs(tmp_path: Path, policy: RasterPolicy) -> None:
    path = mintpy_h5(tmp_path / "radar.h5", (4, 4))
    with h5py.File(path, "r+") as f:
        for key in ("X_FIRST", "Y_FIRST", "X_STEP", "Y_STEP"):
            del f.attrs[key]
    with pytest.raises(MissingCrsError, match="radar coordinates"):
        open_raster(path, policy)


# -- territory --------------------------------------------------------------------


def test_grid_over_the_atlantic_is_outside(tmp_path: Path, policy: RasterPolicy) -> None:
    path = wgs84_tif(tmp_path / "atlantic.tif", west=-40.0, north=30.0, cell=0.1)
    with pytest.raises(OutsideTerritoryError, match="does not touch the territory"):
        open_raster(path, policy)


def test_territory_polygon_is_finer_than_its_bounding_box(tmp_path: Path, policy: RasterPolicy,
                                                          boundaries: object) -> None:
    # Central Mongolia: inside China's bounding box, outside its territory.
    path = wgs84_tif(tmp_path / "mongolia.tif", west=102.0, north=47.5, cell=0.01)
    with open_raster(path, policy):
        pass
    strict = RasterPolicy.for_boundaries(boundaries, allowed_roots=(tmp_path,))
    with pytest.raises(OutsideTerritoryError):
        open_raster(path, strict)
    with open_raster(wgs84_tif(tmp_path / "sichuan.tif"), strict):
        pass


# -- paths --------------------------------------------------------------------------


def test_dotdot_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "rasters"
    root.mkdir()
    wgs84_tif(tmp_path / "secret.tif")
    policy = RasterPolicy(allowed_roots=(root,))
    with pytest.raises(RasterPathError, match="outside the allowed roots"):
        open_raster(root / ".." / "secret.tif", policy)
    with pytest.raises(RasterPathError, match="outside the allowed roots"):
        open_raster("../secret.tif", policy)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "rasters"
    root.mkdir()
    os.symlink(wgs84_tif(tmp_path / "secret.tif"), root / "link.tif")
    with pytest.raises(RasterPathError):
        open_raster(root / "link.tif", RasterPolicy(allowed_roots=(root,)))


def test_relative_path_under_a_root_opens(tmp_path: Path) -> None:
    root = tmp_path / "rasters"
    (root / "rain").mkdir(parents=True)
    wgs84_tif(root / "rain" / "a.tif")
    with open_raster("rain/./a.tif", RasterPolicy(allowed_roots=(root,))) as source:
        assert source.meta.location == str((root / "rain" / "a.tif").resolve())


def test_missing_file_under_a_root(policy: RasterPolicy) -> None:
    with pytest.raises(RasterNotFoundError):
        open_raster("nothing-here.tif", policy)


def test_urls_and_virtual_paths(policy: RasterPolicy) -> None:
    assert resolve_location("s3://bucket/rain/a.tif", policy) == "s3://bucket/rain/a.tif"
    with pytest.raises(RasterPathError, match="scheme 'https'"):
        resolve_location("https://example.org/a.tif", policy)
    with pytest.raises(RasterPathError, match="virtual file systems"):
        resolve_location("/vsicurl/https://example.org/a.tif", policy)
    with pytest.raises(RasterPathError, match="no raster roots"):
        resolve_location("/tmp/a.tif", RasterPolicy())


# -- size ---------------------------------------------------------------------------


def test_ten_billion_cell_geotiff_declared_by_header_only(tmp_path: Path,
                                                          policy: RasterPolicy) -> None:
    path = tmp_path / "huge.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100_000, height=100_000, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=from_origin(100, 35, 1e-4, 1e-4), tiled=True,
                       blockxsize=1024, blockysize=1024, sparse_ok=True, BIGTIFF="YES"):
        pass                                         # no block is ever written
    assert path.stat().st_size < 1_000_000
    with pytest.raises(RasterTooLargeError, match=f"{TEN_BILLION:,} cells"):
        open_raster(path, policy)


def test_ten_billion_cell_mintpy_declared_only(tmp_path: Path, policy: RasterPolicy) -> None:
    path = mintpy_h5(tmp_path / "huge.h5", (100_000, 100_000), write=False)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(RasterTooLargeError, match="more than the configured maximum"):
        open_raster(path, policy)


def test_read_limit_is_separate_from_the_size_limit(tmp_path: Path) -> None:
    path = wgs84_tif(tmp_path / "a.tif")                    # 40 x 60 = 2,400 cells
    policy = RasterPolicy(allowed_roots=(tmp_path,), max_read_cells=1000)
    with pytest.raises(RasterTooLargeError, match="sample it"):
        read_raster(path, policy)
    with pytest.raises(RasterTooLargeError):
        open_raster(path, RasterPolicy(allowed_roots=(tmp_path,), max_cells=1000))


# -- formats and layouts --------------------------------------------------------------


def test_png_and_text_are_unsupported(tmp_path: Path, policy: RasterPolicy) -> None:
    with rasterio.open(tmp_path / "map.png", "w", driver="PNG", width=4, height=4, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((4, 4), dtype=np.uint8), 1)
    with pytest.raises(UnsupportedFormatError, match="unsupported format"):
        open_raster(tmp_path / "map.png", policy)
    shutil.copy(tmp_path / "map.png", tmp_path / "renamed.tif")
    with pytest.raises(UnsupportedFormatError):
        open_raster(tmp_path / "renamed.tif", policy)
    (tmp_path / "notes.tif").write_text("not a raster at all")
    with pytest.raises(UnsupportedFormatError):
        open_raster(tmp_path / "notes.tif", policy)


def test_netcdf_with_several_time_steps_needs_a_choice(tmp_path: Path,
                                                       policy: RasterPolicy) -> None:
    path = tmp_path / "steps.nc"
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"time": 2, "lat": 2, "lon": 2}
        for name, values, units in (("lat", [30.25, 30.75], "degrees_north"),
                                    ("lon", [103.25, 103.75], "degrees_east"),
                                    ("time", [0.0, 1.0], "hours since 2026-07-01")):
            v = f.create_variable(name, (name,), "f8")
            v[:] = values
            v.attrs["units"] = units
        v = f.create_variable("rain", ("time", "lat", "lon"), "f4")
        v[:] = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    with pytest.raises(RasterLayoutError, match="time_index"):
        open_raster(path, policy)
    with open_raster(path, policy, time_index=1) as source:
        assert source.read().data.tolist() == [[6.0, 7.0], [4.0, 5.0]]


def test_netcdf_with_irregular_coordinates_is_refused(tmp_path: Path,
                                                      policy: RasterPolicy) -> None:
    path = tmp_path / "irregular.nc"
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"lat": 3, "lon": 3}
        for name, values, units in (("lat", [30.0, 30.1, 30.5], "degrees_north"),
                                    ("lon", [103.0, 103.1, 103.2], "degrees_east")):
            v = f.create_variable(name, (name,), "f8")
            v[:] = values
            v.attrs["units"] = units
        f.create_variable("rain", ("lat", "lon"), "f4")[:] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(RasterLayoutError, match="not evenly spaced"):
        open_raster(path, policy)
