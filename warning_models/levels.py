"""The warning tiers of China's national practice, plus "none".

| level  | tier | colour | regional meaning                         |
|--------|------|--------|------------------------------------------|
| none   |  -   |   -    | no warning                               |
| blue   | IV   | blue   | some risk                                |
| yellow | III  | yellow | relatively high risk                     |
| orange | II   | orange | high risk, evacuate high-risk points     |
| red    | I    | red    | very high risk, evacuation order         |

Levels are ordered: models return them as small integers (``Level`` is an
``IntEnum``) so that numpy can take maxima over sensors and points.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Level(IntEnum):
    NONE = 0
    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def tier(self) -> str | None:
        """Roman numeral of the national tier (IV..I), None for no warning."""
        return _TIERS[self]

    @property
    def label(self) -> str:
        """Lower-case colour name used on the wire and in the database."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        """Accept a colour name ("orange"), a tier ("II") or an integer."""
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip()
        by_tier = {tier: level for level, tier in _TIERS.items() if tier}
        if text.upper() in by_tier:
            return by_tier[text.upper()]
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"unknown warning level {value!r}; expected one of {names} "
                             f"or a tier IV..I") from None


_TIERS = {Level.NONE: None, Level.BLUE: "IV", Level.YELLOW: "III", Level.ORANGE: "II", Level.RED: "I"}

LEVEL_LABELS: tuple[str, ...] = tuple(level.label for level in Level)
"""Labels indexed by level value, for vectorised lookups: ``np.asarray(LEVEL_LABELS)[levels]``."""


def labels(levels: np.ndarray) -> np.ndarray:
    """Map an integer level array to an array of colour names."""
    return np.asarray(LEVEL_LABELS, dtype=object)[np.asarray(levels, dtype=np.int64)]
