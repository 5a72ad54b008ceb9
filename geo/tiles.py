"""Level grids out: XYZ web-mercator PNG tiles for the console, and Cloud-Optimized GeoTIFFs.

Tiles follow the XYZ ("slippy map") scheme of OpenStreetMap and Google: tile
(z, x, y) covers 1/2^z of the web-mercator square (EPSG:3857) in each
direction, x from the antimeridian eastwards, y from the north edge
(85.0511 degrees) southwards. The grid is warped into the tile with GDAL's
"max" resampling: when a tile pixel covers many cells the worst level wins,
so a small red area never disappears when the map is zoomed out.

Colours are the national ones (blue IV, yellow III, orange II, red I); level
"none" and cells without data are transparent, so the base map shows through.

The COG keeps the levels as uint8 (255 = no data) with an embedded colour
table, so QGIS and GDAL show it in the same colours. Its overviews use "mode"
(GDAL cannot build "max" overviews): they are for browsing; tiles are always
rendered from the full-resolution grid.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, reproject, transform_bounds

from warning_models.levels import Level

TILE_SIZE = 256
EARTH_RADIUS_M = 6378137.0                 # web-mercator sphere (EPSG:3857)
MERCATOR_HALF = math.pi * EARTH_RADIUS_M   # 20037508.34 m: x and y run from -this to +this
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))   # 85.0511 degrees
WEB_MERCATOR = CRS.from_epsg(3857)
WGS84 = CRS.from_epsg(4326)
NODATA_U8 = 255                            # no data in uint8 tiles and COGs

LEVEL_RGBA: dict[Level, tuple[int, int, int, int]] = {
    Level.NONE: (0, 0, 0, 0),
    Level.BLUE: (0x1F, 0x77, 0xFF, 255),
    Level.YELLOW: (0xFF, 0xD7, 0x00, 255),
    Level.ORANGE: (0xFF, 0x8C, 0x00, 255),
    Level.RED: (0xFF, 0x00, 0x00, 255),
}
TRANSPARENT = (0, 0, 0, 0)


def _palette() -> np.ndarray:
    lut = np.zeros((256, 4), dtype=np.uint8)
    for level, rgba in LEVEL_RGBA.items():
        lut[int(level)] = rgba
    return lut


PALETTE = _palette()


# ---------------------------------------------------------------- tile math


def _check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= 24:
        raise ValueError(f"zoom {z} outside 0..24")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ValueError(f"tile ({z}, {x}, {y}) does not exist: x and y run 0..{n - 1}")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of tile (z, x, y) in EPSG:3857 metres."""
    _check_tile(z, x, y)
    size = 2 * MERCATOR_HALF / (1 << z)
    xmin = -MERCATOR_HALF + x * size
    ymax = MERCATOR_HALF - y * size
    return (xmin, ymax - size, xmin + size, ymax)


def _tile_transform(z: int, x: int, y: int, size: int) -> Affine:
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
    return Affine((xmax - xmin) / size, 0.0, xmin, 0.0, -(ymax - ymin) / size, ymax)


def tile_lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of tile (z, x, y) in degrees."""
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)

    def lat(ym: float) -> float:
        return math.degrees(math.atan(math.sinh(ym / EARTH_RADIUS_M)))

    return (math.degrees(xmin / EARTH_RADIUS_M), lat(ymin),
            math.degrees(xmax / EARTH_RADIUS_M), lat(ymax))


def tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(x, y) of the zoom-``z`` tile holding lon/lat (latitudes clamped to +-85.0511)."""
    n = 1 << z
    phi = math.radians(max(-MAX_LAT, min(MAX_LAT, lat)))
    x = math.floor((lon + 180.0) / 360.0 * n)
    y = math.floor((1 - math.asinh(math.tan(phi)) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


# ---------------------------------------------------------------- rendering


def _as_u8(levels: np.ndarray) -> np.ndarray:
    lev = np.asarray(levels)
    if lev.ndim != 2:
        raise ValueError(f"levels must be a 2-D grid, got shape {lev.shape}")
    valid = (lev >= Level.NONE) & (lev <= Level.RED)
    return np.where(valid, lev, NODATA_U8).astype(np.uint8)


def colourise(levels_u8: np.ndarray) -> np.ndarray:
    """RGBA bands (4, rows, cols) of a uint8 level grid; unknown values are transparent."""
    return np.moveaxis(PALETTE[np.asarray(levels_u8, dtype=np.uint8)], -1, 0)


def png_bytes(rgba: np.ndarray) -> bytes:
    """PNG of RGBA bands (4, rows, cols), written by rasterio's PNG driver."""
    _, rows, cols = rgba.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)   # a tile has no CRS
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as mem:
            with mem.open(driver="PNG", width=cols, height=rows, count=4, dtype="uint8") as dst:
                dst.write(rgba)
            return mem.read()


@functools.cache
def empty_tile(size: int = TILE_SIZE) -> bytes:
    """A fully transparent PNG tile."""
    return png_bytes(np.zeros((4, size, size), dtype=np.uint8))


def _grid_lonlat_bounds(transform: Affine, crs: CRS,
                        shape: tuple[int, int]) -> tuple[float, float, float, float]:
    rows, cols = shape
    xs, ys = zip(*(transform @ c for c in ((0, 0), (cols, 0), (0, rows), (cols, rows))),
                 strict=True)
    return transform_bounds(crs, WGS84, min(xs), min(ys), max(xs), max(ys))


def render_tile(levels: np.ndarray, transform: Affine, crs: CRS, z: int, x: int, y: int,
                *, size: int = TILE_SIZE) -> bytes:
    """PNG bytes of tile (z, x, y) of a level grid (0..4, anything else = no data)."""
    _check_tile(z, x, y)
    west, south, east, north = tile_lonlat_bounds(z, x, y)
    gw, gs, ge, gn = _grid_lonlat_bounds(transform, crs, np.shape(levels))
    if west >= ge or east <= gw or south >= gn or north <= gs:
        return empty_tile(size)
    out = np.full((size, size), NODATA_U8, dtype=np.uint8)
    reproject(source=_as_u8(levels), destination=out, src_transform=transform,
              src_crs=CRS.from_user_input(crs), src_nodata=NODATA_U8,
              dst_transform=_tile_transform(z, x, y, size),
              dst_crs=WEB_MERCATOR, dst_nodata=NODATA_U8, resampling=Resampling.max)
    if not ((out >= Level.BLUE) & (out <= Level.RED)).any():
        return empty_tile(size)
    return png_bytes(colourise(out))


# ---------------------------------------------------------------- COG


def write_cog(levels: np.ndarray, transform: Affine, crs: CRS,
              path: str | Path | None = None, *, blocksize: int = 256) -> bytes | None:
    """Write the level grid as a Cloud-Optimized GeoTIFF to ``path``, or return its bytes.

    uint8 levels 0..4, 255 = no data, DEFLATE, tiles of ``blocksize`` and
    overviews down to one tile, with the warning colours as its colour table.
    """
    data = _as_u8(levels)
    rows, cols = data.shape
    profile = {"driver": "COG", "width": cols, "height": rows, "count": 1, "dtype": "uint8",
               "crs": CRS.from_user_input(crs), "transform": transform, "nodata": NODATA_U8,
               "BLOCKSIZE": blocksize, "COMPRESS": "DEFLATE", "OVERVIEW_RESAMPLING": "MODE"}
    colormap = {int(level): rgba for level, rgba in LEVEL_RGBA.items()}
    colormap[NODATA_U8] = TRANSPARENT
    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        if path is not None:
            with rasterio.open(Path(path), "w", **profile) as dst:
                dst.write(data, 1)
                dst.write_colormap(1, colormap)
            return None
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(data, 1)
                dst.write_colormap(1, colormap)
            return mem.read()
