"""InSAR active areas on the map: polygons, registry matching, velocity at risk points.

``warning_models.insar`` finds clusters of moving pixels on a grid; this
module gives them geography. Each cluster becomes a polygon in EPSG:4326 with
its velocities, its true ground area and centroid (both computed on a
Lambert azimuthal equal-area projection centred on the grid, so areas are
exact and buffer distances are nearly so at regional scale), and is either
"covered" (a registered risk point lies inside it or within ``buffer_m``) or a
"candidate" risk area: ground that moves where nobody monitors it, with the
numbers and parameters that make the case.

Inputs are arrays plus the grid's affine transform (cell corners, rows north
to south) and CRS; whatever reader produced them is not our concern. MintPy
products carry their georeferencing in attributes (X_FIRST/Y_FIRST are the
outer corner of the first pixel, REF_LAT/REF_LON the reference point);
``mintpy_georef`` reads those from any mapping of attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field
from rasterio.crs import CRS
from rasterio.features import shapes

from warning_models.insar import (
    ActiveAreas,
    ClusterTable,
    InsarParams,
    coherence_mask,
    detect_active_areas,
)

WGS84 = CRS.from_epsg(4326)
_A = 6378137.0                      # WGS84 semi-major axis (m)
_F = 1 / 298.257223563              # WGS84 flattening
_E2 = _F * (2 - _F)
COVERED, CANDIDATE = "covered", "candidate"


class AreaMatchParams(BaseModel):
    """How close a registered risk point must be for an area to count as covered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buffer_m: float = Field(100.0, ge=0, le=50_000,
                            description="distance (m) from a polygon within which a point covers it")


@dataclass(frozen=True)
class MintpyGeoref:
    transform: Affine
    crs: CRS
    ref_lon: float | None
    ref_lat: float | None


def mintpy_georef(attrs: Mapping[str, Any]) -> MintpyGeoref:
    """Transform, CRS and reference point of a geocoded MintPy product's attributes."""
    def num(key: str) -> float:
        value = attrs[key]
        return float(value.decode() if isinstance(value, bytes) else value)

    transform = Affine(num("X_STEP"), 0.0, num("X_FIRST"), 0.0, num("Y_STEP"), num("Y_FIRST"))
    crs = CRS.from_epsg(int(num("EPSG"))) if "EPSG" in attrs else WGS84
    has_ref = "REF_LAT" in attrs and "REF_LON" in attrs
    return MintpyGeoref(transform, crs, num("REF_LON") if has_ref else None,
                        num("REF_LAT") if has_ref else None)


def _to_grid_xy(crs: CRS, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if CRS.from_user_input(crs) == WGS84:
        return lon, lat
    to_grid = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
    return to_grid.transform(lon, lat)


def pixel_index(transform: Affine, crs: CRS, lon: np.ndarray, lat: np.ndarray,
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column of the pixel holding each lon/lat, and whether it is inside the grid."""
    x, y = _to_grid_xy(crs, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    col_f, row_f = ~transform @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    with np.errstate(invalid="ignore"):
        row = np.floor(row_f)
        col = np.floor(col_f)
        inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    row = np.where(inside, row, 0).astype(np.int64)
    col = np.where(inside, col, 0).astype(np.int64)
    return row, col, inside


def reference_pixel(transform: Affine, crs: CRS, lon: float, lat: float,
                    shape: tuple[int, int]) -> tuple[int, int]:
    """(row, col) of the pixel holding the reference point (MintPy's REF_Y, REF_X)."""
    row, col, inside = pixel_index(transform, crs, np.array([lon]), np.array([lat]), shape)
    if not inside[0]:
        raise ValueError(f"reference point ({lon}, {lat}) lies outside the grid")
    return int(row[0]), int(col[0])


def _authalic(lat_rad: np.ndarray) -> np.ndarray:
    """q(phi)/2 of the WGS84 ellipsoid: cell area = b^2 * dlon * (q(phi2) - q(phi1)) / 2."""
    e = np.sqrt(_E2)
    s = np.sin(lat_rad)
    return s / (1 - _E2 * s * s) / 2 + np.arctanh(e * s) / (2 * e)


def pixel_areas_m2(transform: Affine, crs: CRS, shape: tuple[int, int]) -> np.ndarray:
    """Ground area of each pixel (m^2): one value per row on geographic grids, else a scalar.

    Geographic cells use the exact area of an ellipsoidal quadrangle on WGS84
    (Snyder 1987, "Map projections: a working manual", USGS PP 1395, eq. 3-12),
    so areas at 45 degrees are not overstated by 40 %.
    """
    crs = CRS.from_user_input(crs)
    if crs.is_geographic and (transform.b != 0 or transform.d != 0):
        raise ValueError("rotated geographic grids are not supported")
    if crs.is_geographic:
        b2 = (_A * (1 - _F)) ** 2
        edges = np.deg2rad(transform.f + transform.e * np.arange(shape[0] + 1))
        q = _authalic(edges)
        area = b2 * abs(np.deg2rad(transform.a)) * np.abs(np.diff(q))
        return area[:, None]
    unit = crs.linear_units_factor[1]
    return np.asarray(abs(transform.a * transform.e - transform.b * transform.d) * unit ** 2)


def equal_area_crs(transform: Affine, crs: CRS, shape: tuple[int, int]) -> pyproj.CRS:
    """Lambert azimuthal equal-area on WGS84 centred on the grid."""
    cx, cy = transform @ (shape[1] / 2, shape[0] / 2)
    lon, lat = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True).transform(cx, cy)
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} "
                                 "+datum=WGS84 +units=m +no_defs")


def area_polygons(result: ActiveAreas, transform: Affine, crs: CRS) -> gpd.GeoDataFrame:
    """One polygon per area (EPSG:4326) with its numbers; area_m2 is the polygon's true area."""
    labels = result.labels
    pieces: dict[int, list] = {}
    for geom, value in shapes(labels, mask=labels > 0, transform=transform, connectivity=4):
        pieces.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    geoms = [shapely.coverage_union_all(pieces[int(label)]) for label in result.clusters.label]
    return areas_frame(geoms, result.clusters, transform, crs, labels.shape)


def label_polygon(window: np.ndarray, label: int, row0: int, col0: int,
                  transform: Affine) -> shapely.Geometry:
    """The polygon of one area traced on a window (first cell ``row0``, ``col0``) of the
    label grid, with the coordinates ``area_polygons`` gives on the whole grid.

    Traced in whole-grid pixel units and georeferenced as GDAL's polygonizer
    does (``c + a*col + b*row``, in that order), so no vertex moves by a rounding.
    """
    pieces = [shapely.geometry.shape(geom) for geom, _ in
              shapes(window, mask=window == label, connectivity=4,
                     transform=Affine.translation(col0, row0))]

    def georeference(xy: np.ndarray) -> np.ndarray:
        col, row = xy[:, 0], xy[:, 1]
        return np.column_stack(((transform.c + transform.a * col) + transform.b * row,
                                (transform.f + transform.d * col) + transform.e * row))

    return shapely.transform(shapely.coverage_union_all(pieces), georeference)


def areas_frame(geoms: Sequence[shapely.Geometry], table: ClusterTable, transform: Affine,
                crs: CRS, shape: tuple[int, int]) -> gpd.GeoDataFrame:
    """The areas' polygons (in the grid's CRS) with their numbers, as ``area_polygons`` gives."""
    frame = gpd.GeoDataFrame({
        "label": table.label.astype(int),
        "pixel_count": table.pixel_count,
        "mean_velocity_mm_yr": table.mean_velocity_mm_yr,
        "peak_velocity_mm_yr": table.peak_velocity_mm_yr,
        "pixel_area_m2": table.area_m2,
    }, geometry=geoms, crs=crs)
    laea = equal_area_crs(transform, crs, shape)
    projected = frame.geometry.to_crs(laea)
    centroids = gpd.GeoSeries(projected.centroid, crs=laea).to_crs(WGS84)
    peak_x, peak_y = transform @ (table.peak_col + 0.5, table.peak_row + 0.5)
    peak_lon, peak_lat = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True).transform(
        np.asarray(peak_x, float), np.asarray(peak_y, float))
    frame["area_m2"] = projected.area.to_numpy()
    frame["centroid_lon"] = centroids.x.to_numpy()
    frame["centroid_lat"] = centroids.y.to_numpy()
    frame["peak_lon"] = np.asarray(peak_lon, float)
    frame["peak_lat"] = np.asarray(peak_lat, float)
    return frame.to_crs(WGS84)


def match_risk_points(areas: gpd.GeoDataFrame, point_ids: Sequence[str], lon: np.ndarray,
                      lat: np.ndarray, params: AreaMatchParams | None = None) -> list[list[str]]:
    """Ids of the risk points inside each area or within ``buffer_m`` of it."""
    params = params or AreaMatchParams()
    ids = np.asarray(point_ids, dtype=object)
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if not (ids.size == x.size == y.size):
        raise ValueError(f"point_ids, lon and lat differ in length ({ids.size}, {x.size}, {y.size})")
    found: list[list[str]] = [[] for _ in range(len(areas))]
    finite = np.isfinite(x) & np.isfinite(y)
    if len(areas) == 0 or not finite.any():
        return found
    lon0, lat0 = areas.geometry.union_all().centroid.coords[0]
    laea = pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} "
                                 "+datum=WGS84 +units=m +no_defs")
    polys = areas.geometry.to_crs(laea).to_numpy()
    pts = gpd.GeoSeries(shapely.points(x[finite], y[finite]), crs=WGS84).to_crs(laea).to_numpy()
    tree = shapely.STRtree(pts)
    area_idx, point_idx = tree.query(polys, predicate="dwithin", distance=params.buffer_m)
    finite_ids = ids[finite]
    for a, p in zip(area_idx, point_idx, strict=True):
        found[int(a)].append(str(finite_ids[p]))
    return [sorted(f) for f in found]


def classify_areas(areas: gpd.GeoDataFrame, result: ActiveAreas, point_ids: Sequence[str],
                   lon: np.ndarray, lat: np.ndarray, *, params: AreaMatchParams | None = None,
                   reference_lonlat: tuple[float, float] | None = None,
                   source: Mapping[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Add ``risk_point_ids``, ``covered``, ``status`` (covered/candidate) and ``evidence``."""
    params = params or AreaMatchParams()
    matched = match_risk_points(areas, point_ids, lon, lat, params)
    out = areas.copy()
    out["risk_point_ids"] = matched
    out["covered"] = np.array([bool(m) for m in matched], dtype=bool)
    out["status"] = np.where(out["covered"], COVERED, CANDIDATE)
    common = result.evidence()
    common["params"] = {**common["params"], **params.model_dump()}
    if reference_lonlat is not None:
        common["reference_lon"], common["reference_lat"] = map(float, reference_lonlat)
    if source:
        common["source"] = dict(source)
    numbers = ("pixel_count", "area_m2", "mean_velocity_mm_yr", "peak_velocity_mm_yr",
               "peak_lon", "peak_lat", "centroid_lon", "centroid_lat")
    out["evidence"] = [
        {"indicator": "insar_los_velocity", "status": status,
         **{k: _plain(row[k]) for k in numbers}, **common}
        for status, (_, row) in zip(out["status"], out.iterrows(), strict=True)]
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def find_risk_areas(velocity_mm_yr: np.ndarray, coherence: np.ndarray, transform: Affine,
                    crs: CRS, reference_lonlat: tuple[float, float], *,
                    point_ids: Sequence[str] = (), point_lon: np.ndarray | None = None,
                    point_lat: np.ndarray | None = None,
                    insar_params: InsarParams | None = None,
                    match_params: AreaMatchParams | None = None,
                    source: Mapping[str, Any] | None = None,
                    ) -> tuple[ActiveAreas, gpd.GeoDataFrame]:
    """Detect active areas on one velocity map and sort them into covered and candidates."""
    v = np.asarray(velocity_mm_yr, dtype=float)
    ref = reference_pixel(transform, crs, *reference_lonlat, v.shape)
    result = detect_active_areas(v, coherence, ref, pixel_areas_m2(transform, crs, v.shape),
                                 insar_params)
    areas = area_polygons(result, transform, crs)
    lon = np.zeros(0) if point_lon is None else point_lon
    lat = np.zeros(0) if point_lat is None else point_lat
    return result, classify_areas(areas, result, point_ids, lon, lat, params=match_params,
                                  reference_lonlat=reference_lonlat, source=source)


def sample_velocity(velocity_mm_yr: np.ndarray, coherence: np.ndarray, transform: Affine,
                    crs: CRS, reference: tuple[int, int], lon: np.ndarray, lat: np.ndarray,
                    coherence_threshold: float = InsarParams().coherence_threshold) -> np.ndarray:
    """LOS velocity (mm/yr) at each lon/lat: nearest pixel, relative to the reference pixel.

    NaN where the point is outside the grid or its pixel is incoherent, so a
    consumer never mistakes "not measured" for "not moving".
    """
    v = np.asarray(velocity_mm_yr, dtype=float)
    ref_value = v[reference]
    if not np.isfinite(ref_value):
        raise ValueError(f"reference pixel {tuple(reference)} has no velocity")
    ok = coherence_mask(coherence, coherence_threshold, v)
    row, col, inside = pixel_index(transform, crs, lon, lat, v.shape)
    good = inside & ok[row, col]
    return np.where(good, v[row, col] - ref_value, np.nan)
