"""The scorer's explicit state: point and series slots, and per-series windows.

A series is one sensor's readings of one kind at one point: the key
``(point id, sensor id, kind)``. Series get a stable slot on first sight;
the state keeps every series' window as a ring of time bins holding the
sums of a least-squares fit (see ``SeriesState``), in preallocated numpy
arrays (rows indexed by slot) that grow geometrically.

Insertion is vectorised over a whole batch, with many samples per series
and in any order: samples go to the bin of their event time (never their
arrival time), so a late reading lands where it belongs and a batch split
differently gives the same sums. A duplicate (same series and event time
within a batch, or a repeat of the series' newest sample) counts once.

The state of chosen partitions (series whose readings came from them) can be
exported as plain arrays and restored, for checkpoints.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from typing import ClassVar

import numpy as np

from streams.units import SensorKind
from warning_models.velocity import Moments, SeriesWindow

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = tuple(kind.value for kind in SensorKind)
"""Kind codes: ``KINDS[code]`` is the kind's name."""
KIND_CODE: dict[str, int] = {name: code for code, name in enumerate(KINDS)}

EMPTY = np.iinfo(np.int64).min
"""Bin number or event time of nothing."""
DAY_NS = 86_400e9

NO_LEVEL = -1

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def valid_identifier(value: object) -> bool:
    """The identifier rule of ``streams.schemas.Identifier`` (1-64 of ``A-Za-z0-9_.:-``)."""
    return type(value) is str and _ID.fullmatch(value) is not None


class _Growable:
    """A 1-D numpy array that grows geometrically (amortised O(1) appends)."""

    def __init__(self, dtype: type | np.dtype, fill: int = 0, capacity: int = 1024) -> None:
        self.data = np.full(capacity, fill, dtype=dtype)
        self.fill = fill
        self.size = 0

    def append(self, value: int) -> None:
        if self.size == len(self.data):
            grown = np.full(max(16, 2 * len(self.data)), self.fill, dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size] = value
        self.size += 1

    def view(self) -> np.ndarray:
        return self.data[: self.size]


SeriesKey = tuple[str, str, str]
"""(point id, sensor id, kind) identifies one time series."""


class SeriesIndex:
    """Stable indices for points and slots for series, registered on first sight.

    Point indices and series slots never change for the life of the index, so
    state arrays can be indexed by them. ``point_known`` says whether a point
    is in the registry now (a point that leaves it keeps its index).
    """

    def __init__(self) -> None:
        self.point_ids: list[str] = []
        self.hazard_types: list[str] = []
        self._point_index: dict[str, int] = {}
        self._point_known = _Growable(np.bool_, False)
        self.slot_of: dict[SeriesKey, int] = {}
        self.keys: list[SeriesKey] = []
        self._series_point = _Growable(np.int32, -1)
        self._series_kind = _Growable(np.int8, -1)

    def point_index(self, point_id: str) -> int:
        """The point's stable index, registered (as not known) if new."""
        index = self._point_index.get(point_id)
        if index is None:
            index = len(self.point_ids)
            self._point_index[point_id] = index
            self.point_ids.append(point_id)
            self.hazard_types.append("")
            self._point_known.append(False)
        return index

    def set_known_points(self, known_points: Mapping[str, str]) -> int:
        """Mark exactly these points (id -> hazard type) as known; return how many."""
        self._point_known.data[:] = False
        count = 0
        for point_id, hazard in known_points.items():
            if not valid_identifier(point_id):
                log.warning("ignoring registry point with an invalid id %r", point_id)
                continue
            index = self.point_index(point_id)
            self.hazard_types[index] = str(hazard)
            self._point_known.data[index] = True
            count += 1
        return count

    def is_known(self, point_id: str) -> bool:
        index = self._point_index.get(point_id)
        return index is not None and bool(self._point_known.data[index])

    @property
    def point_known(self) -> np.ndarray:
        return self._point_known.view()

    @property
    def n_points(self) -> int:
        return len(self.point_ids)

    @property
    def n_series(self) -> int:
        return len(self.keys)

    @property
    def series_point(self) -> np.ndarray:
        return self._series_point.view()

    @property
    def series_kind(self) -> np.ndarray:
        return self._series_kind.view()

    def register(self, key: SeriesKey) -> int:
        """Slot of a series key, registered if new. The key must be valid (``check_key``)."""
        slot = self.slot_of.get(key)
        if slot is None:
            slot = len(self.keys)
            self.slot_of[key] = slot
            self.keys.append(key)
            self._series_point.append(self.point_index(key[0]))
            self._series_kind.append(KIND_CODE[key[2]])
        return slot

    def check_key(self, key: object) -> bool:
        """A well-formed key of a known point: (point id, sensor id, kind), valid ids and kind."""
        if type(key) is not tuple or len(key) != 3:
            return False
        point_id, sensor_id, kind = key
        return (type(kind) is str and kind in KIND_CODE and valid_identifier(sensor_id)
                and type(point_id) is str and self.is_known(point_id))


class SeriesState:
    """Per-series time bins of the window, and each series' last verdict.

    A series' window is kept as a ring of ``depth`` time bins of width
    ``window_hours / (depth - 1)``, aligned on the Unix epoch (so the same
    readings give the same bins whatever the batching). Each bin holds the
    count and the sums a least-squares fit needs (``warning_models.velocity.
    Moments``: Σt, Σv, Σt², Σtv, oldest and newest time), so every reading in
    the window counts, however many a sensor sends: a sensor reporting every
    minute has 1,440 readings in a one-day window, all of them in the fit.
    The window is the newest sample's bin and the ``depth - 1`` bins before
    it: it spans between ``window_hours`` and one bin more.

    Arrays (rows indexed by series slot, cells by bin modulo depth):
        bin: bin number (``EMPTY`` if unused); n, st, sv, stt, stv, tmin, tmax:
        the bin's count and sums (times in days from the bin's start);
        newest: newest event time (ns, ``EMPTY`` if none); last_value,
        previous_value: the newest sample and the one before it; partition:
        source partition of the latest sample; level, indicator, samples: the
        model's last verdict.
    """

    def __init__(self, depth: int = 32, window_hours: float = 24.0, capacity: int = 1024) -> None:
        if depth < 3:
            raise ValueError("depth must be at least 3 bins")
        self.depth = depth
        self.window_hours = window_hours
        self.bin_ns = round(window_hours * 3600e9 / (depth - 1))
        self.capacity = 0
        for name, fill in self._FILL.items():
            dtype, per_cell = self._LAYOUT[name]
            setattr(self, name, np.full((0, depth) if per_cell else 0, fill, dtype=dtype))
        self.ensure(capacity)

    _LAYOUT: ClassVar[dict[str, tuple[type, bool]]] = {
        "bin": (np.int64, True), "n": (np.int32, True), "st": (np.float64, True),
        "sv": (np.float64, True), "stt": (np.float64, True), "stv": (np.float64, True),
        "tmin": (np.float64, True), "tmax": (np.float64, True),
        "newest": (np.int64, False), "last_value": (np.float64, False),
        "previous_value": (np.float64, False), "partition": (np.int32, False),
        "level": (np.int8, False), "indicator": (np.float64, False), "samples": (np.int32, False),
    }
    _FILL: ClassVar[dict[str, float | int]] = {
        "bin": EMPTY, "n": 0, "st": 0.0, "sv": 0.0, "stt": 0.0, "stv": 0.0, "tmin": 0.0,
        "tmax": 0.0, "newest": EMPTY, "last_value": np.nan, "previous_value": np.nan,
        "partition": -1, "level": NO_LEVEL, "indicator": np.nan, "samples": 0,
    }

    def ensure(self, n_series: int) -> None:
        """Make room for ``n_series`` rows (capacity doubles)."""
        if n_series <= self.capacity:
            return
        capacity = max(n_series, 2 * self.capacity, 1024)
        for name, fill in self._FILL.items():
            old = getattr(self, name)
            new = np.full((capacity, *old.shape[1:]), fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self.capacity = capacity

    def reset(self, slots: np.ndarray) -> None:
        """Forget the samples and verdicts of these series."""
        for name, fill in self._FILL.items():
            getattr(self, name)[slots] = fill

    # -- insertion ----------------------------------------------------------------------------

    def insert(self, series: np.ndarray, t: np.ndarray, v: np.ndarray,
               partition: np.ndarray) -> np.ndarray:
        """Add samples (any order; duplicates count once); return the touched slots (sorted).

        A duplicate is a second sample of a series with the same event time
        within the batch (the last one to arrive counts) or a repeat of the
        series' newest sample. A sample older than the series' oldest bin is
        ignored.
        """
        series = np.asarray(series, dtype=np.int64)
        if series.size == 0:
            return series
        self.ensure(int(series.max()) + 1)
        order = np.lexsort((t, series))  # stable: equal (series, t) stay in arrival order
        s, t, v, p = series[order], t[order], v[order], partition[order]
        keep = np.ones(s.size, dtype=bool)  # last arrival of every (series, time) ...
        keep[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        keep &= t != self.newest[s]          # ... that does not repeat the newest sample held
        if not keep.all():
            s, t, v, p = s[keep], t[keep], v[keep], p[keep]
        if s.size == 0:
            return s
        ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
        slots = s[ends]
        self._last_two(s, t, v, ends)
        self.newest[slots] = np.maximum(self.newest[slots], t[ends])
        self.partition[slots] = p[ends]
        self._add_to_bins(s, t, v)
        return slots

    def _last_two(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, ends: np.ndarray) -> None:
        """Update the newest and previous values with the samples newer than what is held."""
        fresh = t > self.newest[s]
        if not fresh.any():
            return
        s, v = s[fresh], v[fresh]
        last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
        slots = s[last]
        has_two = np.r_[False, s[1:] == s[:-1]][last]  # another fresh sample right before it
        previous = np.where(has_two, v[np.maximum(last - 1, 0)], self.last_value[slots])
        self.previous_value[slots] = previous
        self.last_value[slots] = v[last]

    def _add_to_bins(self, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        k, width = self.depth, self.bin_ns
        b = t // width
        rel = (t - b * width) / DAY_NS
        starts = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (b[1:] != b[:-1])])
        g_s, g_b = s[starts], b[starts]
        g_n = np.diff(np.r_[starts, s.size])
        sums = {"st": np.add.reduceat(rel, starts), "sv": np.add.reduceat(v, starts),
                "stt": np.add.reduceat(rel * rel, starts), "stv": np.add.reduceat(rel * v, starts)}
        g_min = np.minimum.reduceat(rel, starts)
        g_max = np.maximum.reduceat(rel, starts)
        cell = g_b % k
        # Bins of one series that share a cell (a batch longer than the ring): the newest wins.
        order = np.lexsort((g_b, cell, g_s))
        unique = np.ones(order.size, dtype=bool)
        unique[:-1] = (g_s[order][1:] != g_s[order][:-1]) | (cell[order][1:] != cell[order][:-1])
        pick = order[unique]
        g_s, g_b, cell, g_n, g_min, g_max = g_s[pick], g_b[pick], cell[pick], g_n[pick], \
            g_min[pick], g_max[pick]
        sums = {name: values[pick] for name, values in sums.items()}
        stored = self.bin[g_s, cell]
        same = stored == g_b
        start_new = stored < g_b  # an empty cell, or one holding a bin now out of the ring
        if start_new.any():
            rs, rc = g_s[start_new], cell[start_new]
            self.bin[rs, rc] = g_b[start_new]
            self.n[rs, rc] = g_n[start_new]
            for name, values in sums.items():
                getattr(self, name)[rs, rc] = values[start_new]
            self.tmin[rs, rc] = g_min[start_new]
            self.tmax[rs, rc] = g_max[start_new]
        if same.any():
            rs, rc = g_s[same], cell[same]
            self.n[rs, rc] += g_n[same]
            for name, values in sums.items():
                getattr(self, name)[rs, rc] += values[same]
            self.tmin[rs, rc] = np.minimum(self.tmin[rs, rc], g_min[same])
            self.tmax[rs, rc] = np.maximum(self.tmax[rs, rc], g_max[same])

    # -- windows for the models ---------------------------------------------------------------

    def window(self, slots: np.ndarray) -> SeriesWindow:
        """The window of each of these series, as the models take it."""
        bins = self.bin[slots]
        newest = self.newest[slots]
        newest_bin = newest // self.bin_ns
        # Bins of the window: the newest one and the depth - 1 before it (EMPTY is never).
        live = (bins > (newest_bin - self.depth)[:, None]) & (bins <= newest_bin[:, None])
        weight = live.astype(np.float64)
        # Offset of each bin's start from the series' newest sample, days (<= 0).
        width_days = self.bin_ns / DAY_NS
        c = np.where(live, bins - newest_bin[:, None], 0) * width_days
        c += ((newest_bin * self.bin_ns - newest) / DAY_NS)[:, None]
        n = self.n[slots] * weight
        st = self.st[slots] * weight
        sv = self.sv[slots] * weight
        nc = n * c
        moments = Moments(
            n=n.sum(axis=1).astype(np.int64), st=st.sum(axis=1) + nc.sum(axis=1),
            sv=sv.sum(axis=1),
            stt=(self.stt[slots] * weight).sum(axis=1) + 2 * (c * st).sum(axis=1)
            + (nc * c).sum(axis=1),
            stv=(self.stv[slots] * weight).sum(axis=1) + (c * sv).sum(axis=1),
            t_min=np.where(live, self.tmin[slots] + c, np.inf).min(axis=1),
            t_max=np.where(live, self.tmax[slots] + c, -np.inf).max(axis=1))
        return SeriesWindow(moments, self.last_value[slots], self.previous_value[slots])

    # -- checkpoints --------------------------------------------------------------------------

    def export(self, slots: np.ndarray, index: SeriesIndex) -> dict[str, np.ndarray]:
        """Plain arrays of these series (keys as strings), for a checkpoint."""
        keys = [index.keys[s] for s in slots.tolist()]
        return {
            "point_id": np.asarray([k[0] for k in keys], dtype=str),
            "sensor_id": np.asarray([k[1] for k in keys], dtype=str),
            "kind": np.asarray([k[2] for k in keys], dtype=str),
            "bin_ns": np.asarray([self.bin_ns], dtype=np.int64),
            **{name: getattr(self, name)[slots] for name in self._FILL},
        }

    def load(self, arrays: Mapping[str, np.ndarray], index: SeriesIndex) -> np.ndarray:
        """Restore series exported by ``export``; return their slots."""
        n = len(arrays["point_id"])
        if n and (arrays["bin"].shape[1] != self.depth
                  or int(arrays["bin_ns"][0]) != self.bin_ns):
            raise ValueError("the checkpoint was written with another window or depth")
        slots = np.fromiter((index.register((str(p), str(s), str(k))) for p, s, k in
                             zip(arrays["point_id"], arrays["sensor_id"], arrays["kind"])),
                            dtype=np.int64, count=n)
        self.ensure(index.n_series)
        for name in self._FILL:
            getattr(self, name)[slots] = arrays[name]
        return slots

    def slots_of_partitions(self, partitions: Collection[int], n_series: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.partition[:n_series], list(partitions)))
