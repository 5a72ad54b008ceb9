"""What rasters geowarn accepts: where they may live, how big, over which territory.

A raster announcement comes from outside (a satellite ground segment, a
meteorological bureau), so its location and declared size are checked
before anything is read: paths must stay inside configured roots after
symlinks and ``..`` are resolved, GDAL virtual paths (``/vsicurl/``, VRTs
pointing anywhere) are refused, and a header declaring 10^10 cells is
rejected without allocating anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from shapely.geometry.base import BaseGeometry

from geo.rasters.errors import (
    MissingCrsError,
    OutsideTerritoryError,
    RasterLayoutError,
    RasterNotFoundError,
    RasterPathError,
    RasterTooLargeError,
    UnknownCrsError,
)
from geo.rasters.grid import RasterMeta

if TYPE_CHECKING:
    from geo.boundaries import Boundaries

WGS84 = CRS.from_epsg(4326)
# Bounding box of geo/data's territory (Boundaries.load().territory.bounds), rounded outward.
CHINA_BOUNDS = (73.5, 3.8, 135.1, 53.6)

Bounds = tuple[float, float, float, float]


class RasterPolicy(BaseModel):
    """Limits applied to every raster before it is read.

    allowed_roots: local rasters must resolve inside one of these folders.
    remote_schemes: URL schemes handed to rasterio untouched (GeoTIFF/COG only).
    max_cells: largest declared size accepted at all (rows x cols).
    max_read_cells: largest grid read into memory at once (the memory budget);
        larger rasters are sampled window by window or processed as dask arrays
        in chunks of about ``chunk_cells`` cells (``geo.rasters.chunked``).
    territory: (west, south, east, north) in degrees, or a polygon in
        EPSG:4326 (e.g. ``Boundaries.load().territory``); None disables the check.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    allowed_roots: tuple[Path, ...] = ()
    remote_schemes: tuple[str, ...] = ("s3",)
    max_cells: Annotated[int, Field(gt=0)] = 5_000_000_000     # China at 0.001 deg: 2.2e9
    max_read_cells: Annotated[int, Field(gt=0)] = 200_000_000
    chunk_cells: Annotated[int, Field(gt=0)] = 1 << 22                 # 32 MiB of float64
    territory: Bounds | BaseGeometry | None = CHINA_BOUNDS

    @field_validator("allowed_roots")
    @classmethod
    def _resolve_roots(cls, roots: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(Path(root).expanduser().resolve() for root in roots)

    @field_validator("territory")
    @classmethod
    def _check_territory(cls, value: Bounds | BaseGeometry | None) -> Bounds | BaseGeometry | None:
        if isinstance(value, tuple):
            west, south, east, north = value
            if not (west < east and south < north):
                raise ValueError(f"territory bounds must be (west, south, east, north), got {value}")
        return value

    @classmethod
    def for_boundaries(cls, boundaries: Boundaries, **fields: object) -> RasterPolicy:
        """A policy whose territory is the provinces' union rather than its bounding box."""
        return cls(territory=boundaries.territory, **fields)


def resolve_location(location: str | Path, policy: RasterPolicy) -> str:
    """The checked location to open: an allowed URL as given, or a resolved local path.

    Relative paths are looked up under each root in turn.
    """
    text = str(location)
    if text.startswith("/vsi"):
        raise RasterPathError(f"{text}: GDAL virtual file systems are not accepted; "
                              "give a path under an allowed root or an s3:// URL")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in policy.remote_schemes:
            raise RasterPathError(f"{text}: scheme {scheme!r} is not allowed "
                                  f"(allowed: {', '.join(policy.remote_schemes) or 'none'})")
        return text
    if not policy.allowed_roots:
        raise RasterPathError(f"{text}: no raster roots are configured, so no local path is allowed")
    path = Path(text).expanduser()
    candidates = [path] if path.is_absolute() else [root / path for root in policy.allowed_roots]
    inside = [c.resolve() for c in candidates if _inside(c.resolve(), policy.allowed_roots)]
    if not inside:
        roots = ", ".join(str(r) for r in policy.allowed_roots)
        raise RasterPathError(f"{text} resolves to {candidates[0].resolve()}, outside the allowed "
                              f"roots ({roots})")
    for resolved in inside:
        if resolved.is_file():
            return str(resolved)
    raise RasterNotFoundError(f"{text}: no such file ({inside[0]})")


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def check_meta(meta: RasterMeta, policy: RasterPolicy) -> None:
    """Refuse a raster by its metadata alone: size, CRS, footprint."""
    if meta.height <= 0 or meta.width <= 0:
        raise RasterLayoutError(f"{meta.location}: empty grid ({meta.height} x {meta.width})")
    if meta.cells > policy.max_cells:
        raise RasterTooLargeError(
            f"{meta.location}: declares {meta.height:,} x {meta.width:,} = {meta.cells:,} cells, "
            f"more than the configured maximum of {policy.max_cells:,}")
    footprint = footprint_wgs84(meta)
    if policy.territory is not None and not _touches(footprint, policy.territory):
        raise OutsideTerritoryError(
            f"{meta.location}: grid covers lon {footprint[0]:.3f}..{footprint[2]:.3f}, "
            f"lat {footprint[1]:.3f}..{footprint[3]:.3f}, which does not touch the territory")


def footprint_wgs84(meta: RasterMeta) -> Bounds:
    """The grid's bounding box in EPSG:4326; raises the CRS errors."""
    crs = meta.crs
    if crs is None or not crs.to_wkt():
        raise MissingCrsError(f"{meta.location}: the file declares no coordinate reference "
                              "system; re-export it with one (e.g. gdal_translate -a_srs)")
    if crs == WGS84:
        return meta.bounds
    try:
        box = transform_bounds(crs, WGS84, *meta.bounds, densify_pts=21)
    except Exception as exc:  # GDAL raises private CPLE_* classes besides CRSError
        raise UnknownCrsError(f"{meta.location}: cannot transform its CRS to EPSG:4326 "
                              f"({crs.to_string()[:80]}): {exc}") from exc
    if not np.all(np.isfinite(box)):
        raise UnknownCrsError(f"{meta.location}: its CRS ({crs.to_string()[:80]}) gives no "
                              "finite longitude/latitude for the grid")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def _touches(footprint: Bounds, territory: Bounds | BaseGeometry) -> bool:
    if isinstance(territory, tuple):
        west, south, east, north = territory
        return not (footprint[2] < west or footprint[0] > east
                    or footprint[3] < south or footprint[1] > north)
    return bool(shapely.intersects(shapely.box(*footprint), territory))
