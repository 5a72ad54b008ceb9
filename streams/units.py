"""Sensor kinds, their canonical units and the conversions accepted on input.

A reading may arrive in any unit listed for its kind; it is normalised to the
kind's canonical unit (mm, mm/h, kPa, degrees, %) before anything scores it.
Displacement kinds report *cumulative* displacement since installation.
"""

from __future__ import annotations

import math
from enum import StrEnum


class SensorKind(StrEnum):
    GNSS = "gnss"                    # cumulative surface displacement, mm
    CRACK = "crack"                  # crack opening, mm
    INCLINOMETER = "inclinometer"    # cumulative subsurface displacement, mm
    EXTENSOMETER = "extensometer"    # cumulative wire extension, mm
    TILT = "tilt"                    # tilt angle, degrees
    RAIN_GAUGE = "rain_gauge"        # rainfall intensity over the reporting interval, mm/h
    PORE_PRESSURE = "pore_pressure"  # pore-water pressure, kPa
    SOIL_MOISTURE = "soil_moisture"  # volumetric water content, %
    MUD_LEVEL = "mud_level"          # debris-flow mud / water level above channel bed, mm


CANONICAL_UNIT: dict[SensorKind, str] = {
    SensorKind.GNSS: "mm",
    SensorKind.CRACK: "mm",
    SensorKind.INCLINOMETER: "mm",
    SensorKind.EXTENSOMETER: "mm",
    SensorKind.TILT: "degrees",
    SensorKind.RAIN_GAUGE: "mm/h",
    SensorKind.PORE_PRESSURE: "kPa",
    SensorKind.SOIL_MOISTURE: "%",
    SensorKind.MUD_LEVEL: "mm",
}

DISPLACEMENT_KINDS = frozenset(
    {SensorKind.GNSS, SensorKind.CRACK, SensorKind.INCLINOMETER, SensorKind.EXTENSOMETER}
)

_LENGTH = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
_RATE = {"mm/h": 1.0, "mm/hr": 1.0, "mm/min": 60.0, "mm/d": 1.0 / 24.0, "mm/day": 1.0 / 24.0}
_PRESSURE = {"kpa": 1.0, "pa": 1e-3, "mpa": 1e3, "hpa": 0.1, "bar": 100.0}
_ANGLE = {"degrees": 1.0, "degree": 1.0, "deg": 1.0, "°": 1.0, "rad": 180.0 / math.pi,
          "mrad": 0.180 / math.pi, "arcsec": 1.0 / 3600.0, '"': 1.0 / 3600.0}
_PERCENT = {"%": 1.0, "percent": 1.0, "fraction": 100.0}

_FACTORS: dict[str, dict[str, float]] = {
    "mm": _LENGTH, "mm/h": _RATE, "kPa": _PRESSURE, "degrees": _ANGLE, "%": _PERCENT,
}


class UnitError(ValueError):
    """A unit that is unknown for the sensor kind."""


def unit_factor(kind: SensorKind | str, unit: str) -> float:
    """Multiplier that converts a value in ``unit`` to the kind's canonical unit.

    Raises UnitError with the accepted units when ``unit`` does not fit ``kind``.
    """
    kind = SensorKind(kind)
    canonical = CANONICAL_UNIT[kind]
    table = _FACTORS[canonical]
    key = unit.strip()
    factor = table.get(key, table.get(key.lower()))
    if factor is None:
        accepted = ", ".join(sorted(table))
        raise UnitError(f"unit {unit!r} is not valid for a {kind.value} sensor; "
                        f"accepted: {accepted}")
    return factor
