"""Between a grid's CRS and EPSG:4326: grids with rasterio.warp, points with GDAL's transformer.

Both go through rasterio's GDAL/PROJ (not pyproj's), so a grid warped to
EPSG:4326 and points sampled in the source CRS agree: DESIGN warns that the
project's GDAL/PROJ builds differ. Projections on other ellipsoids without a
datum shift (e.g. Albers on Krasovsky, common in Chinese products) are
transformed as GDAL does by default, with no datum shift.
"""

from __future__ import annotations

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject, transform

from geo.rasters.errors import RasterTooLargeError
from geo.rasters.grid import RasterGrid
from geo.rasters.policy import WGS84


def is_wgs84(crs: CRS) -> bool:
    """True for EPSG:4326 in either axis order (the kind that needs no transform)."""
    return crs == WGS84 or crs.to_epsg() == 4326


def points_to_crs(lon: np.ndarray, lat: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (EPSG:4326) as x/y in ``crs``; non-finite stays non-finite."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if is_wgs84(crs):
        return lon, lat
    finite = np.isfinite(lon) & np.isfinite(lat)
    x = np.full(lon.shape, np.nan)
    y = np.full(lat.shape, np.nan)
    if finite.any():
        xs, ys = transform(WGS84, crs, lon[finite], lat[finite])
        x[finite], y[finite] = xs, ys
    return x, y


def reproject_to_wgs84(grid: RasterGrid, *, resolution: float | None = None,
                       resampling: str = "nearest", max_cells: int | None = None) -> RasterGrid:
    """``grid`` on a north-up EPSG:4326 grid (unchanged if it already is one).

    resolution: cell size in degrees (default: GDAL's estimate, about the
        source cell size). resampling: a rasterio ``Resampling`` name;
        "nearest" keeps values as measured, "bilinear" suits smooth fields.
    No-data cells stay NaN and cells outside the source become NaN.
    """
    if is_wgs84(grid.crs) and grid.transform.b == 0 and grid.transform.d == 0 \
            and grid.transform.e < 0:
        return grid
    dst_transform, width, height = calculate_default_transform(
        grid.crs, WGS84, grid.width, grid.height, *grid.bounds, resolution=resolution)
    if max_cells is not None and width * height > max_cells:
        raise RasterTooLargeError(f"reprojecting to EPSG:4326 gives {height:,} x {width:,} cells, "
                                  f"more than {max_cells:,}; choose a coarser resolution")
    out = np.full((height, width), np.nan, dtype=grid.data.dtype)
    reproject(source=grid.data, destination=out, src_transform=grid.transform, src_crs=grid.crs,
              src_nodata=np.nan, dst_transform=dst_transform, dst_crs=WGS84, dst_nodata=np.nan,
              resampling=Resampling[resampling])
    return RasterGrid(data=out, transform=dst_transform, crs=WGS84, units=grid.units,
                      valid_at=grid.valid_at, variable=grid.variable, attrs=grid.attrs)
