"""The scorer's explicit per-point state: fusion arrays and what was last emitted.

One row per point index (``streams.scorer_index``): the fusion state of
``warning_models.site_fusion`` (level, holds, red timer, clock, status), the
point's parameter profile, and the emission bookkeeping (whether the point was
asserted since the scorer started, and the level, status and alarmed series
of its last assessment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from streams.scorer_state import grow_columns
from warning_models.site_fusion import NEVER, REMOVED, STATUS_CODE, PointFusion

_FUSION = ("level", "clock", "red_since", "until", "since", "contrib", "candidate", "raw",
           "rule", "status")


class PointState:
    """Per-point arrays (rows = point indices), growing geometrically."""

    _LAYOUT: ClassVar[dict[str, tuple[type, int | None, float | int]]] = {
        "level": (np.int8, None, 0), "clock": (np.int64, None, NEVER),
        "red_since": (np.int64, None, NEVER), "until": (np.int64, 4, REMOVED),
        "since": (np.int64, 4, NEVER), "contrib": (np.uint64, 4, 0),
        "candidate": (np.int8, None, 0), "raw": (np.int8, None, 0), "rule": (np.int8, None, 0),
        "status": (np.int8, None, STATUS_CODE["no_data"]),
        "profile": (np.int64, None, 0), "hazard": (np.int64, None, 0),
        "asserted": (np.bool_, None, False), "emitted_level": (np.int8, None, -1),
        "emitted_status": (np.int8, None, -1), "emitted_alarms": (np.uint64, None, 0),
        "alarms": (np.uint64, None, 0),
    }
    _CHECKPOINTED: ClassVar[tuple[str, ...]] = (*_FUSION, "alarms")

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = 0
        for name, (dtype, width, fill) in self._LAYOUT.items():
            setattr(self, name, np.full((0, width) if width else (0,), fill, dtype=dtype))
        self.ensure(capacity)

    def ensure(self, n_points: int) -> None:
        if n_points <= self.capacity:
            return
        grow_columns(self, self._LAYOUT, max(n_points, 2 * self.capacity, 1024))

    def fusion(self, points: np.ndarray) -> PointFusion:
        """The fusion state of these points (copies)."""
        return PointFusion(**{name: getattr(self, name)[points] for name in _FUSION})

    def store(self, points: np.ndarray, state: PointFusion) -> None:
        for name in _FUSION:
            getattr(self, name)[points] = getattr(state, name)

    def reset(self, points: np.ndarray) -> None:
        for name, (_, _, fill) in self._LAYOUT.items():
            if name not in ("profile", "hazard"):
                getattr(self, name)[points] = fill

    def export(self, points: np.ndarray, point_ids: list[str]) -> dict[str, np.ndarray]:
        out = {"p_point_id": np.asarray([point_ids[p] for p in points.tolist()], dtype=str)}
        out.update({f"p_{name}": getattr(self, name)[points] for name in self._CHECKPOINTED})
        return out

    def load(self, arrays: Mapping[str, np.ndarray], points: np.ndarray) -> None:
        """Restore exported rows at these point indices; they count as not yet asserted."""
        for name in self._CHECKPOINTED:
            getattr(self, name)[points] = arrays[f"p_{name}"]
        self.asserted[points] = False
