"""Why a raster was refused: one hierarchy, so callers catch ``RasterError`` once.

The raster worker dead-letters an announcement with ``str(error)`` as the
reason, so every message names the file and what to fix.
"""

from __future__ import annotations


class RasterError(Exception):
    """A raster cannot be used; the subclass says why."""


class RasterPathError(RasterError):
    """The location is outside the configured roots or uses a scheme that is not allowed."""


class RasterNotFoundError(RasterError):
    """The location is allowed but nothing is there."""


class UnsupportedFormatError(RasterError):
    """Not GeoTIFF/COG, CF NetCDF or MintPy HDF5 (or a layout of them that is not read)."""


class CorruptRasterError(RasterError):
    """The file is truncated or damaged: its header or its blocks cannot be read."""


class RasterCrsError(RasterError):
    """The grid's coordinate reference system is unusable."""


class MissingCrsError(RasterCrsError):
    """The file declares no CRS (and none can be inferred from CF or MintPy attributes)."""


class UnknownCrsError(RasterCrsError):
    """A CRS is declared but cannot be transformed to EPSG:4326."""


class RasterTooLargeError(RasterError):
    """The declared size exceeds the configured maximum number of cells."""


class OutsideTerritoryError(RasterError):
    """The grid's footprint does not touch the configured territory."""


class RasterLayoutError(RasterError):
    """The grid cannot be described by an affine transform or its variable is ambiguous
    (rotated or irregular coordinates, several candidate variables or time steps)."""
