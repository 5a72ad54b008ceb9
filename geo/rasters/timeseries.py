"""LOS velocity from a MintPy displacement time series (timeseries.h5), read in row bands.

MintPy's ``timeseries2velocity.py`` fits, per pixel, a line to the
displacement over time (in decimal years) and reports its slope as the
velocity (Yunjun et al. 2019). ``linear_velocity`` is that fit, vectorised
over pixels, on the epochs each pixel has (NaN epochs are skipped, so a
pixel that lost coherence for one acquisition keeps its velocity); a pixel
needs ``min_epochs`` epochs spanning ``min_span_years``, else NaN.

``velocity_from_timeseries`` reads the stack band by band (whole storage
chunks, about ``chunk_cells`` cells x epochs at a time) and accumulates only
the per-pixel sums of the fit, so a stack larger than memory gives its
velocity map with memory of one band plus the output (which may itself be a
memory-mapped file).

Reference:
    Yunjun, Z., Fattahi, H., Amelung, F. (2019). Small baseline InSAR time
        series analysis: unwrapping error correction and noise reduction.
        Computers & Geosciences 133, 104331.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
from rasterio.windows import Window

from geo.rasters.errors import RasterLayoutError
from geo.rasters.grid import RasterGrid
from geo.rasters.mintpy import MintPySource
from geo.rasters.sampling import DEFAULT_CHUNK_CELLS

SECONDS_PER_YEAR = 365.25 * 86_400.0


def decimal_years(dates: list[datetime]) -> np.ndarray:
    """Years (Julian, 365.25 d) since the first date."""
    seconds = np.asarray([d.timestamp() for d in dates], dtype=float)
    return (seconds - seconds[0]) / SECONDS_PER_YEAR


def linear_velocity(displacement: np.ndarray, years: np.ndarray, *, min_epochs: int = 3,
                    min_span_years: float = 0.1) -> np.ndarray:
    """Least-squares slope of displacement over time per pixel (displacement unit per year).

    displacement: (epochs, ...) with NaN where a pixel has no value; years:
    (epochs,) decimal years. NaN where fewer than ``min_epochs`` epochs or a
    shorter span than ``min_span_years`` remain.
    """
    y = np.asarray(displacement, dtype=float)
    t = np.asarray(years, dtype=float).reshape((-1,) + (1,) * (y.ndim - 1))
    sums = _sums(y, t)
    return _slope(*sums, min_epochs=min_epochs, min_span_years=min_span_years)


def _sums(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    y = np.asarray(y, dtype=np.float64)       # float32 files: sums in float64
    ok = np.isfinite(y)
    tt = np.where(ok, t, 0.0)
    yy = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore"):
        t_min = np.where(ok, t, np.inf).min(axis=0)
        t_max = np.where(ok, t, -np.inf).max(axis=0)
    return (ok.sum(axis=0).astype(float), tt.sum(axis=0), (tt * tt).sum(axis=0),
            yy.sum(axis=0), (tt * yy).sum(axis=0), t_min, t_max)


def _slope(n, st, stt, sy, sty, t_min, t_max, *, min_epochs: int,
           min_span_years: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = n * stt - st * st
        slope = (n * sty - st * sy) / denominator
    usable = (n >= min_epochs) & ((t_max - t_min) >= min_span_years) & (denominator > 0)
    return np.where(usable, slope, np.nan)


def velocity_from_timeseries(source: MintPySource, *, chunk_cells: int = DEFAULT_CHUNK_CELLS,
                             min_epochs: int = 3, min_span_years: float = 0.1,
                             out: np.ndarray | None = None
                             ) -> tuple[RasterGrid, list[datetime]]:
    """The velocity map (file unit per year) of an open 3-D MintPy time series, and its dates.

    The grid keeps the file's georeferencing and attributes (reference point)
    with ``FILE_TYPE`` ``velocity`` and its valid time at the last epoch.
    ``out``: a float64 array of the map's shape to fill (e.g. a memory map,
    for a map larger than memory); None: a new array.
    """
    dates = source.epochs
    if len(dates) < min_epochs or any(d is None for d in dates):
        raise RasterLayoutError(f"{source.meta.location}: a displacement time series needs at "
                                f"least {min_epochs} dated epochs, got {len(dates)}")
    order = np.argsort([d.timestamp() for d in dates], kind="stable")
    dated = [dates[i] for i in order]
    years = decimal_years(dated)
    meta = source.meta
    band_rows = max(int(meta.block_shape[0]),
                    int(meta.block_shape[0]) * (chunk_cells // max(1, len(dates) * meta.width)
                                                // max(1, int(meta.block_shape[0]))))
    if out is None:
        out = np.full(meta.shape, np.nan)
    elif out.shape != meta.shape or out.dtype != np.float64:
        raise ValueError(f"out must be float64 of shape {meta.shape}, got {out.dtype} "
                         f"{out.shape}")
    t = years.reshape(-1, 1, 1)
    for r0 in range(0, meta.height, band_rows):
        height = min(band_rows, meta.height - r0)
        stack = source.read_epochs(Window(0, r0, meta.width, height))[order]
        out[r0:r0 + height] = _slope(*_sums(stack, t), min_epochs=min_epochs,
                                     min_span_years=min_span_years)
    grid = RasterGrid.from_meta(replace(meta, valid_at=dated[-1]), out)
    attrs = {**grid.attrs, "FILE_TYPE": "velocity", "START_DATE": dated[0].strftime("%Y%m%d"),
             "END_DATE": dated[-1].strftime("%Y%m%d"), "EPOCHS": str(len(dated))}
    return replace(grid, attrs=attrs), dated
