"""XYZ PNG tiles and the COG of a level grid."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from geo.tiles import (
    LEVEL_RGBA,
    MAX_LAT,
    MERCATOR_HALF,
    NODATA_U8,
    empty_tile,
    render_tile,
    tile_bounds,
    tile_for,
    tile_lonlat_bounds,
    write_cog,
)
from warning_models.levels import Level
from warning_models.nowcast import LEVEL_NODATA

# a 1 x 1 degree grid over Wenchuan, Sichuan, 0.001 degree cells
TRANSFORM = Affine(0.001, 0.0, 103.0, 0.0, -0.001, 31.5)
SHAPE = (1000, 1000)
CRS = "EPSG:4326"
TILE_TOL_M = 1e-6


def _rgba(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(png) as mem, mem.open() as src:
            return src.read()


def _pixels(rgba: np.ndarray, colour: tuple[int, int, int, int]) -> np.ndarray:
    return np.all(rgba == np.asarray(colour, dtype=np.uint8)[:, None, None], axis=0)


def test_tile_math_matches_the_xyz_scheme() -> None:
    assert tile_bounds(0, 0, 0) == pytest.approx(
        (-MERCATOR_HALF, -MERCATOR_HALF, MERCATOR_HALF, MERCATOR_HALF), abs=TILE_TOL_M)
    west, south, east, north = tile_lonlat_bounds(1, 1, 0)     # north-east quarter
    assert (west, south, east) == pytest.approx((0.0, 0.0, 180.0))
    assert north == pytest.approx(MAX_LAT)
    # the same tiles from PROJ's web-mercator
    to_mercator = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    for lon, lat, z in ((104.06, 30.66, 10), (13.4, 52.5, 10), (-70.6, -33.4, 15), (0.1, 0.1, 3)):
        mx, my = to_mercator.transform(lon, lat)
        size = 2 * MERCATOR_HALF / 2 ** z
        expected = (math.floor((mx + MERCATOR_HALF) / size), math.floor((MERCATOR_HALF - my) / size))
        assert tile_for(lon, lat, z) == expected
        w, s, e, n = tile_lonlat_bounds(z, *expected)
        assert w <= lon < e and s <= lat < n
    with pytest.raises(ValueError):
        tile_bounds(3, 8, 0)


def test_a_tile_inside_a_constant_red_grid_is_all_red() -> None:
    levels = np.full(SHAPE, Level.RED, dtype=np.int8)
    x, y = tile_for(103.5, 31.0, 12)
    w, s, e, n = tile_lonlat_bounds(12, x, y)
    assert 103.0 < w and e < 104.0 and 30.5 < s and n < 31.5
    rgba = _rgba(render_tile(levels, TRANSFORM, CRS, 12, x, y))
    assert rgba.shape == (4, 256, 256)
    assert _pixels(rgba, LEVEL_RGBA[Level.RED]).all()


def test_a_tile_far_away_is_fully_transparent() -> None:
    levels = np.full(SHAPE, Level.RED, dtype=np.int8)
    x, y = tile_for(-70.0, -20.0, 12)
    png = render_tile(levels, TRANSFORM, CRS, 12, x, y)
    assert png == empty_tile()
    assert (_rgba(png)[3] == 0).all()


def test_each_level_gets_its_colour_and_none_and_no_data_are_transparent() -> None:
    levels = np.zeros(SHAPE, dtype=np.int8)
    bands = [LEVEL_NODATA, Level.NONE, Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED]
    for i, level in enumerate(bands):                 # vertical stripes, west to east
        levels[:, i * 160:(i + 1) * 160] = level
    rgba = _rgba(render_tile(levels, TRANSFORM, CRS, 8, *tile_for(103.5, 31.0, 8)))
    for level in (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED):
        assert _pixels(rgba, LEVEL_RGBA[level]).sum() > 0
    opaque = rgba[3] > 0
    coloured = np.zeros_like(opaque)
    for level in (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED):
        coloured |= _pixels(rgba, LEVEL_RGBA[level])
    assert (opaque == coloured).all()                 # nothing else is painted
    assert (~opaque).sum() > 0


def test_a_single_red_cell_survives_zooming_out() -> None:
    levels = np.full(SHAPE, Level.BLUE, dtype=np.int8)
    levels[500, 500] = Level.RED
    rgba = _rgba(render_tile(levels, TRANSFORM, CRS, 7, *tile_for(103.5, 31.0, 7)))
    assert _pixels(rgba, LEVEL_RGBA[Level.RED]).sum() >= 1


def test_the_grid_edge_lands_where_the_tile_math_puts_it() -> None:
    levels = np.full(SHAPE, Level.ORANGE, dtype=np.int8)
    z = 14
    x, y = tile_for(103.0, 31.0, z)                   # the tile holding the grid's west edge
    west, _, east, _ = tile_lonlat_bounds(z, x, y)
    rgba = _rgba(render_tile(levels, TRANSFORM, CRS, z, x, y))
    first = int(np.argmax(rgba[3, 128] > 0))
    assert abs(first - (103.0 - west) / (east - west) * 256) <= 1.0


def test_the_cog_opens_with_rasterio_and_has_overviews(tmp_path: Path) -> None:
    levels = np.full(SHAPE, Level.YELLOW, dtype=np.int8)
    levels[:10] = LEVEL_NODATA
    path = tmp_path / "levels.tif"
    assert write_cog(levels, TRANSFORM, CRS, path) is None
    with rasterio.open(path) as src:
        assert src.overviews(1)
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.crs.to_epsg() == 4326
        assert src.transform.almost_equals(TRANSFORM)
        assert src.nodata == NODATA_U8
        data = src.read(1)
        assert (data[:10] == NODATA_U8).all() and (data[10:] == Level.YELLOW).all()
        assert src.colormap(1)[int(Level.YELLOW)] == LEVEL_RGBA[Level.YELLOW]
        assert src.block_shapes[0] == (256, 256)
    blob = write_cog(levels, TRANSFORM, CRS)
    with MemoryFile(blob) as mem, mem.open() as src:
        assert src.overviews(1) and (src.read(1) == data).all()


def test_web_mercator_limit() -> None:
    assert MAX_LAT == pytest.approx(math.degrees(2 * math.atan(math.exp(math.pi)) - math.pi / 2))
