"""The one-cell text form of a risk point's sensors: ``"S1:gnss:mm;S2:rain_gauge:mm/h"``.

Spreadsheets and attribute tables have no lists, so importers read and
demo files write the sensors of a point as ``ID:kind[:unit]`` items joined by
``;``. A missing unit means the kind's canonical unit (streams.units).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from pydantic import ValidationError

from geo.registry import SensorSpec
from streams.units import SensorKind, UnitError, unit_factor

SENSORS_FORMAT = 'ID:kind[:unit] items separated by ";", e.g. "S1:gnss:mm;S2:rain_gauge:mm/h"'
KINDS = ", ".join(k.value for k in SensorKind)
_KIND_VALUES = frozenset(k.value for k in SensorKind)


class SensorSpecError(ValueError):
    """A sensors cell that cannot be read; the message says every problem found."""


@functools.lru_cache(maxsize=65_536)
def parse_sensors(text: str | None) -> tuple[SensorSpec, ...]:
    """The sensors in one cell; an empty cell means no sensors.

    Cached: imported files repeat the same few cells (sensor ids are unique
    per point, not per file), which makes 50,000 rows cheap.
    """
    if text is None or not text.strip():
        return ()
    problems: list[str] = []
    specs: list[SensorSpec] = []
    seen: set[str] = set()
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        try:
            spec = _parse_item(item)
        except SensorSpecError as exc:
            problems.append(str(exc))
            continue
        if spec.sensor_id in seen:
            problems.append(f"sensor id {spec.sensor_id!r} appears twice")
        seen.add(spec.sensor_id)
        specs.append(spec)
    if problems:
        raise SensorSpecError("; ".join(problems))
    return tuple(specs)


def _parse_item(item: str) -> SensorSpec:
    parts = [p.strip() for p in item.split(":")]
    if len(parts) > 3:
        # Sensor ids may contain ':'; the kind is then the last or second-to-last part.
        if parts[-2] in _KIND_VALUES:
            parts = [":".join(parts[:-2]), parts[-2], parts[-1]]
        elif parts[-1] in _KIND_VALUES:
            parts = [":".join(parts[:-1]), parts[-1]]
    if len(parts) not in (2, 3) or not parts[0]:
        raise SensorSpecError(f"sensor {item!r} is not {SENSORS_FORMAT}")
    sensor_id, kind = parts[0], parts[1].lower()
    unit = parts[2] if len(parts) == 3 else ""
    if kind not in _KIND_VALUES:
        raise SensorSpecError(f"sensor {item!r}: unknown kind {parts[1]!r}; accepted: {KINDS}")
    if unit:
        try:
            unit_factor(kind, unit)
        except UnitError as exc:
            raise SensorSpecError(f"sensor {item!r}: {exc}") from None
    try:
        return SensorSpec(sensor_id=sensor_id, kind=SensorKind(kind), unit=unit)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SensorSpecError(f"sensor {item!r}: {detail} (ids use letters, digits, _ . : -)"
                              ) from None



def format_sensors(sensors: Iterable[SensorSpec]) -> str:
    """The cell text for ``sensors``; ``parse_sensors`` reads it back unchanged."""
    return ";".join(f"{s.sensor_id}:{s.kind.value}:{s.unit}" for s in sensors)
