"""Point sampling against grids whose cell values encode their row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from numpy.testing import assert_array_equal
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from geo.rasters import (
    GeoTiffSource,
    RasterGrid,
    RasterPolicy,
    RasterSource,
    open_raster,
    sample_points,
)
from geo.rasters.sampling import chunk_shape
from tests.geo.test_rasters_support import albers_tif, cell_codes, wgs84_tif, write_tif

CELL = 0.01
WEST, NORTH = 103.0, 31.0


class RecordingSource(RasterSource):
    """A real GeoTIFF reader that records the windows it is asked for."""

    format_name = "recording"
    suffixes = ()

    def __init__(self, path: Path) -> None:
        self._inner = GeoTiffSource(str(path))
        self.meta = self._inner.meta
        self.windows: list[Window] = []

    @classmethod
    def guess_can_open(cls, location: str, head: bytes) -> bool:
        return False

    def _read(self, window: Window) -> np.ndarray:
        self.windows.append(window)
        return self._inner.read_window(window)

    def close(self) -> None:
        self._inner.close()


def centre(row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of cell centres of the WEST/NORTH grid."""
    return WEST + (np.asarray(col) + 0.5) * CELL, NORTH - (np.asarray(row) + 0.5) * CELL


@pytest.fixture
def policy(tmp_path: Path) -> RasterPolicy:
    return RasterPolicy(allowed_roots=(tmp_path,))


def test_cell_centres_inside_outside_and_nodata(tmp_path: Path, policy: RasterPolicy) -> None:
    path = wgs84_tif(tmp_path / "g.tif", nodata_cells=((7, 9),))
    rows = np.array([0, 39, 0, 39, 12, 7])
    cols = np.array([0, 0, 59, 59, 33, 9])
    lon, lat = centre(rows, cols)
    lon = np.r_[lon, WEST - 0.001, WEST + 0.6 + 0.001, 103.2, np.nan]   # west, east, north, NaN
    lat = np.r_[lat, 30.9, 30.9, 31.001, 30.9]
    expected = np.r_[rows * 1000.0 + cols, np.nan, np.nan, np.nan, np.nan]
    expected[5] = np.nan                                                  # the nodata cell
    with open_raster(path, policy) as source:
        from_file = sample_points(source, lon, lat)
        in_memory = sample_points(source.read(), lon, lat)
    assert from_file.dtype == np.float64
    assert_array_equal(from_file, expected)
    assert_array_equal(in_memory, expected)


def test_nearest_cell_is_the_cell_containing_the_point(tmp_path: Path,
                                                       policy: RasterPolicy) -> None:
    grid = RasterGrid(cell_codes(40, 60), from_origin(WEST, NORTH, CELL, CELL), CRS.from_epsg(4326))
    # Just inside the north-west corner of cell (3, 4), just before its south-east corner,
    # exactly on the grid's west edge (inside) and exactly on its east edge (outside).
    lon = np.array([WEST + 4 * CELL + 1e-9, WEST + 5 * CELL - 1e-9, WEST, WEST + 60 * CELL])
    lat = np.array([NORTH - 3 * CELL - 1e-9, NORTH - 4 * CELL + 1e-9, 30.995, 30.995])
    assert_array_equal(sample_points(grid, lon, lat), [3004.0, 3004.0, 0.0, np.nan])


def test_result_keeps_the_shape_of_the_input() -> None:
    grid = RasterGrid(cell_codes(40, 60), from_origin(WEST, NORTH, CELL, CELL), CRS.from_epsg(4326))
    lon, lat = centre(np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]]))
    assert_array_equal(sample_points(grid, lon, lat), [[1005, 2006], [3007, 4008]])
    with pytest.raises(ValueError, match="differ in shape"):
        sample_points(grid, lon, lat[0])


def test_many_points_read_chunk_by_chunk_never_the_whole_raster(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "big.tif", cell_codes(600, 800),
                     from_origin(WEST, NORTH, CELL, CELL), "EPSG:4326", block=64)
    rng = np.random.default_rng(5)
    rows = rng.integers(0, 600, 20_000)
    cols = rng.integers(0, 800, 20_000)
    lon, lat = centre(rows, cols)
    chunk_cells = 128 * 128
    with RecordingSource(path) as source:
        values = sample_points(source, lon, lat, chunk_cells=chunk_cells)
        windows = source.windows
    assert_array_equal(values, rows * 1000.0 + cols)
    assert max(int(w.width) * int(w.height) for w in windows) <= chunk_cells
    assert len(windows) == (600 // 128 + 1) * (800 // 128 + 1)          # one read per chunk


def test_sparse_points_read_only_their_cells(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "big.tif", cell_codes(600, 800),
                     from_origin(WEST, NORTH, CELL, CELL), "EPSG:4326", block=64)
    lon, lat = centre(np.array([10, 300, 590]), np.array([20, 400, 790]))
    with RecordingSource(path) as source:
        values = sample_points(source, lon, lat)
        cells_read = sum(int(w.width) * int(w.height) for w in source.windows)
    assert_array_equal(values, [10020, 300400, 590790])
    assert cells_read == 3


def test_chunks_are_whole_blocks_of_about_the_requested_size() -> None:
    assert chunk_shape((512, 512), (3500, 6200), 1 << 20) == (1024, 1024)
    assert chunk_shape((3, 541), (541, 541), 1 << 20) == (541, 541)      # strips: full rows
    assert chunk_shape((1, 6200), (3500, 6200), 1 << 20) == (169, 6200)
    assert chunk_shape((68, 68), (541, 541), 1 << 12) == (68, 68)        # at least one block


def test_albers_raster_is_sampled_at_lon_lat(tmp_path: Path, policy: RasterPolicy) -> None:
    path = albers_tif(tmp_path / "albers.tif")
    with open_raster(path, policy) as source:
        rows, cols = np.array([0, 10, 49]), np.array([0, 40, 79])
        xs, ys = source.meta.transform @ (cols + 0.5, rows + 0.5)
        lon, lat = warp_transform(source.meta.crs, "EPSG:4326", xs, ys)
        values = sample_points(source, np.array(lon), np.array(lat))
    assert_array_equal(values, rows * 1000.0 + cols)


def test_longitudes_wrap_onto_a_0_to_360_grid() -> None:
    grid = RasterGrid(np.arange(360, dtype=np.float64)[None, :].repeat(2, axis=0),
                      Affine(1.0, 0.0, 0.0, 0.0, -1.0, 1.0), CRS.from_epsg(4326))
    assert_array_equal(sample_points(grid, np.array([-170.5, 10.5]), np.array([0.5, 0.5])),
                       [189.0, 10.0])
