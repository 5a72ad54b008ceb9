"""The scorer's explicit per-series state: rings of sums, quality counters, last verdicts.

Every array has one row per series slot (``streams.scorer_index``) and grows
geometrically. What a row keeps, all of it in event time:

- the window: a ring of ``depth`` time bins of width ``bin_ns`` (aligned on
  the Unix epoch), each holding the count and the power sums of its samples
  stacked in one array (``warning_models.site_batch.STACK_FIELDS``: n, Σt..Σt⁴,
  Σy, Σty, Σt²y, Σy², t in days from the bin's start) and their oldest and
  newest time. A least-squares
  polynomial over any set of bins follows from these sums, so every reading
  in the window counts, however many a sensor sends;
- the forecast ring: ``cells`` coarse cells of width ``cell_ns`` holding
  count, Σ(t - cell start) and Σy, whose centroids feed the inverse-velocity
  forecast (``warning_models.site_forecast``);
- the baseline of the uniform-creep velocity v̄: linear sums over the
  configured baseline window or the series' first ``baseline_days``;
- quality: the recent event times (re-sent readings are dropped), the
  robust residual scale and the readings held back as possible spikes, the
  length of the current run of unchanged values, the newest reading seen
  (spikes included) and the learned reporting interval;
- the fit at the last evaluation (to predict the next reading) and the
  last verdict of every indicator (for evidence and fusion).

Values are kept relative to the series' first value (``y_ref``), so sums
stay small. Samples go to the bin and cell of their event time, never their
arrival time, so a late reading lands where it belongs and a batch split
differently gives the same sums. The state of chosen partitions can be
exported as plain arrays and restored (checkpoints).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import ClassVar

import numpy as np

from streams.scorer_index import (  # re-exported: the codec and other workers import them here
    KIND_CODE,
    KINDS,
    PointProfile,
    SeriesIndex,
    SeriesKey,
    valid_identifier,
)
from warning_models.site_batch import STACK_FIELDS, PowerSums, sample_powers, stacked_sums

log = logging.getLogger(__name__)

__all__ = ["DAY_NS", "EMPTY", "KINDS", "KIND_CODE", "NO_LEVEL", "PointProfile", "SeriesIndex",
           "SeriesKey", "SeriesState", "valid_identifier"]

EMPTY = np.iinfo(np.int64).min
"""Bin number or event time of nothing."""
DAY_NS = 86_400e9
NO_LEVEL = -1

_F8, _I8, _I4, _I1, _B = np.float64, np.int64, np.int32, np.int8, np.bool_
_NAN = float("nan")


class SeriesState:
    """Per-series arrays; see the module docstring. Shapes: (rows,) or (rows, width)."""

    # name: (dtype, width key or None, fill)
    _LAYOUT: ClassVar[dict[str, tuple[type, str | None, float | int]]] = {
        # window bins
        "bin": (_I8, "depth", EMPTY), "sums": (_F8, "stack", 0.0),
        "tmin": (_F8, "depth", 0.0), "tmax": (_F8, "depth", 0.0),
        # forecast cells
        "cbin": (_I8, "cells", EMPTY), "cn": (_F8, "cells", 0.0), "ct": (_F8, "cells", 0.0),
        "cy": (_F8, "cells", 0.0),
        # baseline sums (t in days from b_start)
        "b_n": (_F8, None, 0.0), "b_t1": (_F8, None, 0.0), "b_t2": (_F8, None, 0.0),
        "b_y0": (_F8, None, 0.0), "b_y1": (_F8, None, 0.0), "b_yy": (_F8, None, 0.0),
        "b_tmin": (_F8, None, np.inf), "b_tmax": (_F8, None, -np.inf),
        "b_start": (_I8, None, EMPTY), "b_end": (_I8, None, EMPTY),
        # samples
        "newest": (_I8, None, EMPTY), "seen": (_I8, None, EMPTY), "origin": (_I8, None, EMPTY),
        "seg_start": (_I8, None, EMPTY), "y_ref": (_F8, None, _NAN),
        "last_value": (_F8, None, _NAN), "previous_value": (_F8, None, _NAN),
        "partition": (_I4, None, -1), "recent": (_I8, "recent", EMPTY), "recent_n": (_I8, None, 0),
        # quality
        "spike_scale": (_F8, None, _NAN), "pend_t": (_I8, "pending", EMPTY),
        "pend_y": (_F8, "pending", 0.0), "pend_n": (_I1, None, 0), "pend_sign": (_I1, None, 0),
        "spikes": (_I4, None, 0), "stuck_run": (_I4, None, 0), "stuck_start": (_I8, None, EMPTY),
        "stuck": (_B, None, False), "offline": (_B, None, False), "interval_ns": (_F8, None, _NAN),
        # the fit at the last evaluation (y relative to y_ref, t in days from fit_t)
        "fit_t": (_I8, None, EMPTY), "fit_level": (_F8, None, 0.0), "fit_c1": (_F8, None, 0.0),
        "fit_c2": (_F8, None, 0.0), "fit_ok": (_B, None, False), "fit_n": (_I4, None, 0),
        # last verdicts
        "eval_ns": (_I8, None, EMPTY), "velocity": (_F8, None, 0.0),
        "velocity_se": (_F8, None, 0.0), "acceleration": (_F8, None, 0.0),
        "rate_ok": (_B, None, False), "samples": (_I4, None, 0), "v_bar": (_F8, None, 0.0),
        "v_bar_source": (_I1, None, 0), "v_bar_n": (_I4, None, 0), "alpha": (_F8, None, 0.0),
        "alpha_low": (_F8, None, 0.0), "alpha_high": (_F8, None, 0.0), "abs_value": (_F8, None, 0.0),
        "abs_judged": (_F8, None, 0.0), "lvl_abs": (_I1, None, NO_LEVEL),
        "lvl_tan": (_I1, None, NO_LEVEL), "lvl_iv": (_I1, None, NO_LEVEL),
        "level": (_I1, None, NO_LEVEL), "iv_gated": (_B, None, False),
        "iv_hours": (_F8, None, 0.0), "iv_tf": (_F8, None, 0.0), "iv_lo": (_F8, None, 0.0),
        "iv_hi": (_F8, None, 0.0), "iv_n": (_I4, None, 0), "iv_r2": (_F8, None, 0.0),
        "iv_sma": (_F8, None, 0.0),
    }

    def __init__(self, *, depth: int = 32, window_hours: float = 24.0, cells: int = 64,
                 cell_hours: float = 2.0, recent: int = 8, pending: int = 2,
                 capacity: int = 1024) -> None:
        if depth < 4:
            raise ValueError("depth must be at least 4 bins")
        self.widths = {"depth": depth, "cells": cells, "recent": recent, "pending": pending,
                       "stack": (depth, len(STACK_FIELDS))}
        self.depth, self.cells = depth, cells
        self.window_hours = window_hours
        self.bin_ns = round(window_hours * 3600e9 / (depth - 1))
        self.cell_ns = round(cell_hours * 3600e9)
        self.capacity = 0
        for name, (dtype, width, fill) in self._LAYOUT.items():
            shape = (0, *np.atleast_1d(self.widths[width])) if width else (0,)
            setattr(self, name, np.full(shape, fill, dtype=dtype))
        self.ensure(capacity)

    def ensure(self, n_series: int) -> None:
        """Make room for ``n_series`` rows (capacity doubles)."""
        if n_series <= self.capacity:
            return
        grow_columns(self, self._LAYOUT, max(n_series, 2 * self.capacity, 1024))

    def reset(self, slots: np.ndarray) -> None:
        """Forget everything about these series."""
        for name, (_, _, fill) in self._LAYOUT.items():
            getattr(self, name)[slots] = fill

    # -- accumulation -------------------------------------------------------------------------

    def accumulate(self, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        """Add accepted samples (any number per series, any order) to bins, cells and baseline.

        ``s`` slots, ``t`` event times (ns), ``v`` values (canonical unit). The
        caller has dropped duplicates and spikes; ``y_ref``, ``b_start`` and
        ``b_end`` must be set for these series.
        """
        if s.size == 0:
            return
        order = np.lexsort((t, s))
        s, t, v = s[order], t[order], v[order]
        y = v - self.y_ref[s]
        self._add_ring(s, t, y, self.bin_ns, self.depth, "bin", bins=True)
        self._add_ring(s, t, y, self.cell_ns, self.cells, "cbin", bins=False)
        inside = (t >= self.b_start[s]) & (t <= self.b_end[s])
        if inside.any():
            bs, bt, by = s[inside], t[inside], y[inside]
            rel = (bt - self.b_start[bs]) / DAY_NS
            for name, values in (("b_n", np.ones_like(rel)), ("b_t1", rel), ("b_t2", rel * rel),
                                 ("b_y0", by), ("b_y1", rel * by), ("b_yy", by * by)):
                np.add.at(getattr(self, name), bs, values)
            np.minimum.at(self.b_tmin, bs, rel)
            np.maximum.at(self.b_tmax, bs, rel)

    def _add_ring(self, s: np.ndarray, t: np.ndarray, y: np.ndarray, width_ns: int, size: int,
                  key: str, *, bins: bool) -> None:
        """Add samples sorted by (series, time) to a ring of time cells of ``width_ns``:
        the window bins (stacked power sums, oldest and newest time) or the forecast
        cells (count, Σt, Σy)."""
        b = t // width_ns
        rel = (t - b * width_ns) / DAY_NS
        starts = np.flatnonzero(np.concatenate([[True], (s[1:] != s[:-1]) | (b[1:] != b[:-1])]))
        g_s, g_b = s[starts], b[starts]
        g_n = np.diff(np.append(starts, s.size))
        if bins:
            parts = sample_powers(rel, y)
            stack = np.empty((starts.size, len(STACK_FIELDS)))
            stack[:, 0] = g_n
            for j, name in enumerate(STACK_FIELDS[1:], start=1):
                stack[:, j] = np.add.reduceat(parts[name], starts)
            extremes = (np.minimum.reduceat(rel, starts), np.maximum.reduceat(rel, starts))
        else:
            stack = np.stack([g_n, np.add.reduceat(rel, starts), np.add.reduceat(y, starts)], 1)
        cell = g_b % size
        # groups of one series that share a cell (more than the ring in one go): newest wins
        order = np.lexsort((g_b, cell, g_s))
        last = np.ones(order.size, dtype=bool)
        last[:-1] = (g_s[order][1:] != g_s[order][:-1]) | (cell[order][1:] != cell[order][:-1])
        pick = order[last]
        g_s, g_b, cell, stack = g_s[pick], g_b[pick], cell[pick], stack[pick]
        ring = getattr(self, key)
        stored = ring[g_s, cell]
        fresh = stored < g_b            # an empty cell, or one holding an older bin: start over
        same = stored == g_b
        ring[g_s[fresh], cell[fresh]] = g_b[fresh]
        if bins:
            low, high = extremes[0][pick], extremes[1][pick]
            self.sums[g_s[fresh], cell[fresh]] = stack[fresh]
            self.tmin[g_s[fresh], cell[fresh]] = low[fresh]
            self.tmax[g_s[fresh], cell[fresh]] = high[fresh]
            rs, rc = g_s[same], cell[same]
            self.sums[rs, rc] += stack[same]
            self.tmin[rs, rc] = np.minimum(self.tmin[rs, rc], low[same])
            self.tmax[rs, rc] = np.maximum(self.tmax[rs, rc], high[same])
            return
        for j, name in enumerate(("cn", "ct", "cy")):
            target = getattr(self, name)
            target[g_s[fresh], cell[fresh]] = stack[fresh, j]
            target[g_s[same], cell[same]] += stack[same, j]

    # -- what the models read -----------------------------------------------------------------

    def window_sums(self, slots: np.ndarray, window_days: np.ndarray) -> PowerSums:
        """Power sums of each series' window, times in days relative to its newest sample.

        The window holds the bins whose middle lies within ``window_days`` of the
        newest sample (so on average it spans exactly the window) and that do not
        precede the current segment (no fit spans a gap).
        """
        width = self.bin_ns
        newest = self.newest[slots]
        bins = self.bin[slots]
        newest_bin = newest // width
        window_ns = np.round(np.asarray(window_days) * DAY_NS).astype(np.int64)
        first = (2 * (newest - window_ns) + width - 1) // (2 * width)
        first = np.maximum(first, self.seg_start[slots] // width)
        first = np.maximum(first, newest_bin - self.depth + 1)
        use = (bins >= first[:, None]) & (bins <= newest_bin[:, None]) & (newest != EMPTY)[:, None]
        offset = (np.where(use, bins, 0) * width - newest[:, None]) / DAY_NS
        return stacked_sums(self.sums[slots], offset, use, self.tmin[slots], self.tmax[slots])

    def baseline_sums(self, slots: np.ndarray) -> PowerSums:
        """Linear sums of the baseline window (t in days from its start)."""
        zero = np.zeros(slots.size)
        return PowerSums(n=self.b_n[slots], t1=self.b_t1[slots], t2=self.b_t2[slots], t3=zero,
                         t4=zero, y0=self.b_y0[slots], y1=self.b_y1[slots], y2=zero,
                         yy=self.b_yy[slots], t_min=self.b_tmin[slots], t_max=self.b_tmax[slots])

    def forecast_cells(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """(start days relative to the newest sample, count, Σ(t - start) days, Σy, usable)."""
        width = self.cell_ns
        newest = self.newest[slots]
        cbin = self.cbin[slots]
        newest_cell = newest // width
        first = np.maximum(newest_cell - self.cells + 1, self.seg_start[slots] // width)
        use = (cbin >= first[:, None]) & (cbin <= newest_cell[:, None]) & (newest != EMPTY)[:, None]
        start = (np.where(use, cbin, 0) * width - newest[:, None]) / DAY_NS
        return start, self.cn[slots], self.ct[slots], self.cy[slots], use

    # -- checkpoints --------------------------------------------------------------------------

    def export(self, slots: np.ndarray, index: SeriesIndex) -> dict[str, np.ndarray]:
        """Plain arrays of these series (keys as strings), for a checkpoint."""
        keys = [index.keys[s] for s in slots.tolist()]
        return {
            "point_id": np.asarray([k[0] for k in keys], dtype=str),
            "sensor_id": np.asarray([k[1] for k in keys], dtype=str),
            "kind": np.asarray([k[2] for k in keys], dtype=str),
            "bin_ns": np.asarray([self.bin_ns], dtype=np.int64),
            "cell_ns": np.asarray([self.cell_ns], dtype=np.int64),
            **{name: getattr(self, name)[slots] for name in self._LAYOUT},
        }

    def load(self, arrays: Mapping[str, np.ndarray], index: SeriesIndex) -> np.ndarray:
        """Restore series exported by ``export``; return their slots."""
        n = len(arrays["point_id"])
        if n and (arrays["bin"].shape[1] != self.depth or arrays["cbin"].shape[1] != self.cells
                  or int(arrays["bin_ns"][0]) != self.bin_ns
                  or int(arrays["cell_ns"][0]) != self.cell_ns):
            raise ValueError("the checkpoint was written with another window, depth or ring")
        missing = [name for name in self._LAYOUT if name not in arrays]
        if n and missing:
            raise ValueError(f"the checkpoint lacks {', '.join(missing[:5])}: another format")
        slots = np.fromiter((index.register((str(p), str(s), str(k))) for p, s, k in
                             zip(arrays["point_id"], arrays["sensor_id"], arrays["kind"])),
                            dtype=np.int64, count=n)
        self.ensure(index.n_series)
        for name in self._LAYOUT:
            getattr(self, name)[slots] = arrays[name]
        return slots

    def slots_of_partitions(self, partitions: Collection[int], n_series: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.partition[:n_series], list(partitions)))


def grow_columns(owner, layout, capacity: int) -> None:
    """Reallocate each array named in ``layout`` (name -> (dtype, width, fill)) to
    ``capacity`` rows, keeping the existing rows and filling the new ones."""
    for name, (_, _, fill) in layout.items():
        old = getattr(owner, name)
        new = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
        new[: len(old)] = old
        setattr(owner, name, new)
    owner.capacity = capacity
