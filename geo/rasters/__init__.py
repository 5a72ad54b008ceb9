"""Rasters in: GeoTIFF/COG, CF NetCDF and MintPy HDF5 behind one reader interface.

    policy = RasterPolicy(allowed_roots=(Path("/data/rasters"),))
    with open_raster("rain/2026-07-01T08.tif", policy) as source:
        values = sample_points(source, lon, lat)      # reads only the blocks with points
        grid = source.read(max_cells=policy.max_read_cells)

Modules: ``errors`` (why a raster is refused), ``policy`` (roots, size,
territory), ``base`` (the reader interface), ``geotiff``/``netcdf``/``mintpy``
(the readers), ``opening`` (choosing one), ``sampling``, ``reproject``.
"""

from geo.rasters.base import RasterSource
from geo.rasters.errors import (
    CorruptRasterError,
    MissingCrsError,
    OutsideTerritoryError,
    RasterCrsError,
    RasterError,
    RasterLayoutError,
    RasterNotFoundError,
    RasterPathError,
    RasterTooLargeError,
    UnknownCrsError,
    UnsupportedFormatError,
)
from geo.rasters.geotiff import GeoTiffSource
from geo.rasters.grid import RasterGrid, RasterMeta
from geo.rasters.mintpy import MintPySource
from geo.rasters.netcdf import NetCdfSource
from geo.rasters.opening import READERS, open_raster, read_raster
from geo.rasters.policy import CHINA_BOUNDS, WGS84, RasterPolicy, footprint_wgs84
from geo.rasters.reproject import points_to_crs, reproject_to_wgs84
from geo.rasters.sampling import cell_indices, sample_points

__all__ = [
    "CHINA_BOUNDS", "READERS", "WGS84",
    "CorruptRasterError", "GeoTiffSource", "MintPySource", "MissingCrsError", "NetCdfSource",
    "OutsideTerritoryError", "RasterCrsError", "RasterError", "RasterGrid", "RasterLayoutError",
    "RasterMeta", "RasterNotFoundError", "RasterPathError", "RasterPolicy", "RasterSource",
    "RasterTooLargeError", "UnknownCrsError", "UnsupportedFormatError",
    "cell_indices", "footprint_wgs84", "open_raster", "points_to_crs", "read_raster",
    "reproject_to_wgs84", "sample_points",
]
