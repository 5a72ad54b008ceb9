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
from api.ogc.providers.candidate_areas import CANDIDATE_AREAS, CandidateAreaProvider
from api.ogc.providers.risk_points import RiskPointProvider
from api.ogc.providers.warnings import WarningProvider


def default_providers() -> list[FeatureProvider]:
    """The collections served at /ogc, in the order they are listed."""
    return [RiskPointProvider(), WarningProvider(), CandidateAreaProvider()]


__all__ = [
    "CANDIDATE_AREAS",
    "CandidateAreaProvider",
    "EmptyProvider",
    "Extent",
    "Feature",
    "FeaturePage",
    "FeatureProvider",
    "ItemQuery",
    "Queryable",
    "RiskPointProvider",
    "WarningProvider",
    "default_providers",
]
