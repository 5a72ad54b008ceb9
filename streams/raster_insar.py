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

A displacement time series (MintPy ``timeseries.h5``, product
``insar_displacement``, units of displacement: m, cm or mm) becomes a
velocity map first, by MintPy's per-pixel linear fit over the acquisition
dates (``geo.rasters.timeseries``), and then follows the same path; the
evidence names the epochs it was fitted on.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dask.array as da
import numpy as np
import orjson
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from geo.insar_areas import CANDIDATE, AreaMatchParams, find_risk_areas, sample_velocity
from geo.insar_chunked import (
    BlockGrid,
    DiskArrays,
    find_risk_areas_in_blocks,
    median_in_blocks,
    sample_in_blocks,
)
from geo.rasters import (
    WGS84,
    MintPySource,
    RasterGrid,
    RasterPolicy,
    RasterTooLargeError,
    open_raster,
)
from geo.rasters.sampling import chunk_shape
from geo.rasters.timeseries import velocity_from_timeseries
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
DISPLACEMENT_UNITS = {"mm": 1.0, "millimetre": 1.0, "millimeter": 1.0, "cm": 10.0,
                      "m": 1000.0, "metre": 1000.0, "meter": 1000.0}
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
    blocks: BlockGrid | None = None
    """Set for a map above the memory budget: its arrays are memory maps in ``disk``."""
    disk: DiskArrays | None = None


def velocity_factor(units: str) -> float:
    """Multiplier from ``units`` to mm/yr."""
    factor = VELOCITY_UNITS.get(units.strip().lower().replace("per year", "/yr").replace(" ", ""))
    if factor is None:
        raise InsarInputError(f"velocity units {units!r} are not understood; use one of "
                              f"{', '.join(sorted(VELOCITY_UNITS))}")
    return factor


def displacement_factor(units: str) -> float:
    """Multiplier from displacement ``units`` to mm."""
    factor = DISPLACEMENT_UNITS.get(units.strip().lower())
    if factor is None:
        raise InsarInputError(f"displacement units {units!r} are not understood; use one of "
                              f"{', '.join(sorted(DISPLACEMENT_UNITS))}")
    return factor


def read_displacement(location: str, units: str, policy: RasterPolicy, valid_at: datetime,
                      disk: DiskArrays | None = None) -> tuple[VelocityProduct, int]:
    """The velocity (mm/yr) fitted to a MintPy displacement time series, and its epoch count.

    The stack is read in bands; a velocity map above ``policy.max_read_cells``
    is written to a memory map in ``disk`` and followed block by block (without
    ``disk`` it is refused).
    """
    factor = displacement_factor(units)
    with open_raster(location, policy, time_index=0, valid_at=valid_at) as source:
        if not isinstance(source, MintPySource) or not source.epochs:
            raise InsarInputError(f"{location}: a displacement time series must be a MintPy "
                                  f"timeseries.h5 (epochs x rows x cols with a date dataset)")
        epochs = len(source.epochs)
        cells = source.meta.height * source.meta.width
        in_blocks = cells > policy.max_read_cells
        if in_blocks and disk is None:
            raise RasterTooLargeError(
                f"{location}: a velocity map of {cells:,} cells exceeds the in-memory limit of "
                f"{policy.max_read_cells:,}")
        out = disk.array("fitted-velocity", source.meta.shape, np.float64) \
            if in_blocks and disk is not None else None
        rate, _ = velocity_from_timeseries(source, chunk_cells=policy.chunk_cells, out=out)
        chunks = chunk_shape(source.meta.block_shape, source.meta.shape, policy.chunk_cells)
    if in_blocks and disk is not None:
        data = da.from_array(rate.data, chunks=chunks, asarray=False) * factor
        grid = RasterGrid(data, rate.transform, rate.crs, "mm/yr", valid_at, rate.variable,
                          rate.attrs)
        return read_velocity_in_blocks(grid, location, "mm/yr", policy, disk), epochs
    grid = RasterGrid(rate.data * factor, rate.transform, rate.crs, "mm/yr", valid_at,
                      rate.variable, rate.attrs)
    return read_velocity(grid, location, "mm/yr", policy), epochs


def announced_factor(grid: RasterGrid, location: str, units: str) -> float:
    """Multiplier to mm/yr of the announced ``units``; the announcement wins over the file's
    own units, with a warning when they disagree."""
    factor = velocity_factor(units)
    file_units = grid.units.strip()
    if file_units and file_units.lower() in VELOCITY_UNITS and \
            VELOCITY_UNITS[file_units.lower()] != factor:
        log.warning("%s: the file says %s but the announcement says %s; converting by the "
                    "announcement", location, file_units, units)
    return factor


def read_velocity(grid: RasterGrid, location: str, units: str, policy: RasterPolicy) -> VelocityProduct:
    """The velocity in mm/yr, its coherence and reference point (see the module docstring)."""
    factor = announced_factor(grid, location, units)
    velocity = np.asarray(grid.data, dtype=np.float64) * factor
    coherence, coherence_source = _coherence(grid, location, policy)
    return VelocityProduct(velocity, coherence, grid.transform, grid.crs,
                           _reference(grid, velocity, coherence), location, coherence_source)


def read_velocity_in_blocks(grid: RasterGrid, location: str, units: str, policy: RasterPolicy,
                            disk: DiskArrays) -> VelocityProduct:
    """``read_velocity`` for a grid above the memory budget (``grid.data`` a dask array).

    The velocity (mm/yr) and the coherence are copied chunk by chunk into
    memory maps in ``disk``; the reference point is found as ``read_velocity``
    finds it, with exact medians over the chunks.
    """
    factor = announced_factor(grid, location, units)
    data = grid.data
    blocks = BlockGrid.of_chunks(data.chunks)
    velocity = disk.array("input-velocity", grid.shape, np.float64)
    for (i, j), (rows, cols) in zip(np.ndindex(*data.numblocks), blocks, strict=True):
        block = data.blocks[i, j].compute(scheduler="synchronous")
        velocity[rows, cols] = np.asarray(block, dtype=np.float64) * factor
    coherence = disk.array("coherence", grid.shape, np.float64)
    sibling = Path(location).with_name(COHERENCE_FILE)
    if grid.attrs.get("FILE_TYPE") == "velocity" and "://" not in location and sibling.is_file():
        with open_raster(sibling, policy) as source:
            if not isinstance(source, MintPySource):
                raise InsarInputError(f"{sibling}: expected a MintPy coherence file")
            if not GridRef(source.meta.transform, source.meta.crs, source.meta.shape).matches(
                    GridRef.of(grid)):
                raise InsarInputError(f"{sibling} is not on the grid of {location}")
            for rows, cols in blocks:
                coherence[rows, cols] = source.read_window(Window.from_slices(rows, cols))
        coherence_source = str(sibling)
    else:
        for rows, cols in blocks:
            coherence[rows, cols] = np.where(np.isfinite(velocity[rows, cols]), 1.0, np.nan)
        coherence_source = "none (every pixel with a value)"
    return VelocityProduct(velocity, coherence, grid.transform, grid.crs,
                           _reference_in_blocks(grid, velocity, coherence, blocks), location,
                           coherence_source, blocks=blocks, disk=disk)


def _reference_in_blocks(grid: RasterGrid, velocity: np.ndarray, coherence: np.ndarray,
                         blocks: BlockGrid) -> tuple[float, float]:
    given = _given_reference(grid)
    if given is not None:
        return given
    threshold = InsarParams().coherence_threshold

    def usable(rows: slice, cols: slice) -> np.ndarray:
        return (np.isfinite(velocity[rows, cols])
                & (np.nan_to_num(coherence[rows, cols]) >= threshold))

    centre = median_in_blocks(lambda: (velocity[r, c][usable(r, c)] for r, c in blocks))
    if not np.isfinite(centre):
        raise InsarInputError("no coherent pixel with a velocity to use as the reference")
    best = (np.inf, 0, 0)
    for rows, cols in blocks:         # blocks in row-major order: the first minimum wins
        distance = np.where(usable(rows, cols), np.abs(velocity[rows, cols] - centre), np.inf)
        r, c = np.unravel_index(int(np.argmin(distance)), distance.shape)
        candidate = (float(distance[r, c]), rows.start + int(r), cols.start + int(c))
        if candidate[0] < best[0] or (candidate[0] == best[0] and candidate[1:] < best[1:]):
            best = candidate
    return _pixel_lonlat(grid, best[1], best[2])


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


def _given_reference(grid: RasterGrid) -> tuple[float, float] | None:
    attrs = {key.upper(): value for key, value in grid.attrs.items()}   # GeoTIFF tags: ref_lon
    if "REF_LON" in attrs and "REF_LAT" in attrs:
        try:
            return float(attrs["REF_LON"]), float(attrs["REF_LAT"])
        except ValueError as exc:
            raise InsarInputError(f"unreadable reference point REF_LON/REF_LAT: {exc}") from None
    return None


def _reference(grid: RasterGrid, velocity: np.ndarray, coherence: np.ndarray) -> tuple[float, float]:
    given = _given_reference(grid)
    if given is not None:
        return given
    usable = np.isfinite(velocity) & (np.nan_to_num(coherence) >= InsarParams().coherence_threshold)
    if not usable.any():
        raise InsarInputError("no coherent pixel with a velocity to use as the reference")
    distance = np.where(usable, np.abs(velocity - np.median(velocity[usable])), np.inf)
    row, col = np.unravel_index(int(np.argmin(distance)), velocity.shape)
    return _pixel_lonlat(grid, int(row), int(col))


def _pixel_lonlat(grid: RasterGrid, row: int, col: int) -> tuple[float, float]:
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
    if product.blocks is not None and product.disk is not None:
        result, areas = find_risk_areas_in_blocks(
            product.velocity_mm_yr, product.coherence, product.transform, product.crs,
            product.reference_lonlat, product.blocks, product.disk, point_ids=points.ids,
            point_lon=points.lon, point_lat=points.lat, insar_params=insar_params,
            match_params=match_params, source=source)
        velocities = sample_in_blocks(result, product.transform, product.crs, points.lon,
                                      points.lat)
    else:
        result, areas = find_risk_areas(
            product.velocity_mm_yr, product.coherence, product.transform, product.crs,
            product.reference_lonlat, point_ids=points.ids, point_lon=points.lon,
            point_lat=points.lat, insar_params=insar_params, match_params=match_params,
            source=source)
        velocities = sample_velocity(product.velocity_mm_yr, product.coherence,
                                     product.transform, product.crs, result.reference_pixel,
                                     points.lon, points.lat, insar_params.coherence_threshold)
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
                        f"{result.sigma_mm_yr:.2f} mm/yr"
                        + (f"; in {product.blocks.count} blocks" if product.blocks else ""))
    plan.writes.append(lambda session: save_insar_samples(session, samples, at=now))
    plan.writes.append(lambda session: add_candidate_areas(session, candidates))
    return plan
