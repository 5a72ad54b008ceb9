"""Stable numbers for risk points and series: the index every scorer array is keyed by.

A series is one sensor's readings of one kind at one point: the key
``(point id, sensor id, kind)``. Points and series get a stable index on
first sight, so numpy arrays can be indexed by them for the life of the
process. The registry (``set_known_points``) says which points are known now
and, per point, its hazard type and regions (county and province codes),
from which the scorer resolves the point's model parameters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from streams.units import SensorKind

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = tuple(kind.value for kind in SensorKind)
"""Kind codes: ``KINDS[code]`` is the kind's name."""
KIND_CODE: dict[str, int] = {name: code for code, name in enumerate(KINDS)}

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MAX_SERIES_BITS = 64


def valid_identifier(value: object) -> bool:
    """The identifier rule of ``streams.schemas.Identifier`` (1-64 of ``A-Za-z0-9_.:-``)."""
    return type(value) is str and _ID.fullmatch(value) is not None


class PointProfile(NamedTuple):
    """What the registry tells the scorer about a point besides its id."""

    hazard_type: str
    regions: tuple[str, ...] = ()


def as_profile(value: str | PointProfile | tuple) -> PointProfile:
    """A registry value: a hazard type alone, or a ``PointProfile``."""
    if isinstance(value, PointProfile):
        return value
    if isinstance(value, tuple):
        return PointProfile(str(value[0]), tuple(str(r) for r in value[1] if r))
    return PointProfile(str(value))


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
    is in the registry now (a point that leaves it keeps its index). Each
    series also gets its bit within its point (the fusion's masks of
    contributing series; a point's 65th series shares the last bit) and a
    group code, equal for series of one sensor (their models are not
    independent evidence).
    """

    def __init__(self) -> None:
        self.point_ids: list[str] = []
        self.hazard_types: list[str] = []
        self.regions: list[tuple[str, ...]] = []
        self._point_index: dict[str, int] = {}
        self._point_known = _Growable(np.bool_, False)
        self._point_series = _Growable(np.int32, 0)
        self.slot_of: dict[SeriesKey, int] = {}
        self.keys: list[SeriesKey] = []
        self._series_point = _Growable(np.int32, -1)
        self._series_kind = _Growable(np.int8, -1)
        self._series_bit = _Growable(np.uint64, 0)
        self._series_group = _Growable(np.int64, -1)
        self._groups: dict[tuple[int, str], int] = {}
        self.version = 0
        """Incremented whenever the registry or the set of points changes."""

    def point_index(self, point_id: str) -> int:
        """The point's stable index, registered (as not known) if new."""
        index = self._point_index.get(point_id)
        if index is None:
            index = len(self.point_ids)
            self._point_index[point_id] = index
            self.point_ids.append(point_id)
            self.hazard_types.append("")
            self.regions.append(())
            self._point_known.append(False)
            self._point_series.append(0)
            self.version += 1
        return index

    def find_point(self, point_id: str) -> int | None:
        return self._point_index.get(point_id)

    def set_known_points(self, known_points: Mapping[str, str | PointProfile]) -> int:
        """Mark exactly these points (id -> hazard type or ``PointProfile``) as known."""
        self._point_known.data[:] = False
        count = 0
        for point_id, value in known_points.items():
            if not valid_identifier(point_id):
                log.warning("ignoring registry point with an invalid id %r", point_id)
                continue
            profile = as_profile(value)
            index = self.point_index(point_id)
            self.hazard_types[index] = profile.hazard_type
            self.regions[index] = profile.regions
            self._point_known.data[index] = True
            count += 1
        self.version += 1
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

    @property
    def series_bit(self) -> np.ndarray:
        return self._series_bit.view()

    @property
    def series_group(self) -> np.ndarray:
        return self._series_group.view()

    def register(self, key: SeriesKey) -> int:
        """Slot of a series key, registered if new. The key must be valid (``check_key``)."""
        slot = self.slot_of.get(key)
        if slot is None:
            slot = len(self.keys)
            point = self.point_index(key[0])
            self.slot_of[key] = slot
            self.keys.append(key)
            self._series_point.append(point)
            self._series_kind.append(KIND_CODE[key[2]])
            ordinal = int(self._point_series.data[point])
            self._point_series.data[point] = ordinal + 1
            self._series_bit.append(np.uint64(1) << np.uint64(min(ordinal, MAX_SERIES_BITS - 1)))
            group = self._groups.setdefault((point, key[1]), len(self._groups))
            self._series_group.append(group)
            self.version += 1
        return slot

    def check_key(self, key: object) -> bool:
        """A well-formed key of a known point: (point id, sensor id, kind), valid ids and kind."""
        if type(key) is not tuple or len(key) != 3:
            return False
        point_id, sensor_id, kind = key
        return (type(kind) is str and kind in KIND_CODE and valid_identifier(sensor_id)
                and type(point_id) is str and self.is_known(point_id))
