"""The one interface every raster reader implements (cf. xarray's ``BackendEntrypoint``).

A reader opens its file in ``__init__`` (use it as a context manager), knows
its ``meta`` at once, and reads any window as a float array with NaN for no
data. Everything else (whole-grid reads, sampling, reprojection) is written
once against this interface, so GeoTIFF, NetCDF and HDF5 are interchangeable.
Readers trust their location: ``geo.rasters.open_raster`` is the entry point
that checks the policy (roots, size, CRS, territory) first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from types import TracebackType
from typing import ClassVar, Self

import numpy as np
from rasterio.windows import Window

from geo.rasters.errors import RasterTooLargeError
from geo.rasters.grid import RasterGrid, RasterMeta


class RasterSource(ABC):
    """An open raster: metadata now, values by window."""

    format_name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    meta: RasterMeta

    @classmethod
    @abstractmethod
    def guess_can_open(cls, location: str, head: bytes) -> bool:
        """Whether this reader handles ``location`` whose first bytes are ``head``
        (empty for remote URLs)."""

    @abstractmethod
    def _read(self, window: Window) -> np.ndarray:
        """Values of an in-bounds ``window`` as floats, NaN where there is no data."""

    @abstractmethod
    def close(self) -> None:
        """Release the file; idempotent."""

    def read_window(self, window: Window) -> np.ndarray:
        """Values of ``window`` (rows north to south), NaN for no data.

        The window must lie inside the grid; it is the caller's unit of memory.
        """
        row_off, col_off = int(window.row_off), int(window.col_off)
        height, width = int(window.height), int(window.width)
        if (row_off < 0 or col_off < 0 or height <= 0 or width <= 0
                or row_off + height > self.meta.height or col_off + width > self.meta.width):
            raise ValueError(f"window {window} is not inside the {self.meta.shape} grid")
        return self._read(Window(col_off, row_off, width, height))

    def read(self, window: Window | None = None, *, max_cells: int | None = None) -> RasterGrid:
        """The whole grid (or ``window``) in memory; refuses more than ``max_cells`` cells."""
        window = window or Window(0, 0, self.meta.width, self.meta.height)
        cells = int(window.width) * int(window.height)
        if max_cells is not None and cells > max_cells:
            raise RasterTooLargeError(
                f"{self.meta.location}: reading {cells:,} cells at once exceeds the limit of "
                f"{max_cells:,}; sample it (geo.rasters.sample_points) or read windows")
        return RasterGrid.from_meta(self.meta, self.read_window(window), window)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.meta
        return f"<{type(self).__name__} {m.location} {m.height}x{m.width} {m.crs} {m.units!r}>"


def to_float(values: np.ndarray, invalid: np.ndarray | None = None) -> np.ndarray:
    """``values`` as float32/float64 with NaN where ``invalid`` (no copy if already float)."""
    dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.float64
    if values.dtype.itemsize <= 2 and values.dtype.kind in "iub":
        dtype = np.float32        # exact for 8/16-bit integers, half the memory
    out = values.astype(dtype, copy=False)
    if invalid is not None and invalid.any():
        out = out.copy() if out is values else out
        out[invalid] = np.nan
    return out


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from ISO 8601 text, ``YYYYMMDD`` (MintPy) or numpy datetime64; None if empty.

    Naive times are taken as UTC: raster products are stamped in UTC.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, np.datetime64):
        value = np.datetime_as_string(value.astype("datetime64[us]"))
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.isdigit() and len(text) == 8:
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
