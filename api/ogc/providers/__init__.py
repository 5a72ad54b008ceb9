"""OGC collections as providers, and the registry the app serves by default."""

from __future__ import annotations

from api.ogc.providers.base import (
    EmptyProvider,
    Extent,
    Feature,
    FeaturePage,
    FeatureProvider,
    ItemQuery,
    Queryable,
)
from api.ogc.providers.risk_points import RiskPointProvider
from api.ogc.providers.warnings import WarningProvider

CANDIDATE_AREAS = "candidate_areas"


def candidate_areas_placeholder() -> EmptyProvider:
    """InSAR candidate risk areas: empty until their table exists (see ``geo.insar_areas``)."""
    return EmptyProvider(
        CANDIDATE_AREAS, "Candidate risk areas",
        "Areas of active ground deformation detected by InSAR that are not yet registered "
        "risk points, for analysts to review. Empty until the candidate-area store exists.")


def default_providers() -> list[FeatureProvider]:
    """The collections served at /ogc, in the order they are listed."""
    return [RiskPointProvider(), WarningProvider(), candidate_areas_placeholder()]


__all__ = [
    "CANDIDATE_AREAS",
    "EmptyProvider",
    "Extent",
    "Feature",
    "FeaturePage",
    "FeatureProvider",
    "ItemQuery",
    "Queryable",
    "RiskPointProvider",
    "WarningProvider",
    "candidate_areas_placeholder",
    "default_providers",
]
