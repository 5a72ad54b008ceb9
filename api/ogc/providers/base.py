"""The provider interface behind every OGC collection (as pygeoapi's ``BaseProvider``).

A collection is a ``FeatureProvider``: its metadata (id, title, extent, the
properties it can filter on) and two reads, a page of items and one item.
The routes know nothing of tables, so a new collection (the InSAR candidate
areas once their table exists, hazard grids as polygons) is one provider
class and one entry in the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from api.ogc.params import Interval
from store.read import BBox
from store.read_ogc import TimeExtent

Feature = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Queryable:
    """A property that items can be filtered on with ``?name=value``.

    ``parse`` turns the query text into what the provider's query takes and
    raises ``InvalidParameter`` (or ``InvalidQuery``) for a bad value.
    """

    description: str
    parse: Callable[[str], Any] = str
    enum: tuple[str, ...] | None = None
    type: str = "string"


Scope = Collection[str] | None
"""The province adcodes a caller may see; None is the whole country."""


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """What ``/items`` asks of a provider; ``filters`` holds parsed queryable values."""

    limit: int
    offset: int
    bbox: BBox | None = None
    interval: Interval | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    scope: Scope = None


@dataclass(frozen=True, slots=True)
class FeaturePage:
    features: list[Feature]
    number_matched: int


@dataclass(frozen=True, slots=True)
class Extent:
    bbox: BBox | None = None
    time: TimeExtent | None = None


class FeatureProvider(ABC):
    """One collection of features in EPSG:4326 (CRS84, lon/lat), served as GeoJSON.

    A provider honours the caller's scope: a provincial officer's collection
    holds only what concerns its provinces, and any other feature is not found.
    """

    id: str
    title: str
    description: str
    temporal: bool = False
    """Whether ``datetime`` filters this collection; asking a non-temporal one is a 400."""
    queryables: Mapping[str, Queryable] = MappingProxyType({})

    @abstractmethod
    def extent(self, session: Session) -> Extent:
        """The box (and time span) of the collection's features now."""

    @abstractmethod
    def items(self, session: Session, query: ItemQuery) -> FeaturePage:
        """One page of features, in a stable order, and how many match in all."""

    @abstractmethod
    def item(self, session: Session, feature_id: str, scope: Scope = None) -> Feature | None:
        """One feature by id, or None (also when it lies outside ``scope``)."""


class EmptyProvider(FeatureProvider):
    """A collection whose source does not exist yet: always empty, never an error.

    Clients can be pointed at it today and see features once a real provider
    takes its place under the same id.
    """

    def __init__(self, id: str, title: str, description: str, *, temporal: bool = False,
                 queryables: Mapping[str, Queryable] | None = None) -> None:
        self.id, self.title, self.description = id, title, description
        self.temporal = temporal
        self.queryables = dict(queryables or {})

    def extent(self, session: Session) -> Extent:
        return Extent()

    def items(self, session: Session, query: ItemQuery) -> FeaturePage:
        return FeaturePage([], 0)

    def item(self, session: Session, feature_id: str, scope: Scope = None) -> Feature | None:
        return None
