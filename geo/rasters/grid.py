"""What a reader hands on: the grid's description (``RasterMeta``) and its values (``RasterGrid``).

Both use rasterio's ``Affine`` and ``CRS`` whatever the format, so sampling,
reprojection and tiling never need to know where a grid came from. Values are
floating point with NaN for "no data" (nodata values, masks, fill values,
CF missing values): one convention, so no caller has to remember a sentinel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window


@dataclass(frozen=True)
class RasterMeta:
    """A raster's shape and georeferencing, known after opening and before reading.

    ``transform`` maps (col, row) of cell corners to CRS coordinates; rows run
    north to south (readers flip south-up grids). ``block_shape`` is the
    storage block or chunk (rows, cols): reading whole blocks is cheapest.
    ``valid_at`` is the time the values hold for (UTC), None if the file says
    nothing. ``attrs`` keeps format-specific facts (e.g. MintPy REF_LAT/REF_LON).
    """

    location: str
    format: str
    height: int
    width: int
    transform: Affine
    crs: CRS
    units: str
    valid_at: datetime | None
    block_shape: tuple[int, int]
    variable: str = ""
    attrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def cells(self) -> int:
        return self.height * self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return _bounds(self.transform, self.height, self.width)


@dataclass(frozen=True, eq=False)
class RasterGrid:
    """A 2-D float array with NaN for no data, its transform, CRS, units and valid time."""

    data: np.ndarray
    transform: Affine
    crs: CRS
    units: str = ""
    valid_at: datetime | None = None
    variable: str = ""
    attrs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ValueError(f"a RasterGrid holds a 2-D array, got shape {self.data.shape}")
        if not np.issubdtype(self.data.dtype, np.floating):
            raise ValueError(f"a RasterGrid holds floats (NaN = no data), got {self.data.dtype}")

    @classmethod
    def from_meta(cls, meta: RasterMeta, data: np.ndarray, window: Window | None = None) -> RasterGrid:
        """The values ``data`` read from ``window`` (whole raster if None) of ``meta``'s raster."""
        transform = meta.transform
        if window is not None:
            transform = transform @ Affine.translation(window.col_off, window.row_off)
        return cls(data=data, transform=transform, crs=meta.crs, units=meta.units,
                   valid_at=meta.valid_at, variable=meta.variable, attrs=meta.attrs)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def height(self) -> int:
        return self.data.shape[0]

    @property
    def width(self) -> int:
        return self.data.shape[1]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return _bounds(self.transform, *self.data.shape)

    @property
    def nodata_mask(self) -> np.ndarray:
        """True where the grid has no value."""
        return np.isnan(self.data)

    def masked(self) -> np.ma.MaskedArray:
        """The values as a masked array (for code that prefers masks to NaN)."""
        return np.ma.masked_invalid(self.data, copy=False)


def _bounds(transform: Affine, height: int, width: int) -> tuple[float, float, float, float]:
    xs, ys = zip(*(transform @ corner for corner in
                   ((0, 0), (width, 0), (0, height), (width, height))), strict=True)
    return (min(xs), min(ys), max(xs), max(ys))
