"""Susceptibility for the nowcast: a supplied 0..1 map, or one derived from a DEM.

A province's own susceptibility map is taken as it is, after checking that
it really is an index on 0..1 (a map of classes 1..5 would be misread as
"everything very high"). A DEM becomes slope by Horn's method and slope an
index through warning_models.susceptibility (cell sizes in metres: per row
on geographic grids). Either way the result is kept as the one current grid,
written atomically beside the rain state, and resampled onto the rainfall
grid at every nowcast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geo.rasters import RasterGrid
from streams.raster_files import Plan, load_arrays
from streams.raster_nowcast import Susceptibility
from streams.raster_state import GridRef
from warning_models.susceptibility import (
    SusceptibilityParams,
    geographic_cell_size_m,
    slope_degrees,
    susceptibility_index,
)

ELEVATION_UNITS = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0,
                   "km": 1000.0, "ft": 0.3048, "feet": 0.3048}
INDEX_UNITS = {"": 1.0, "1": 1.0, "index": 1.0, "fraction": 1.0, "dimensionless": 1.0,
               "%": 0.01, "percent": 0.01}


class SusceptibilityInputError(ValueError):
    """A susceptibility or DEM raster that cannot be used as announced."""


def _factor(table: dict[str, float], units: str, what: str) -> float:
    factor = table.get(units.strip().lower())
    if factor is None:
        raise SusceptibilityInputError(f"{what} units {units!r} are not understood; use one of "
                                       f"{', '.join(repr(u) for u in table)}")
    return factor


def from_index_units(units: str) -> float:
    """Multiplier from the announced units of a susceptibility map to an index on 0..1."""
    return _factor(INDEX_UNITS, units, "susceptibility")


def dem_units(units: str) -> float:
    """Multiplier from the announced units of a DEM to metres."""
    return _factor(ELEVATION_UNITS, units, "DEM")


def from_index(grid: RasterGrid, units: str, source: str) -> Susceptibility:
    """A supplied susceptibility map, refused unless its values lie in 0..1."""
    data = np.asarray(grid.data, dtype=np.float64) * from_index_units(units)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        raise SusceptibilityInputError(f"{source}: the susceptibility grid holds no values")
    if finite.min() < 0 or finite.max() > 1:
        raise SusceptibilityInputError(
            f"{source}: susceptibility must lie in 0..1, found {finite.min():g}..{finite.max():g} "
            "(a classified map must be rescaled to an index first)")
    return Susceptibility(data.astype(np.float32), GridRef.of(grid), source)


def from_dem(grid: RasterGrid, units: str, source: str,
             params: SusceptibilityParams | None = None) -> Susceptibility:
    """Slope (Horn 1981) of a DEM mapped to a susceptibility index."""
    elevation = np.asarray(grid.data, dtype=np.float64) * dem_units(units)
    t = grid.transform
    if t.b != 0 or t.d != 0:
        raise SusceptibilityInputError(f"{source}: rotated DEM grids are not supported")
    if grid.crs.is_geographic:
        rows = np.arange(grid.height) + 0.5
        dx, dy = geographic_cell_size_m(t.f + t.e * rows, t.a, t.e)
    else:
        unit = grid.crs.linear_units_factor[1]
        dx, dy = abs(t.a) * unit, abs(t.e) * unit
    slope = slope_degrees(elevation, dx, dy)
    index = susceptibility_index(slope, params=params or SusceptibilityParams())
    return Susceptibility(index.astype(np.float32), GridRef.of(grid), source)


def plan_susceptibility(susceptibility: Susceptibility, path: Path) -> Plan:
    """Stage the grid as the current susceptibility (published after the commit)."""
    plan = Plan(summary=f"susceptibility grid {susceptibility.grid.shape[0]} x "
                        f"{susceptibility.grid.shape[1]} from {susceptibility.source}")
    plan.files.save_arrays(path, {**susceptibility.grid.to_arrays(),
                                  "data": susceptibility.data,
                                  "source": np.asarray(susceptibility.source)})
    return plan


def load_susceptibility(path: Path) -> Susceptibility | None:
    arrays = load_arrays(path)
    if arrays is None:
        return None
    return Susceptibility(arrays["data"], GridRef.from_arrays(arrays), str(arrays["source"]))
