"""GeoTIFF and Cloud-Optimized GeoTIFF through rasterio (local paths and s3:// URLs).

Only GDAL's GTiff driver is allowed, so a renamed PNG or a VRT that points
at arbitrary files is refused rather than opened by another driver. Nodata
values, internal masks and alpha bands become NaN; scale/offset metadata is
applied. A cheap check at open compares the last block's offset with the
file size, so a truncated COG (header intact, data cut) fails before use.
"""

from __future__ import annotations

import os
from datetime import datetime

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from geo.rasters.base import RasterSource, parse_time, to_float
from geo.rasters.errors import (
    CorruptRasterError,
    RasterError,
    RasterNotFoundError,
    UnsupportedFormatError,
)
from geo.rasters.grid import RasterMeta

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
TIME_TAGS = ("valid_at", "valid_time", "VALID_TIME", "time")


class GeoTiffSource(RasterSource):
    """One band of a GeoTIFF/COG. ``valid_at`` overrides the file's time tag."""

    format_name = "GeoTIFF"
    suffixes = (".tif", ".tiff", ".cog")

    @classmethod
    def guess_can_open(cls, location: str, head: bytes) -> bool:
        if head:
            return head[:4] in TIFF_MAGIC
        return location.lower().endswith(cls.suffixes)

    def __init__(self, location: str, *, band: int = 1, valid_at: datetime | None = None) -> None:
        self._remote = "://" in location
        try:
            with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
                # NUM_THREADS: GTiff decodes the blocks of one read in parallel.
                self._ds = rasterio.open(location, driver="GTiff", NUM_THREADS="ALL_CPUS")
        except RasterioIOError as exc:
            raise _open_error(location, self._remote, exc) from exc
        try:
            if not 1 <= band <= self._ds.count:
                raise UnsupportedFormatError(f"{location}: has {self._ds.count} band(s), no band {band}")
            self._band = band
            if not self._remote:
                _check_blocks(self._ds, location)
            self.meta = self._describe(location, valid_at)
            self._flags = self._ds.mask_flag_enums[band - 1]
            self._nodata = self._ds.nodatavals[band - 1]
            self._scale = self._ds.scales[band - 1]
            self._offset = self._ds.offsets[band - 1]
        except BaseException:
            self._ds.close()
            raise

    def _describe(self, location: str, valid_at: datetime | None) -> RasterMeta:
        ds, band = self._ds, self._band
        tags = ds.tags() | ds.tags(band)
        units = ds.units[band - 1] or tags.get("units") or tags.get("UNITS") or ""
        if valid_at is None:
            valid_at = next((t for t in (parse_time(tags.get(k)) for k in TIME_TAGS) if t), None)
        return RasterMeta(
            location=location, format=self.format_name, height=ds.height, width=ds.width,
            transform=ds.transform, crs=ds.crs, units=units, valid_at=valid_at,
            block_shape=tuple(ds.block_shapes[band - 1]), variable=f"band {band}",
            attrs={k: str(v) for k, v in tags.items()})

    def _read(self, window: Window) -> np.ndarray:
        ds, band = self._ds, self._band
        try:
            values = ds.read(band, window=window)
            if MaskFlags.all_valid in self._flags:
                invalid = None
            elif MaskFlags.nodata in self._flags and self._nodata is not None:
                invalid = np.isnan(values) if np.isnan(self._nodata) else values == self._nodata
            else:
                invalid = ds.read_masks(band, window=window) == 0
        except RasterioError as exc:
            raise CorruptRasterError(f"{self.meta.location}: cannot read {window}: {exc}") from exc
        out = to_float(values, invalid)
        if self._scale != 1.0 or self._offset != 0.0:
            out = out * self._scale + self._offset
        return out

    def close(self) -> None:
        self._ds.close()


def _open_error(location: str, remote: bool, exc: RasterioIOError) -> RasterError:
    text = str(exc)
    if "not recognized as" in text or "not recognised as" in text:
        return UnsupportedFormatError(f"{location}: not a GeoTIFF ({text})")
    if remote:
        return RasterNotFoundError(f"{location}: cannot open ({text})")
    return CorruptRasterError(f"{location}: damaged or truncated GeoTIFF ({text})")


def _check_blocks(ds: rasterio.io.DatasetReader, location: str) -> None:
    """Refuse a file whose first or last block lies beyond its end (truncated download)."""
    size = os.path.getsize(location)
    rows, cols = ds.block_shapes[0]
    last = ((ds.width - 1) // cols, (ds.height - 1) // rows)
    for x, y in ((0, 0), last):
        offset = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=1)
        length = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=1)
        if offset and length and int(offset) + int(length) > size:
            raise CorruptRasterError(
                f"{location}: truncated: block ({x}, {y}) ends at byte {int(offset) + int(length):,} "
                f"but the file has {size:,} bytes")
