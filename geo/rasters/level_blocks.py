"""A level grid written block by block, then published as a Cloud-Optimized GeoTIFF.

GDAL's COG driver only copies a finished dataset, so the blocks go first
into a tiled GeoTIFF (windowed writes, each block on disk as soon as it is
computed) and ``to_cog`` copies that into a COG: tiles, DEFLATE, overviews
by mode and the warning colours, as ``geo.tiles.write_cog`` writes a grid
held in memory. GDAL streams the copy through its block cache, so memory
stays at a few blocks whatever the grid's size.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geo.tiles import LEVEL_RGBA, NODATA_U8, TRANSPARENT
from warning_models.levels import Level

__all__ = ["LevelBlockWriter"]

BLOCK = 256


class LevelBlockWriter:
    """Levels (int, 0..4, anything else no data) written block by block to ``path``."""

    def __init__(self, path: Path, transform: Affine, crs: CRS, shape: tuple[int, int]) -> None:
        rows, cols = shape
        profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1,
                   "dtype": "uint8", "crs": CRS.from_user_input(crs), "transform": transform,
                   "nodata": NODATA_U8, "tiled": True, "blockxsize": BLOCK,
                   "blockysize": BLOCK, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        self.path = Path(path)
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            self._dst = rasterio.open(self.path, "w", **profile)
        # every cell starts as no data: a block never written shows nothing, never level none
        self._dst.write_colormap(1, {**{int(level): rgba for level, rgba in LEVEL_RGBA.items()},
                                     NODATA_U8: TRANSPARENT})

    def write(self, levels: np.ndarray, row0: int, col0: int) -> None:
        lev = np.asarray(levels)
        valid = (lev >= Level.NONE) & (lev <= Level.RED)
        data = np.where(valid, lev, NODATA_U8).astype(np.uint8)
        self._dst.write(data, 1, window=Window(col0, row0, data.shape[1], data.shape[0]))

    def close(self) -> None:
        if not self._dst.closed:
            self._dst.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def to_cog(self, target: Path, *, blocksize: int = BLOCK) -> None:
        """Copy the finished grid to ``target`` as a COG (the writer is closed first)."""
        self.close()
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            rasterio.shutil.copy(self.path, target, driver="COG", BLOCKSIZE=blocksize,
                                 COMPRESS="DEFLATE", OVERVIEW_RESAMPLING="MODE")
