"""Choose a reader for a location, open it, and refuse it early if the policy says no.

Formats are recognised by their first bytes (TIFF, HDF5, netCDF-3 magic)
and then the suffix, never by the suffix alone, so a renamed file fails with
``UnsupportedFormatError`` rather than deep inside a driver. Remote URLs
(s3://) have no bytes to sniff and go to rasterio by suffix.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from geo.rasters.base import RasterSource
from geo.rasters.errors import CorruptRasterError, UnsupportedFormatError
from geo.rasters.geotiff import GeoTiffSource
from geo.rasters.grid import RasterGrid
from geo.rasters.mintpy import MintPySource
from geo.rasters.netcdf import NetCdfSource
from geo.rasters.policy import RasterPolicy, check_meta, resolve_location

READERS: tuple[type[RasterSource], ...] = (GeoTiffSource, NetCdfSource, MintPySource)
SUPPORTED = "GeoTIFF/COG (.tif), CF NetCDF (.nc) or MintPy HDF5 (.h5)"


def open_raster(location: str | Path, policy: RasterPolicy, *, band: int = 1,
                variable: str | None = None, time_index: int | None = None,
                valid_at: datetime | None = None) -> RasterSource:
    """Open and validate a raster; use the result as a context manager.

    ``band`` applies to GeoTIFF, ``variable`` and ``time_index`` to NetCDF and
    MintPy; ``valid_at`` (e.g. from a RasterAnnouncement) overrides the
    file's own time. Raises a ``RasterError`` subclass naming the problem.
    """
    checked = resolve_location(location, policy)
    head = b"" if "://" in checked else _head(checked)
    reader = next((r for r in READERS if r.guess_can_open(checked, head)), None)
    if reader is None:
        raise UnsupportedFormatError(f"{location}: unsupported format; expected {SUPPORTED}")
    if reader is GeoTiffSource:
        source: RasterSource = GeoTiffSource(checked, band=band, valid_at=valid_at)
    else:
        source = reader(checked, variable=variable, time_index=time_index,  # type: ignore[call-arg]
                        valid_at=valid_at)
    try:
        check_meta(source.meta, policy)
    except BaseException:
        source.close()
        raise
    return source


def read_raster(location: str | Path, policy: RasterPolicy, **options: object) -> RasterGrid:
    """The whole grid in memory (at most ``policy.max_read_cells`` cells); file closed after."""
    with open_raster(location, policy, **options) as source:  # type: ignore[arg-type]
        return source.read(max_cells=policy.max_read_cells)


def _head(path: str) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CorruptRasterError(f"{path}: empty file")
    return head
