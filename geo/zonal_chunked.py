"""Per-county summaries of a level grid that is never whole in memory, block by block.

``geo.zonal.county_summaries`` needs the whole level grid; a nowcast over a
grid above the memory budget produces its levels one block at a time.
``CountySummaryAccumulator`` takes those blocks in any order and keeps, per
county, only sums: the ground area at each level, the area with data and
the highest level, plus the level at each risk point. Every statistic is a
sum or a maximum over cells, and exactextract weights a cell by the fraction
of it inside the polygon whatever window it is read from, so the table
equals the whole-grid one (shares up to floating-point summation order,
relative difference below 1e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from exactextract import Operation, exact_extract
from exactextract.raster import NumPyRasterSource
from rasterio.crs import CRS

from geo.boundaries import Boundaries
from geo.insar_areas import equal_area_crs, pixel_areas_m2, pixel_index
from geo.zonal import SHARE_COLUMNS, counties_on_grid
from warning_models.levels import Level
from warning_models.nowcast import LEVEL_NODATA

__all__ = ["CountySummaryAccumulator"]


class CountySummaryAccumulator:
    """County table of a level grid fed block by block (``add``), read by ``table``."""

    def __init__(self, transform: Affine, crs: CRS, shape: tuple[int, int],
                 boundaries: Boundaries, *, point_lon: np.ndarray | None = None,
                 point_lat: np.ndarray | None = None,
                 point_population: np.ndarray | None = None,
                 min_level: Level | int = Level.BLUE) -> None:
        if transform.b != 0 or transform.d != 0 or transform.e >= 0:
            raise ValueError("zonal statistics need a north-up grid without rotation")
        self.transform, self.crs, self.shape = transform, CRS.from_user_input(crs), shape
        self.boundaries, self.min_level = boundaries, int(min_level)
        counties = counties_on_grid(boundaries.counties, transform, self.crs, shape)
        self.frame = counties[["adcode", "name", "province_adcode", "geometry"]].reset_index(
            drop=True)
        n = len(self.frame)
        self.level_area = np.zeros((n, len(Level)))
        self.data_area = np.zeros(n)
        self.max_level = np.full(n, LEVEL_NODATA, dtype=np.int64)
        self.lon = np.zeros(0) if point_lon is None else np.asarray(point_lon, dtype=float)
        self.lat = np.zeros(0) if point_lat is None else np.asarray(point_lat, dtype=float)
        self.population = (np.zeros(self.lon.size, dtype=np.int64) if point_population is None
                           else np.asarray(point_population, dtype=np.int64))
        if not (self.lon.size == self.lat.size == self.population.size):
            raise ValueError(f"point arrays differ in length ({self.lon.size}, "
                             f"{self.lat.size}, {self.population.size})")
        self._has_points = point_lon is not None and point_lat is not None
        self.point_row, self.point_col, inside = pixel_index(transform, self.crs, self.lon,
                                                             self.lat, shape)
        self.point_level = np.full(self.lon.size, LEVEL_NODATA, dtype=np.int8)
        self._inside = inside

    def add(self, levels: np.ndarray, row0: int, col0: int) -> None:
        """Fold in the block of ``levels`` (int, -1 no data) whose first cell is (row0, col0)."""
        lev = np.asarray(levels)
        rows, cols = lev.shape
        window_transform = self.transform @ Affine.translation(col0, row0)
        self._points(lev, row0, col0)
        if self.frame.empty or not (lev >= 0).any():
            return
        xmin, ymax = window_transform.c, window_transform.f
        xmax, ymin = xmin + window_transform.a * cols, ymax + window_transform.e * rows
        hits = np.sort(self.frame.sindex.query(shapely.box(xmin, ymin, xmax, ymax),
                                               predicate="intersects"))
        if hits.size == 0:
            return
        wkt = self.crs.to_wkt()
        data = lev >= 0
        # the areas of the block's own rows: pixel_areas_m2 of the shifted transform
        area = np.where(data, np.broadcast_to(
            pixel_areas_m2(window_transform, self.crs, lev.shape), lev.shape), np.nan)
        level_src = NumPyRasterSource(np.where(data, lev, LEVEL_NODATA).astype(np.int16),
                                      xmin, ymin, xmax, ymax, nodata=LEVEL_NODATA,
                                      name="level", srs_wkt=wkt)
        area_src = NumPyRasterSource(area, xmin, ymin, xmax, ymax, name="area", srs_wkt=wkt)
        ops = [Operation("unique", "levels", level_src),
               Operation("weighted_frac", "shares", level_src, area_src),
               Operation("max", "max_level", level_src),
               Operation("sum", "data_area_m2", area_src)]
        part = self.frame.iloc[hits][["adcode", "geometry"]].copy()
        part["row"] = hits
        stats = exact_extract(level_src, part, ops, include_cols=["row"], output="pandas")
        for row, values, fracs, top, covered in zip(
                stats["row"], stats["levels"], stats["shares"], stats["max_level"],
                stats["data_area_m2"], strict=True):
            covered = float(covered) if np.isfinite(covered) else 0.0
            if covered <= 0:
                continue
            self.level_area[row, np.asarray(values, dtype=np.int64)] += \
                np.asarray(fracs, dtype=float) * covered
            self.data_area[row] += covered
            if np.isfinite(top):
                self.max_level[row] = max(self.max_level[row], int(top))

    def _points(self, lev: np.ndarray, row0: int, col0: int) -> None:
        rows, cols = lev.shape
        here = (self._inside & (self.point_row >= row0) & (self.point_row < row0 + rows)
                & (self.point_col >= col0) & (self.point_col < col0 + cols))
        index = np.flatnonzero(here)
        self.point_level[index] = lev[self.point_row[index] - row0, self.point_col[index] - col0]

    def table(self) -> pd.DataFrame:
        """The columns and order of ``geo.zonal.county_summaries``."""
        frame = self.frame
        columns = ["adcode", "name", "province_adcode", "max_level", "max_level_label",
                   *SHARE_COLUMNS, "data_area_m2", "county_area_m2", "data_coverage",
                   "points_at_or_above", "threatened_population"]
        if frame.empty:
            return pd.DataFrame({c: [] for c in columns})
        out = pd.DataFrame({"adcode": frame.adcode.to_numpy(), "name": frame.name.to_numpy(),
                            "province_adcode": frame.province_adcode.to_numpy()})
        out["max_level"] = self.max_level
        out["max_level_label"] = [Level(m).label if m >= 0 else None for m in self.max_level]
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(self.data_area[:, None] > 0,
                              self.level_area / self.data_area[:, None], 0.0)
        for j, column in enumerate(SHARE_COLUMNS):
            out[column] = shares[:, j]
        out["data_area_m2"] = self.data_area
        out["county_area_m2"] = frame.geometry.to_crs(
            equal_area_crs(self.transform, self.crs, self.shape)).area.to_numpy()
        out["data_coverage"] = np.clip(out.data_area_m2 / out.county_area_m2, 0.0, 1.0)
        counts, people = self._threatened(out.adcode.to_numpy())
        out["points_at_or_above"] = counts
        out["threatened_population"] = people
        return out.sort_values("adcode", kind="stable").reset_index(drop=True)[columns]

    def _threatened(self, adcodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.zeros(adcodes.size, dtype=np.int64)
        people = np.zeros(adcodes.size, dtype=np.int64)
        if not self._has_points:
            return counts, people
        county = self.boundaries.assign(self.lon, self.lat).county_adcode
        row_of = {code: i for i, code in enumerate(adcodes)}
        rows = np.array([row_of.get(c, -1) for c in county], dtype=np.int64)
        hit = (self.point_level >= self.min_level) & (rows >= 0)
        np.add.at(counts, rows[hit], 1)
        np.add.at(people, rows[hit], self.population[hit])
        return counts, people
