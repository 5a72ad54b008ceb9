"""The scorer's rain state: hourly and daily rain of every rain series, and its last verdict.

Rain gauges and the derived readings of the observed rainfall grid (both
``rain_gauge``, mm/h) report the mean intensity over the interval ending at
their event time t; the reading's rain is intensity x interval (mm). A
reading goes to the hour (h - 1, h] holding t, as ``warning_models.rainfall.
hourly_totals`` bins gauge reports; an interval longer than an hour is
spread evenly over the hours counted back from t (t, t - 1 h, ...), so three
hours of rain do not read as three hours' rain falling in one. Each part
counts in the rain day holding its time as the end of an interval: day d
is (d, d + 1] at UTC + ``day_offset_hours``, as ``streams.raster_state.
day_number`` counts the grid's rain days, so a report at local midnight is
rain of the day that ends. The interval of a gauge reading is the event
time since the series' previous reading, at most
``max_report_interval_hours`` (hours further back without a report count as
dry, as for a tipping-bucket gauge), or ``report_interval_hours`` for the
first reading and for late ones; that of a grid reading is the raster's
interval, ``grid_interval_hours``.

Only rain series get a row here (a point has a few of them among many
other series), so the state stays small: per row a ring of hourly totals
(as long as the longest accumulation window) and a ring of daily totals (as
long as the antecedent window), keyed by hour and day number in event time,
so a late reading lands in its own hour. Readings that arrive in event-time
order give the same totals however the stream is cut into batches (the
scorer orders each batch by event time); a reading that arrives after a
newer one of its series stands for ``report_interval_hours``, since the
interval it ends is no longer known, so totals with out-of-order arrivals
across batches can differ by that much. Hours and days before the first
hour a reading of the series covers are no data (NaN): a window reaching
back there has no value, and P_e needs the whole antecedent window.

``evaluate`` judges series at their newest reading with
``warning_models.rainfall.assess_rainfall`` (the point's regional model) and
keeps the verdict and its evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from streams.scorer_index import SeriesIndex
from streams.scorer_state import EMPTY, grow_columns
from warning_models.rainfall import (
    assess_rainfall,
    effective_antecedent_rainfall,
    latest_accumulations,
)
from warning_models.rainfall_fusion import (
    GRID_SENSOR_PREFIX,
    ROLE_SELECTED,
    RainfallScoringConfig,
    rainfall_contribution,
    select_sources,
)

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS


class RainSeriesState:
    """Rows for rain series only; ``row_of[slot]`` is a slot's row (-1 = none)."""

    _LAYOUT: ClassVar[dict[str, tuple[type, str | None, float | int]]] = {
        "slot": (np.int64, None, -1), "grid": (np.bool_, None, False),
        "hbin": (np.int64, "hours", EMPTY), "hmm": (np.float64, "hours", 0.0),
        "dbin": (np.int64, "days", EMPTY), "dmm": (np.float64, "days", 0.0),
        "first_ns": (np.int64, None, EMPTY), "last_ns": (np.int64, None, EMPTY),
        "model": (np.int16, None, 0),
        # the verdict at the series' newest reading
        "level": (np.int8, None, -1), "ratio": (np.float64, None, np.nan),
        "duration_h": (np.float64, None, np.nan), "intensity": (np.float64, None, np.nan),
        "threshold": (np.float64, None, np.nan), "p_e": (np.float64, None, np.nan),
        "level_id": (np.int8, None, -1), "level_pe": (np.int8, None, -1),
        "acc": (np.float64, "windows", np.nan),
        # how the point's fusion used it the last time
        "role": (np.int8, None, 0), "contribution": (np.int8, None, -1),
    }

    def __init__(self, config: RainfallScoringConfig | None = None, capacity: int = 64) -> None:
        self.config = config or RainfallScoringConfig()
        self.models = self.config.models()
        self.windows = sorted({w for m in self.models for w in m.windows_h})
        self.widths = {"hours": self.config.max_window_hours(), "days": self.config.max_days(),
                       "windows": len(self.windows)}
        self.capacity = 0
        self.n = 0
        for name, (dtype, width, fill) in self._LAYOUT.items():
            shape = (0, self.widths[width]) if width else (0,)
            setattr(self, name, np.full(shape, fill, dtype=dtype))
        self.row_of = np.full(0, -1, dtype=np.int64)
        self.ensure(capacity)

    def ensure(self, rows: int) -> None:
        if rows > self.capacity:
            grow_columns(self, self._LAYOUT, max(rows, 2 * self.capacity, 64))

    def rows(self, slots: np.ndarray, index: SeriesIndex, *, create: bool) -> np.ndarray:
        """Rows of these slots (-1 where none, unless ``create``)."""
        slots = np.asarray(slots, dtype=np.int64)
        if self.row_of.size < index.n_series:
            grown = np.full(max(index.n_series, 2 * self.row_of.size, 64), -1, dtype=np.int64)
            grown[: self.row_of.size] = self.row_of
            self.row_of = grown
        rows = self.row_of[slots]
        if create and (rows < 0).any():
            for slot in np.unique(slots[rows < 0]).tolist():
                self.ensure(self.n + 1)
                self.row_of[slot] = self.n
                self.slot[self.n] = slot
                self.grid[self.n] = index.keys[slot][1].startswith(GRID_SENSOR_PREFIX)
                point = int(index.series_point[slot])
                self.model[self.n] = self.config.model_index(index.regions[point])
                self.n += 1
            rows = self.row_of[slots]
        return rows

    def refresh_models(self, index: SeriesIndex) -> None:
        """Resolve every row's regional model again (after a registry change)."""
        for r in range(self.n):
            point = int(index.series_point[int(self.slot[r])])
            self.model[r] = self.config.model_index(index.regions[point])

    # -- readings -----------------------------------------------------------------------------

    def add(self, rows: np.ndarray, t: np.ndarray, mm_per_h: np.ndarray) -> None:
        """Add readings (any number per row, any order) to the hourly and daily rings."""
        if rows.size == 0:
            return
        f = self.config.fusion
        order = np.lexsort((t, rows))
        rows, t, v = rows[order], t[order], np.asarray(mm_per_h, dtype=float)[order]
        previous = np.r_[EMPTY, t[:-1]]
        previous = np.where(np.r_[True, rows[1:] != rows[:-1]], self.last_ns[rows], previous)
        gap_h = (t - previous) / HOUR_NS
        known = (previous != EMPTY) & (t > previous)
        interval = np.where(known, np.minimum(gap_h, f.max_report_interval_hours),
                            f.report_interval_hours)
        interval = np.where(self.grid[rows], f.grid_interval_hours, interval)
        amount = np.where(np.isfinite(v) & (v >= 0), v, 0.0) * interval
        length = np.maximum(np.round(interval * HOUR_NS), 1).astype(np.int64)
        # one piece per hour of the interval counted back from t, each with its share
        count = -((-length) // HOUR_NS)
        each = np.repeat(np.arange(rows.size), count)
        back = np.arange(each.size) - np.repeat(np.cumsum(count) - count, count)
        piece_t = t[each] - back * HOUR_NS
        share = np.minimum(HOUR_NS, length[each] - back * HOUR_NS) / length[each]
        piece = amount[each] * share
        unset = self.first_ns[rows] == EMPTY
        self.first_ns[rows[unset]] = np.iinfo(np.int64).max
        np.minimum.at(self.first_ns, rows[each], piece_t)     # rows repeat in a bulk load
        np.maximum.at(self.last_ns, rows, t)
        self._ring(rows[each], _hour(piece_t), piece, "hbin", "hmm")
        self._ring(rows[each], self._day(piece_t), piece, "dbin", "dmm")

    def _day(self, t: np.ndarray) -> np.ndarray:
        """Rain day holding the instant ``t`` as the end of an interval: day d is
        (d, d + 1] at UTC + ``day_offset_hours`` (``streams.raster_state.day_number``)."""
        return (t - 1 + round(self.config.fusion.day_offset_hours * HOUR_NS)) // DAY_NS

    def _ring(self, rows: np.ndarray, number: np.ndarray, amount: np.ndarray, key: str,
              values: str) -> None:
        ring, total = getattr(self, key), getattr(self, values)
        size = ring.shape[1]
        for r, n, a in zip(rows.tolist(), number.tolist(), amount.tolist()):
            cell = n % size
            if ring[r, cell] < n:            # empty, or an older hour/day: start over
                ring[r, cell], total[r, cell] = n, a
            elif ring[r, cell] == n:
                total[r, cell] += a          # (older than the ring: ignored)

    # -- verdicts -----------------------------------------------------------------------------

    def hourly(self, rows: np.ndarray, end_ns: np.ndarray, hours: int) -> np.ndarray:
        """(rows, hours) totals of the hours ending at the hour holding ``end_ns``; NaN before
        the first hour a reading of the series covers."""
        want = _hour(end_ns)[:, None] - np.arange(hours - 1, -1, -1)[None, :]
        return self._gather(rows, want, "hbin", "hmm", _hour(self.first_ns[rows]))

    def daily(self, rows: np.ndarray, end_ns: np.ndarray, days: int) -> np.ndarray:
        """(rows, days) totals, column 0 the day holding ``end_ns``; NaN before the first day
        a reading of the series covers."""
        want = self._day(end_ns)[:, None] - np.arange(days)[None, :]
        return self._gather(rows, want, "dbin", "dmm", self._day(self.first_ns[rows]))

    def _gather(self, rows, want, key, values, first) -> np.ndarray:
        ring, total = getattr(self, key), getattr(self, values)
        cells = want % ring.shape[1]
        stored = np.take_along_axis(ring[rows], cells, axis=1)
        out = np.where(stored == want, np.take_along_axis(total[rows], cells, axis=1), 0.0)
        return np.where(want < first[:, None], np.nan, out)

    def evaluate(self, rows: np.ndarray) -> None:
        """Judge these rows at their newest reading with each row's regional model."""
        if rows.size == 0:
            return
        end = self.last_ns[rows]
        for m in np.unique(self.model[rows]).tolist():
            pick = self.model[rows] == m
            r, e = rows[pick], end[pick]
            params = self.models[m]
            hours = int(max(params.windows_h))
            acc = latest_accumulations(self.hourly(r, e, hours), params.windows_h)
            days = self.daily(r, e, params.antecedent.days)
            p_e = effective_antecedent_rainfall(days, params.antecedent.k)
            verdict = assess_rainfall(acc, np.asarray(params.windows_h), params, p_e)
            no_data = np.isnan(verdict.ratio)
            self.level[r] = np.where(no_data, -1, verdict.level)
            self.level_id[r] = np.where(no_data, -1, verdict.level_id)
            self.level_pe[r] = verdict.level_pe
            self.ratio[r], self.duration_h[r] = verdict.ratio, verdict.duration_h
            self.intensity[r], self.threshold[r] = verdict.intensity_mm_h, verdict.threshold_mm_h
            self.p_e[r] = verdict.effective_rainfall_mm
            columns = [self.windows.index(w) for w in params.windows_h]
            full = np.full((r.size, len(self.windows)), np.nan)
            full[:, columns] = acc
            self.acc[r] = full

    # -- fusion -------------------------------------------------------------------------------

    def member_levels(self, rows: np.ndarray, row: np.ndarray, rain: np.ndarray,
                      level: np.ndarray, *, valid: np.ndarray, age_h: np.ndarray,
                      silent: np.ndarray, caps: np.ndarray) -> np.ndarray:
        """The level each rain member stands for in its point's fusion; records role and level.

        rows: rain-state rows of the rain members; row, rain, level, valid, age_h,
        silent: per member of the fused points (``rain`` marks the rain ones,
        ``row`` their point); caps: per point, the cap of rainfall alone. The
        selected source stands for ``rainfall_contribution`` next to the point's
        deformation (the highest valid non-rain verdict); a grid sample set aside
        for a fresh gauge, and a stale gauge, count as a valid none.
        """
        deformation = np.full(caps.size, -1, dtype=np.int8)
        other = valid & ~rain
        np.maximum.at(deformation, row[other], level[other])
        point = row[rain]
        role = select_sources(point, self.grid[rows], self.level[rows], age_h[rain],
                              silent[rain], caps.size, self.config.fusion.gauge_fresh_hours)
        contribution = rainfall_contribution(deformation[point], self.level[rows], caps[point],
                                             self.config.fusion)
        effective = np.where(role == ROLE_SELECTED, contribution,
                             np.where(self.level[rows] >= 0, 0, -1)).astype(np.int8)
        self.role[rows], self.contribution[rows] = role, effective
        return effective

    # -- checkpoints --------------------------------------------------------------------------

    def export(self, slots: np.ndarray, index: SeriesIndex) -> dict[str, np.ndarray]:
        """The rows of these slots, aligned with ``slots`` (``r_has`` false: not a rain series)."""
        rows = self.rows(slots, index, create=False)
        has = rows >= 0
        safe = np.where(has, rows, 0)
        self.ensure(1)
        out = {"r_has": has}
        for name in self._LAYOUT:
            if name not in ("slot", "model"):
                out[f"r_{name}"] = getattr(self, name)[safe]
        return out

    def load(self, arrays: Mapping[str, np.ndarray], slots: np.ndarray,
             index: SeriesIndex) -> int:
        """Restore rows exported by ``export`` for these slots; another layout restores none."""
        if "r_has" not in arrays or arrays["r_hbin"].shape[1:] != (self.widths["hours"],) \
                or arrays["r_dbin"].shape[1:] != (self.widths["days"],) \
                or arrays["r_acc"].shape[1:] != (self.widths["windows"],):
            return 0
        has = np.asarray(arrays["r_has"], dtype=bool)
        rows = self.rows(slots[has], index, create=True)
        for name in self._LAYOUT:
            if name not in ("slot", "model", "grid"):
                getattr(self, name)[rows] = np.asarray(arrays[f"r_{name}"])[has]
        return int(rows.size)

    def reset(self, slots: np.ndarray, index: SeriesIndex) -> None:
        rows = self.rows(slots, index, create=False)
        rows = rows[rows >= 0]
        for name, (_, _, fill) in self._LAYOUT.items():
            if name not in ("slot", "model", "grid"):
                getattr(self, name)[rows] = fill


def _hour(t: np.ndarray) -> np.ndarray:
    """Number h of the hour (h - 1, h] holding the instant ``t`` (ns)."""
    return -((-t) // HOUR_NS)
