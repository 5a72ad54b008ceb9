"""Model parameters per risk point, loaded from plain configuration dicts.

``SiteParams`` gathers the validated parameter models of the deformation,
quality and fusion models. ``SiteConfig`` holds a default plus overrides per
hazard type, per region and per point, and ``SiteConfig.resolve`` picks, for
each section separately, the most specific override that sets it:

    point  >  region (most specific first, e.g. county then province)  >  hazard type  >  default

A section is taken whole from the override that wins: fields it leaves out
take the model's defaults, not those of a less specific level. That keeps
every configured section valid on its own, so cross-field rules (ascending
thresholds, orange lead longer than red lead) are checked when the
configuration is loaded, not when a point is scored during a storm.

Example::

    config = SiteConfig.model_validate({
        "default": {"tangent_angle": {"thresholds": {"yellow": 55}}},
        "hazard_types": {"collapse": {"fusion": {"red_hold_hours": 2}}},
        "regions": {"500000": {"inverse_velocity": {"red_lead_hours": 72,
                                                    "orange_lead_hours": 240}}},
        "points": {"P-0042": {"tangent_angle": {"v_bar_mm_per_day": 0.8}}},
    })
    resolved = config.resolve("P-0042", regions=("500235", "500000"), hazard_type="landslide")
    resolved.params.tangent_angle.v_bar_mm_per_day  # 0.8
    resolved.sources["inverse_velocity"]             # "region:500000"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from warning_models.fusion import FusionParams
from warning_models.inverse_velocity import InverseVelocityParams
from warning_models.kinematics import KinematicsParams
from warning_models.quality import QualityParams
from warning_models.tangent_angle import TangentAngleParams

SECTIONS: tuple[str, ...] = ("kinematics", "tangent_angle", "inverse_velocity", "quality", "fusion")

Key = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class SiteParams(BaseModel):
    """All model parameters of one risk point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinematics: KinematicsParams = KinematicsParams()
    tangent_angle: TangentAngleParams = TangentAngleParams()
    inverse_velocity: InverseVelocityParams = InverseVelocityParams()
    quality: QualityParams = QualityParams()
    fusion: FusionParams = FusionParams()


class SiteOverride(BaseModel):
    """Sections to replace for a hazard type, region or point; unset sections inherit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinematics: KinematicsParams | None = None
    tangent_angle: TangentAngleParams | None = None
    inverse_velocity: InverseVelocityParams | None = None
    quality: QualityParams | None = None
    fusion: FusionParams | None = None


@dataclass(frozen=True)
class ResolvedSiteParams:
    """Parameters of one point and, per section, where they came from
    ("default", "hazard_type:<key>", "region:<key>" or "point:<key>")."""

    params: SiteParams
    sources: Mapping[str, str]


class SiteConfig(BaseModel):
    """Default parameters and overrides per hazard type, region and point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: SiteParams = SiteParams()
    hazard_types: dict[Key, SiteOverride] = Field(default_factory=dict)
    regions: dict[Key, SiteOverride] = Field(default_factory=dict)
    points: dict[Key, SiteOverride] = Field(default_factory=dict)

    def resolve(self, point_id: str | None = None, regions: Sequence[str] | str = (),
                hazard_type: str | None = None) -> ResolvedSiteParams:
        """Parameters of a point; per section point > regions (in order) > hazard type > default."""
        region_keys = (regions,) if isinstance(regions, str) else tuple(regions)
        chain: list[tuple[str, SiteOverride]] = []
        if point_id is not None and point_id in self.points:
            chain.append((f"point:{point_id}", self.points[point_id]))
        chain.extend((f"region:{key}", self.regions[key]) for key in region_keys
                     if key in self.regions)
        if hazard_type is not None and hazard_type in self.hazard_types:
            chain.append((f"hazard_type:{hazard_type}", self.hazard_types[hazard_type]))
        chosen: dict[str, BaseModel] = {}
        sources: dict[str, str] = {}
        for section in SECTIONS:
            source, value = "default", getattr(self.default, section)
            for name, override in chain:
                candidate = getattr(override, section)
                if candidate is not None:
                    source, value = name, candidate
                    break
            chosen[section] = value
            sources[section] = source
        return ResolvedSiteParams(SiteParams(**chosen), MappingProxyType(sources))
