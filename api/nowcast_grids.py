"""The newest nowcast level grids as the raster worker publishes them, for tiles and downloads.

The worker renames a complete COG into place (``store.rasters.nowcast_cog_path``),
so a file that exists is whole. Each grid is read into memory once per file
version (mtime, size and inode: a rename always changes the inode) and shared
by every tile request until the next version appears.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from store.rasters import nowcast_cog_path


@dataclass(frozen=True, eq=False)
class LevelGrid:
    """A level grid (uint8 0..4, 255 no data) and the version of the file it came from."""

    version: str
    levels: np.ndarray
    transform: Affine
    crs: CRS


class NowcastGrids:
    """Reads ``<directory>/latest.tif`` (observed) and ``forecast.tif`` on demand, cached."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, LevelGrid] = {}
        self._lock = threading.Lock()

    def path(self, kind: str) -> Path:
        return nowcast_cog_path(self.directory, kind)

    def version(self, kind: str) -> str | None:
        """An opaque version of the current file (usable as an ETag); None if there is none."""
        try:
            stat = os.stat(self.path(kind))
        except FileNotFoundError:
            return None
        return f"{stat.st_mtime_ns:x}-{stat.st_size:x}-{stat.st_ino:x}"

    def grid(self, kind: str) -> LevelGrid | None:
        """The current grid of ``kind``, or None before the first nowcast."""
        version = self.version(kind)
        if version is None:
            return None
        cached = self._cache.get(kind)
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._cache.get(kind)
            if cached is not None and cached.version == version:
                return cached
            try:
                with rasterio.open(self.path(kind)) as dataset:
                    grid = LevelGrid(version, dataset.read(1), dataset.transform, dataset.crs)
            except (FileNotFoundError, rasterio.errors.RasterioIOError):
                return None
            if self.version(kind) == version:     # not replaced while it was being read
                self._cache[kind] = grid
            return grid
