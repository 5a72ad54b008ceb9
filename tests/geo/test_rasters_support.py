"""Writers of the small rasters the raster tests need, made in tmp_path.

Cell values encode their position (``row * 1000 + col``), so a sampled value
says exactly which cell was read.
"""

from __future__ import annotations

from pathlib import Path

import h5netcdf
import h5py
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

ALBERS_KRASOVSKY = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +ellps=krass +units=m +no_defs"
SICHUAN = (104.0, 30.5)          # lon, lat near Chengdu


def cell_codes(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return (rows * 1000 + cols).astype(np.float32)


def write_tif(path: Path, data: np.ndarray, transform: Affine, crs: str | CRS | None, *,
              nodata: float | None = None, block: int | None = None, units: str = "",
              **extra: object) -> Path:
    profile: dict[str, object] = {"driver": "GTiff", "width": data.shape[1],
                                  "height": data.shape[0], "count": 1, "dtype": data.dtype,
                                  "transform": transform, "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    profile.update(extra)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if units:
            dst.units = (units,)
    return path


def wgs84_tif(path: Path, height: int = 40, width: int = 60, *, west: float = 103.0,
              north: float = 31.0, cell: float = 0.01, block: int | None = 16,
              nodata_cells: tuple[tuple[int, int], ...] = ()) -> Path:
    """A grid of cell codes over Sichuan; ``nodata_cells`` get the nodata value -9999."""
    data = cell_codes(height, width)
    for r, c in nodata_cells:
        data[r, c] = -9999.0
    return write_tif(path, data, from_origin(west, north, cell, cell), "EPSG:4326",
                     nodata=-9999.0, block=block, units="mm")


def albers_tif(path: Path, height: int = 50, width: int = 80, cell: float = 100.0) -> Path:
    """A 100 m grid of cell codes in Albers on the Krasovsky ellipsoid, around ``SICHUAN``."""
    x, y = warp_transform("EPSG:4326", ALBERS_KRASOVSKY, [SICHUAN[0]], [SICHUAN[1]])
    west = round(x[0] / cell) * cell - width / 2 * cell
    north = round(y[0] / cell) * cell + height / 2 * cell
    return write_tif(path, cell_codes(height, width), from_origin(west, north, cell, cell),
                     CRS.from_proj4(ALBERS_KRASOVSKY), block=16)


def rain_netcdf(path: Path, *, south_up: bool = True) -> Path:
    """CF NetCDF-4: int16 rainfall packed with scale_factor 0.1 and add_offset 5,
    _FillValue -32768 and missing_value -1, one time step at 2026-07-01T08:00Z.

    Unpacked value of cell (row, col) counted from the north: ``row * 10 + col``
    (mm); cells (0, 0) hold the fill value and (1, 2) the missing value.
    """
    lat_north = 30.0 - 0.1 * np.arange(4) - 0.05       # centres, north first
    lon = 103.0 + 0.1 * np.arange(5) + 0.05
    rows, cols = np.mgrid[0:4, 0:5]
    packed = np.round(((rows * 10 + cols) - 5.0) / 0.1).astype(np.int16)
    packed[0, 0] = -32768
    packed[1, 2] = -1
    lat = lat_north[::-1] if south_up else lat_north
    stored = packed[::-1] if south_up else packed
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"time": 1, "lat": 4, "lon": 5}
        t = f.create_variable("time", ("time",), "f8")
        t[:] = [8.0]
        t.attrs.update(units="hours since 2026-07-01 00:00:00", standard_name="time",
                       calendar="standard")
        v = f.create_variable("lat", ("lat",), "f8")
        v[:] = lat
        v.attrs.update(units="degrees_north", standard_name="latitude")
        v = f.create_variable("lon", ("lon",), "f8")
        v[:] = lon
        v.attrs.update(units="degrees_east", standard_name="longitude")
        v = f.create_variable("precip", ("time", "lat", "lon"), "i2", fillvalue=np.int16(-32768))
        v[0] = stored
        v.attrs.update(scale_factor=np.float32(0.1), add_offset=np.float32(5.0),
                       missing_value=np.int16(-1), units="mm", long_name="1-hour precipitation")
    return path


def projected_netcdf(path: Path, grid_mapping: dict[str, object]) -> Path:
    """A float NetCDF on x/y metres with the given CF grid_mapping attributes."""
    x = 0.0 + 1000.0 * np.arange(6) + 500.0
    y = 3_400_000.0 - 1000.0 * np.arange(3) - 500.0
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"y": 3, "x": 6}
        for name, values, std in (("x", x, "projection_x_coordinate"),
                                  ("y", y, "projection_y_coordinate")):
            v = f.create_variable(name, (name,), "f8")
            v[:] = values
            v.attrs.update(units="m", standard_name=std)
        crs = f.create_variable("crs", (), "i4")
        crs.attrs.update(grid_mapping)
        v = f.create_variable("rain", ("y", "x"), "f4")
        v[:] = cell_codes(3, 6)
        v.attrs.update(units="mm", grid_mapping="crs")
    return path


def mintpy_h5(path: Path, shape: tuple[int, int], *, write: bool = True, **attrs: str) -> Path:
    """A geocoded MintPy-style velocity file; ``write=False`` only declares the dataset."""
    base = {"FILE_TYPE": "velocity", "UNIT": "m/year", "X_FIRST": "103.0", "Y_FIRST": "31.0",
            "X_STEP": "0.001", "Y_STEP": "-0.001", "X_UNIT": "degrees", "Y_UNIT": "degrees",
            "LENGTH": str(shape[0]), "WIDTH": str(shape[1]), "END_DATE": "20260630"}
    base.update(attrs)
    with h5py.File(path, "w") as f:
        f.attrs.update(base)
        chunks = (min(shape[0], 1024), min(shape[1], 1024))
        dset = f.create_dataset("velocity", shape=shape, dtype="f4", chunks=chunks)
        if write:
            dset[...] = cell_codes(*shape) / 1000.0
    return path
