"""The nowcast's memory between rasters: grid geometry, regridding, daily rainfall per cell.

The regional nowcast needs the effective antecedent rainfall of every cell
(P_e = sum_i K^i P_i, warning_models.rainfall), so the raster worker keeps,
per cell of the observed rainfall grid, the rain of each of the last ``days``
days (newest first) and the valid times of the rasters already added. That
list makes adding idempotent: a redelivered announcement adds nothing twice.

Days are counted in a fixed offset from UTC (default +8 h, Beijing time, as
China's meteorological service counts them); a raster's rain belongs to the
day holding the end of its interval. A day without any raster holds 0 mm:
after a restart on an empty state the index starts low, never invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from geo.rasters import RasterGrid
from warning_models.rainfall import effective_antecedent_rainfall

NS_PER_DAY = 86_400 * 1_000_000_000
TRANSFORM_TOLERANCE = 1e-6
"""Relative tolerance (of a cell size) under which two grids count as the same grid."""


@dataclass(frozen=True)
class GridRef:
    """Where a grid's cells are: transform, CRS and shape (rows, cols)."""

    transform: Affine
    crs: CRS
    shape: tuple[int, int]

    @classmethod
    def of(cls, grid: RasterGrid) -> GridRef:
        return cls(grid.transform, grid.crs, grid.shape)

    def matches(self, other: GridRef) -> bool:
        cell = max(abs(self.transform.a), abs(self.transform.e))
        return (self.shape == other.shape and self.crs == other.crs
                and np.allclose(tuple(self.transform)[:6], tuple(other.transform)[:6],
                                rtol=0, atol=cell * TRANSFORM_TOLERANCE))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"transform": np.asarray(tuple(self.transform)[:6], dtype=float),
                "crs": np.asarray(self.crs.to_wkt()), "shape": np.asarray(self.shape, np.int64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GridRef:
        rows, cols = (int(v) for v in arrays["shape"])
        return cls(Affine(*arrays["transform"].tolist()), CRS.from_wkt(str(arrays["crs"])),
                   (rows, cols))


def regrid(data: np.ndarray, source: GridRef, target: GridRef,
           resampling: Resampling = Resampling.bilinear) -> np.ndarray:
    """``data`` on ``source`` resampled onto ``target`` (float32, NaN outside or without data)."""
    if source.matches(target):
        return np.asarray(data, dtype=np.float32)
    out = np.full(target.shape, np.nan, dtype=np.float32)
    reproject(source=np.asarray(data, dtype=np.float32), destination=out,
              src_transform=source.transform, src_crs=source.crs, src_nodata=np.nan,
              dst_transform=target.transform, dst_crs=target.crs, dst_nodata=np.nan,
              resampling=resampling)
    return out


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime."""
    return round(moment.timestamp() * 1_000_000) * 1000


def day_number(valid_ns: int, offset_hours: float) -> int:
    """The day (counted from 1970-01-01 at the offset) holding the end of a raster's interval."""
    return (valid_ns - 1 + int(offset_hours * 3600 * 1_000_000_000)) // NS_PER_DAY


@dataclass(frozen=True, eq=False)
class RainState:
    """Daily rainfall (mm, float32) per cell over ``days`` days, newest (``last_day``) first."""

    grid: GridRef
    last_day: int
    daily_mm: np.ndarray          # (days, rows, cols)
    stamps_ns: np.ndarray         # int64, sorted: valid times already added

    @classmethod
    def empty(cls, grid: GridRef, days: int, day: int) -> RainState:
        return cls(grid, day, np.zeros((days, *grid.shape), dtype=np.float32),
                   np.zeros(0, dtype=np.int64))

    @property
    def days(self) -> int:
        return int(self.daily_mm.shape[0])

    @property
    def newest_ns(self) -> int | None:
        return int(self.stamps_ns[-1]) if self.stamps_ns.size else None

    def holds(self, valid_ns: int) -> bool:
        """Whether the raster valid at ``valid_ns`` was already added."""
        return bool(np.isin(valid_ns, self.stamps_ns))

    def within(self, day: int) -> bool:
        """Whether ``day`` is inside the window (or newer than it)."""
        return day > self.last_day - self.days

    def add(self, rain_mm: np.ndarray, valid_ns: int, day: int) -> RainState:
        """A new state with ``rain_mm`` (mm over the raster's interval; NaN adds nothing) added.

        The window moves forward when ``day`` is newer than ``last_day``. The
        caller checks ``holds`` and ``within`` first.
        """
        rain = np.asarray(rain_mm, dtype=np.float32)
        if rain.shape != self.grid.shape:
            raise ValueError(f"rain grid {rain.shape} differs from the state grid {self.grid.shape}")
        if not self.within(day):
            raise ValueError(f"day {day} is older than the {self.days}-day window")
        shift = max(0, day - self.last_day)
        daily = np.zeros_like(self.daily_mm)
        if shift < self.days:
            daily[shift:] = self.daily_mm[:self.days - shift]
        last_day = self.last_day + shift
        daily[last_day - day] += np.nan_to_num(rain, nan=0.0)
        stamps = np.union1d(self.stamps_ns, np.asarray([valid_ns], dtype=np.int64))
        oldest = (last_day - self.days + 1) * NS_PER_DAY
        return RainState(self.grid, last_day, daily, stamps[stamps >= oldest - NS_PER_DAY])

    def antecedent_mm(self, k: float) -> np.ndarray:
        """Effective antecedent rainfall P_e (mm) per cell, with decay K per day."""
        cells = self.daily_mm.reshape(self.days, -1).T
        return effective_antecedent_rainfall(cells, k).reshape(self.grid.shape)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self.grid.to_arrays(), "last_day": np.asarray(self.last_day, np.int64),
                "daily_mm": self.daily_mm, "stamps_ns": self.stamps_ns}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RainState:
        return cls(GridRef.from_arrays(arrays), int(arrays["last_day"]),
                   arrays["daily_mm"].astype(np.float32, copy=False),
                   arrays["stamps_ns"].astype(np.int64, copy=False))
