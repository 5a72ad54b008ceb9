"""InSAR velocity products: velocity at every risk point, and candidate risk areas.

A LOS velocity map (MintPy ``velocity.h5`` or a GeoTIFF) is converted to
mm/yr by the announced units, masked by temporal coherence (MintPy's
``temporalCoherence.h5`` beside the product, when present) and taken
relative to its reference point (MintPy's REF_LAT/REF_LON, or GeoTIFF tags
of those names in any case; a GeoTIFF without them is referenced to its most
typical coherent pixel, the one closest to the median velocity).
geo.insar_areas then finds the active
deformation areas; those no registered point covers become candidate risk
areas. Their ids are uuid5 of the product location, the valid time and the
polygon, so ingesting the same product again inserts nothing new.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

from geo.insar_areas import CANDIDATE, AreaMatchParams, find_risk_areas, sample_velocity
from geo.rasters import WGS84, MintPySource, RasterGrid, RasterPolicy, open_raster
from store.rasters import CandidateArea, InsarSample, add_candidate_areas, save_insar_samples
from streams.raster_files import Plan
from streams.raster_nowcast import PointArrays
from streams.raster_state import GridRef
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.insar import InsarParams

log = logging.getLogger(__name__)

COHERENCE_FILE = "temporalCoherence.h5"
VELOCITY_UNITS = {"mm/yr": 1.0, "mm/year": 1.0, "mm/a": 1.0, "mm/y": 1.0,
                  "cm/yr": 10.0, "cm/year": 10.0, "cm/a": 10.0,
                  "m/yr": 1000.0, "m/year": 1000.0, "m/a": 1000.0, "m/y": 1000.0}
GEOMETRY_DECIMALS = 9
"""Coordinates are rounded to 1e-9 degrees before hashing a polygon into an id."""


class InsarInputError(ValueError):
    """A velocity product that cannot be used as announced."""


@dataclass(frozen=True, eq=False)
class VelocityProduct:
    """A velocity map in mm/yr with its coherence and reference point."""

    velocity_mm_yr: np.ndarray
    coherence: np.ndarray
    transform: Affine
    crs: CRS
    reference_lonlat: tuple[float, float]
    location: str
    coherence_source: str


def velocity_factor(units: str) -> float:
    """Multiplier from ``units`` to mm/yr."""
    factor = VELOCITY_UNITS.get(units.strip().lower().replace("per year", "/yr").replace(" ", ""))
    if factor is None:
        raise InsarInputError(f"velocity units {units!r} are not understood; use one of "
                              f"{', '.join(sorted(VELOCITY_UNITS))}")
    return factor


def read_velocity(grid: RasterGrid, location: str, units: str, policy: RasterPolicy) -> VelocityProduct:
    """The velocity in mm/yr, its coherence and reference point (see the module docstring)."""
    factor = velocity_factor(units)
    file_units = grid.units.strip()
    if file_units and file_units.lower() in VELOCITY_UNITS and \
            VELOCITY_UNITS[file_units.lower()] != factor:
        log.warning("%s: the file says %s but the announcement says %s; converting by the "
                    "announcement", location, file_units, units)
    velocity = np.asarray(grid.data, dtype=np.float64) * factor
    coherence, coherence_source = _coherence(grid, location, policy)
    return VelocityProduct(velocity, coherence, grid.transform, grid.crs,
                           _reference(grid, velocity, coherence), location, coherence_source)


def _coherence(grid: RasterGrid, location: str, policy: RasterPolicy) -> tuple[np.ndarray, str]:
    sibling = Path(location).with_name(COHERENCE_FILE)
    if grid.attrs.get("FILE_TYPE") == "velocity" and "://" not in location and sibling.is_file():
        with open_raster(sibling, policy) as source:
            if not isinstance(source, MintPySource):
                raise InsarInputError(f"{sibling}: expected a MintPy coherence file")
            coherence = source.read(max_cells=policy.max_read_cells)
        if not GridRef.of(coherence).matches(GridRef.of(grid)):
            raise InsarInputError(f"{sibling} is not on the grid of {location}")
        return np.asarray(coherence.data, dtype=np.float64), str(sibling)
    # No coherence: every pixel with a velocity counts as coherent.
    return np.where(np.isfinite(grid.data), 1.0, np.nan), "none (every pixel with a value)"


def _reference(grid: RasterGrid, velocity: np.ndarray, coherence: np.ndarray) -> tuple[float, float]:
    attrs = {key.upper(): value for key, value in grid.attrs.items()}   # GeoTIFF tags: ref_lon
    if "REF_LON" in attrs and "REF_LAT" in attrs:
        try:
            return float(attrs["REF_LON"]), float(attrs["REF_LAT"])
        except ValueError as exc:
            raise InsarInputError(f"unreadable reference point REF_LON/REF_LAT: {exc}") from None
    usable = np.isfinite(velocity) & (np.nan_to_num(coherence) >= InsarParams().coherence_threshold)
    if not usable.any():
        raise InsarInputError("no coherent pixel with a velocity to use as the reference")
    distance = np.where(usable, np.abs(velocity - np.median(velocity[usable])), np.inf)
    row, col = np.unravel_index(int(np.argmin(distance)), velocity.shape)
    x, y = grid.transform @ (col + 0.5, row + 0.5)
    if not grid.crs.is_geographic:
        xs, ys = warp_transform(grid.crs, WGS84, [x], [y])
        x, y = xs[0], ys[0]
    return float(x), float(y)


def product_id(location: str, valid_at: datetime) -> str:
    return str(uuid.uuid5(GEOWARN_NAMESPACE, f"insar|{location}|{valid_at.isoformat()}"))


def candidate_id(location: str, valid_at: datetime, geometry: shapely.Geometry) -> str:
    """Deterministic in the product and the polygon: re-ingesting yields the same ids."""
    rounded = shapely.set_precision(geometry, 10.0 ** -GEOMETRY_DECIMALS)
    digest = hashlib.sha256(shapely.to_wkb(shapely.normalize(rounded))).hexdigest()
    return str(uuid.uuid5(GEOWARN_NAMESPACE,
                          f"candidate|{location}|{valid_at.isoformat()}|{digest}"))


def plan_velocity(product: VelocityProduct, *, product_name: str, valid_at: datetime,
                  points: PointArrays, insar_params: InsarParams, match_params: AreaMatchParams,
                  now: datetime) -> Plan:
    """Samples at the points and candidate areas for the database (no files)."""
    source = {"product": product_name, "location": product.location,
              "valid_at": valid_at.isoformat(), "coherence": product.coherence_source}
    result, areas = find_risk_areas(
        product.velocity_mm_yr, product.coherence, product.transform, product.crs,
        product.reference_lonlat, point_ids=points.ids, point_lon=points.lon,
        point_lat=points.lat, insar_params=insar_params, match_params=match_params,
        source=source)
    velocities = sample_velocity(product.velocity_mm_yr, product.coherence, product.transform,
                                 product.crs, result.reference_pixel, points.lon, points.lat,
                                 insar_params.coherence_threshold)
    pid = product_id(product.location, valid_at)
    samples = [InsarSample(points.ids[i], pid, product.location, valid_at, float(velocities[i]))
               for i in np.flatnonzero(np.isfinite(velocities)).tolist()]
    candidates = []
    for row in areas[areas["status"] == CANDIDATE].itertuples(index=False):
        inside = row.geometry.representative_point()
        candidates.append(CandidateArea(
            id=candidate_id(product.location, valid_at, row.geometry), status=CANDIDATE,
            product=product_name, location=product.location, valid_at=valid_at,
            geometry=orjson.loads(shapely.to_geojson(row.geometry)),
            lon=float(inside.x), lat=float(inside.y), area_m2=float(row.area_m2),
            pixel_count=int(row.pixel_count),
            mean_velocity_mm_yr=float(row.mean_velocity_mm_yr),
            peak_velocity_mm_yr=float(row.peak_velocity_mm_yr), evidence=row.evidence,
            created_at=now))
    plan = Plan(summary=f"{len(areas)} active areas ({len(candidates)} not covered by a risk "
                        f"point); velocity at {len(samples)} risk points; sigma "
                        f"{result.sigma_mm_yr:.2f} mm/yr")
    plan.writes.append(lambda session: save_insar_samples(session, samples, at=now))
    plan.writes.append(lambda session: add_candidate_areas(session, candidates))
    return plan
