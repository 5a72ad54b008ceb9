"""Regional landslide nowcast: susceptibility class x rainfall class -> warning level per cell.

In the spirit of NASA's LHASA (Kirschbaum & Stanley 2018): a cell is in
danger when the ground is susceptible *and* it has rained unusually much for
that place. "Unusually" is local: the current antecedent rainfall (e.g. the
last 7 days, mm) divided by the cell's own high percentile of that
accumulation in the climatology (LHASA 1.0 uses the 95th percentile of 7-day
antecedent rainfall from IMERG). LHASA 1.0 raises "moderate" hazard where
that ratio exceeds 1 on moderate susceptibility and "high" on high
susceptibility; LHASA 2.0 (Stanley et al. 2021) replaces the decision tree by
a trained model of the same inputs. Here a configurable matrix maps
(susceptibility class, rainfall class) to the national levels none..red.

The default matrix below follows LHASA 1.0 (nothing below moderate
susceptibility, more rain and steeper ground never lower the level) with two
extra attention (blue) cells for highly susceptible ground at 50-100 % of the
percentile. It is a national starting point: provinces calibrate it against
their landslide inventories.

All functions are pure and NaN-safe: a cell without susceptibility, rainfall
or climatology gets ``LEVEL_NODATA`` (-1), which is not level "none" (0).

References:
    Kirschbaum, D., Stanley, T. (2018). Satellite-based assessment of
        rainfall-triggered landslide hazard for situational awareness.
        Earth's Future 6, 505-523.
    Stanley, T.A., Kirschbaum, D.B., Benz, G., Emberson, R.A., Amatya, P.M.,
        Medwedeff, W., Clark, M.K. (2021). Data-driven landslide nowcasting at
        the global scale. Frontiers in Earth Science 9, 640043.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warning_models.levels import Level

MODEL_NAME = "nowcast"
MODEL_VERSION = "nowcast-lhasa-1.0"
REQUIRES_INPUTS = ("susceptibility", "antecedent_mm", "percentile_mm")
CITATION = ("Kirschbaum & Stanley (2018) Earth's Future 6:505-523; "
            "Stanley et al. (2021) Front. Earth Sci. 9:640043")

LEVEL_NODATA = -1
"""Level-grid value for cells without data (int8 grids); distinct from Level.NONE."""

DEFAULT_MATRIX: tuple[tuple[int, ...], ...] = (
    # rainfall ratio:  <0.5  0.5-1  1-1.5  >=1.5       susceptibility class
    (0, 0, 0, 0),   # very low
    (0, 0, 0, 1),   # low
    (0, 0, 1, 2),   # moderate
    (0, 1, 2, 3),   # high
    (0, 1, 3, 4),   # very high
)


def _increasing(name: str, bounds: tuple[float, ...]) -> None:
    if any(b2 <= b1 for b1, b2 in pairwise(bounds)):
        raise ValueError(f"{name} must increase strictly, got {bounds}")


class NowcastParams(BaseModel):
    """Class bounds and the level matrix; a class holds values >= its lower bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    susceptibility_bounds: tuple[float, ...] = Field(
        (0.2, 0.4, 0.6, 0.8), min_length=1, max_length=10,
        description="lower bounds (index 0..1) of susceptibility classes 1..n")
    rainfall_bounds: tuple[float, ...] = Field(
        (0.5, 1.0, 1.5), min_length=1, max_length=10,
        description="lower bounds of rainfall classes 1..n, as antecedent / percentile")
    min_percentile_mm: float = Field(
        1.0, gt=0, le=1000, allow_inf_nan=False,
        description="floor on the climatological percentile (mm): dry cells do not divide by ~0")
    matrix: tuple[tuple[int, ...], ...] = Field(
        DEFAULT_MATRIX, description="level by [susceptibility class][rainfall class]")

    @model_validator(mode="after")
    def _check(self) -> NowcastParams:
        _increasing("susceptibility_bounds", self.susceptibility_bounds)
        _increasing("rainfall_bounds", self.rainfall_bounds)
        if not all(0 < b < 1 for b in self.susceptibility_bounds):
            raise ValueError("susceptibility_bounds must lie strictly between 0 and 1")
        if not all(b > 0 for b in self.rainfall_bounds):
            raise ValueError("rainfall_bounds must be positive")
        m = np.asarray(self.matrix)
        shape = (len(self.susceptibility_bounds) + 1, len(self.rainfall_bounds) + 1)
        if m.ndim != 2 or m.shape != shape:
            raise ValueError(f"matrix must be {shape[0]} x {shape[1]} (susceptibility classes x "
                             f"rainfall classes), got {m.shape}")
        if m.min() < Level.NONE or m.max() > Level.RED:
            raise ValueError(f"matrix levels must lie in {int(Level.NONE)}..{int(Level.RED)}")
        if (np.diff(m, axis=0) < 0).any() or (np.diff(m, axis=1) < 0).any():
            raise ValueError("matrix levels must not decrease with more susceptibility or rain")
        return self


def antecedent_rainfall(daily_mm: np.ndarray, days: int = 7) -> np.ndarray:
    """Sum of the last ``days`` daily grids (axis 0 = time, oldest first), mm.

    A cell with any missing day in the window is NaN: a partial sum would
    understate the rain and hide a warning.
    """
    p = np.asarray(daily_mm, dtype=float)
    if p.ndim != 3:
        raise ValueError(f"daily_mm must be (days, rows, cols), got shape {p.shape}")
    if not 1 <= days <= p.shape[0]:
        raise ValueError(f"need {days} daily grids, got {p.shape[0]}")
    return p[-days:].sum(axis=0)


def rainfall_index(antecedent_mm: np.ndarray, percentile_mm: np.ndarray,
                   min_percentile_mm: float = 1.0) -> np.ndarray:
    """Antecedent rainfall relative to the cell's climatological percentile (dimensionless).

    1.0 means "as wet as the local 95th percentile" (Kirschbaum & Stanley
    2018). The percentile is floored at ``min_percentile_mm``; negative or
    missing values give NaN.
    """
    rain = np.asarray(antecedent_mm, dtype=float)
    clim = np.asarray(percentile_mm, dtype=float)
    with np.errstate(invalid="ignore"):
        valid = (rain >= 0) & (clim >= 0)
    return np.where(valid, rain / np.maximum(np.where(valid, clim, 1.0), min_percentile_mm),
                    np.nan)


def classify(values: np.ndarray, bounds: tuple[float, ...]) -> np.ndarray:
    """Class 0..len(bounds) of each value (class i holds ``bounds[i-1] <= x < bounds[i]``); -1 for NaN."""
    x = np.asarray(values, dtype=float)
    classes = np.digitize(np.nan_to_num(x, nan=-np.inf), np.asarray(bounds, dtype=float))
    return np.where(np.isnan(x), -1, classes).astype(np.int8)


def level_grid(susceptibility_class: np.ndarray, rainfall_class: np.ndarray,
               matrix: tuple[tuple[int, ...], ...] = DEFAULT_MATRIX) -> np.ndarray:
    """Level (int8, 0..4) of each cell from the matrix; ``LEVEL_NODATA`` where a class is -1."""
    s = np.asarray(susceptibility_class, dtype=np.int64)
    r = np.asarray(rainfall_class, dtype=np.int64)
    m = np.asarray(matrix, dtype=np.int8)
    if s.shape != r.shape:
        raise ValueError(f"class grids differ in shape: {s.shape} and {r.shape}")
    nodata = (s < 0) | (r < 0)
    if (s >= m.shape[0]).any() or (r >= m.shape[1]).any():
        raise ValueError(f"class outside the {m.shape[0]} x {m.shape[1]} matrix")
    levels = m[np.where(nodata, 0, s), np.where(nodata, 0, r)]
    return np.where(nodata, LEVEL_NODATA, levels).astype(np.int8)


@dataclass(frozen=True)
class NowcastResult:
    levels: np.ndarray                  # int8, 0..4, LEVEL_NODATA where no data
    susceptibility_class: np.ndarray    # int8, -1 where no data
    rainfall_index: np.ndarray          # antecedent / percentile, NaN where no data
    rainfall_class: np.ndarray          # int8, -1 where no data
    params: NowcastParams

    def evidence(self) -> dict[str, Any]:
        """Cell counts per level and the parameters, for the regional warning's record."""
        counts = np.bincount(self.levels[self.levels >= 0].ravel(), minlength=len(Level))
        wet = self.rainfall_index[np.isfinite(self.rainfall_index)]
        return {
            "model": MODEL_NAME, "model_version": MODEL_VERSION, "citation": CITATION,
            "params": self.params.model_dump(),
            "cells_by_level": {Level(i).label: int(n) for i, n in enumerate(counts)},
            "cells_without_data": int((self.levels == LEVEL_NODATA).sum()),
            "max_rainfall_index": float(wet.max()) if wet.size else None,
        }


def nowcast(susceptibility: np.ndarray, antecedent_mm: np.ndarray, percentile_mm: np.ndarray,
            params: NowcastParams | None = None) -> NowcastResult:
    """Levels over a grid from susceptibility (0..1), antecedent rainfall and its percentile (mm).

    ``susceptibility`` comes from ``susceptibility.susceptibility_index`` or a
    supplied map on the same 0..1 scale; values outside it are refused,
    because a map on another scale (e.g. classes 1..5) would be misread.
    """
    params = params or NowcastParams()
    susc = np.asarray(susceptibility, dtype=float)
    rain = np.asarray(antecedent_mm, dtype=float)
    clim = np.asarray(percentile_mm, dtype=float)
    if not (susc.shape == rain.shape == clim.shape):
        raise ValueError(f"grids differ in shape: susceptibility {susc.shape}, "
                         f"antecedent {rain.shape}, percentile {clim.shape}")
    finite = susc[np.isfinite(susc)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(f"susceptibility must lie in 0..1, got {finite.min()}..{finite.max()}")
    s_class = classify(susc, params.susceptibility_bounds)
    index = rainfall_index(rain, clim, params.min_percentile_mm)
    r_class = classify(index, params.rainfall_bounds)
    return NowcastResult(levels=level_grid(s_class, r_class, params.matrix),
                         susceptibility_class=s_class, rainfall_index=index,
                         rainfall_class=r_class, params=params)
