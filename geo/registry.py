"""The risk-point registry's domain types."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streams.units import CANONICAL_UNIT, SensorKind, unit_factor


class HazardType(StrEnum):
    LANDSLIDE = "landslide"
    COLLAPSE = "collapse"
    DEBRIS_FLOW = "debris_flow"
    SUBSIDENCE = "subsidence"
    GROUND_FISSURE = "ground_fissure"


class SensorSpec(BaseModel):
    """A sensor installed at a risk point. ``unit`` is what the sensor reports in."""

    model_config = ConfigDict(frozen=True)

    sensor_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    kind: SensorKind
    unit: str = ""

    @model_validator(mode="after")
    def _check_unit(self) -> SensorSpec:
        if not self.unit:
            object.__setattr__(self, "unit", CANONICAL_UNIT[self.kind])
        unit_factor(self.kind, self.unit)  # raises UnitError with the accepted units
        return self


class RiskPoint(BaseModel):
    """A monitored geological-hazard risk point, in EPSG:4326.

    ``geometry`` is GeoJSON (a Point at lon/lat, or the hazard's polygon);
    ``lon``/``lat`` is always the representative point used for sampling
    rasters and for map symbols.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    name: str = Field(min_length=1, max_length=200)
    hazard_type: HazardType
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    geometry: dict[str, Any]
    province: str | None = None
    province_adcode: str | None = None
    county: str | None = None
    county_adcode: str | None = None
    threatened_people: int = Field(0, ge=0)
    households: int = Field(0, ge=0)
    sensors: tuple[SensorSpec, ...] = ()
