"""NetCDF (CF conventions) through xarray: netCDF-4 files with h5netcdf, netCDF-3 with scipy.

xarray's CF decoding applies ``scale_factor``/``add_offset`` and turns
``_FillValue`` and ``missing_value`` into NaN. The dataset is opened lazily
(``cache=False``), so each window read decodes only that part of the file.
h5netcdf is used instead of the netCDF4 package to keep a single HDF5
library in the process (h5py's, shared with the MintPy reader). The CRS comes
from the CF ``grid_mapping`` variable; a grid whose coordinates are
longitude/latitude without one is taken as WGS 84 (EPSG:4326), as CF's
default ``latitude_longitude`` mapping is in practice.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import numpy as np
import pyproj
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geo.rasters.base import RasterSource, parse_time, to_float
from geo.rasters.errors import (
    CorruptRasterError,
    MissingCrsError,
    RasterLayoutError,
    UnknownCrsError,
    UnsupportedFormatError,
)
from geo.rasters.grid import RasterMeta

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NETCDF3_MAGIC = b"CDF"
X_NAMES = {"x", "lon", "longitude", "rlon", "easting"}
Y_NAMES = {"y", "lat", "latitude", "rlat", "northing"}
LON_UNITS = {"degrees_east", "degree_east", "degrees_e", "degree_e"}
SPACING_RTOL = 1e-4   # coordinates must be evenly spaced within this fraction of a cell


class NetCdfSource(RasterSource):
    """One 2-D slice of a CF variable. ``variable`` is needed when several qualify,
    ``time_index`` when the variable has more than one time step."""

    format_name = "NetCDF"
    suffixes = (".nc", ".nc4", ".netcdf", ".cdf")

    @classmethod
    def guess_can_open(cls, location: str, head: bytes) -> bool:
        suffix_ok = location.lower().endswith(cls.suffixes)
        return head.startswith(NETCDF3_MAGIC) or (head.startswith(HDF5_MAGIC) and suffix_ok)

    def __init__(self, location: str, *, variable: str | None = None,
                 time_index: int | None = None, valid_at: datetime | None = None) -> None:
        if "://" in location:
            raise UnsupportedFormatError(f"{location}: remote NetCDF is not read; copy it under a root")
        with open(location, "rb") as fh:
            engine = "scipy" if fh.read(3) == NETCDF3_MAGIC else "h5netcdf"
        try:
            with warnings.catch_warnings():
                # Both _FillValue and missing_value become NaN, which is what CF asks for.
                warnings.filterwarnings("ignore", message=".*multiple fill values",
                                        category=xr.SerializationWarning)
                self._ds = xr.open_dataset(location, engine=engine, mask_and_scale=True,
                                           decode_times=True, cache=False, chunks=None)
        except (OSError, ValueError, TypeError) as exc:
            raise CorruptRasterError(f"{location}: damaged or truncated NetCDF ({exc})") from exc
        try:
            self._open_variable(location, variable, time_index, valid_at)
        except BaseException:
            self._ds.close()
            raise

    def _open_variable(self, location: str, variable: str | None, time_index: int | None,
                       valid_at: datetime | None) -> None:
        ds = self._ds
        name = variable or _pick_variable(ds, location)
        if name not in ds.data_vars:
            raise RasterLayoutError(f"{location}: no variable {name!r} "
                                    f"(has: {', '.join(map(str, ds.data_vars))})")
        var = ds[name]
        ydim, xdim = _spatial_dims(var, location)
        extra = [d for d in var.dims if d not in (ydim, xdim)]
        selection: dict[str, int] = {}
        for dim in extra:
            size = var.sizes[dim]
            if size == 1:
                selection[dim] = 0
            elif time_index is not None and len(extra) == 1:
                if not -size <= time_index < size:
                    raise RasterLayoutError(f"{location}: {dim} has {size} steps, no index {time_index}")
                selection[dim] = time_index
            else:
                raise RasterLayoutError(f"{location}: {name} has {size} steps along {dim!r}; "
                                        "choose one with time_index")
        var = var.isel(selection).transpose(ydim, xdim)
        transform, self._flip = _transform(var[xdim].values, var[ydim].values, location)
        if valid_at is None and "time" in var.coords and var["time"].size == 1:
            valid_at = parse_time(var["time"].values.reshape(-1)[0])
        chunks = var.encoding.get("chunksizes") or (1, var.sizes[xdim])
        if len(chunks) != 2:
            chunks = tuple(chunks)[-2:]
        self._var, self._dims = var, (ydim, xdim)
        self.meta = RasterMeta(
            location=location, format=self.format_name, height=var.sizes[ydim],
            width=var.sizes[xdim], transform=transform, crs=_crs(ds, var, xdim, location),
            units=str(var.attrs.get("units", "")), valid_at=valid_at,
            block_shape=(int(chunks[0]), int(chunks[1])), variable=name,
            attrs={k: str(v) for k, v in var.attrs.items()})

    def _read(self, window: Window) -> np.ndarray:
        r0, c0 = int(window.row_off), int(window.col_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        if self._flip:
            height = self.meta.height
            rows = slice(height - r1, height - r0)
        else:
            rows = slice(r0, r1)
        ydim, xdim = self._dims
        try:
            values = np.asarray(self._var.isel({ydim: rows, xdim: slice(c0, c1)}).values)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptRasterError(f"{self.meta.location}: cannot read {window}: {exc}") from exc
        if self._flip:
            values = values[::-1]
        return to_float(values)

    def close(self) -> None:
        self._ds.close()


def _is_x(name: str, coord: xr.DataArray | None) -> bool:
    attrs = coord.attrs if coord is not None else {}
    return (str(name).lower() in X_NAMES or attrs.get("axis") == "X"
            or attrs.get("standard_name") in ("longitude", "projection_x_coordinate", "grid_longitude")
            or str(attrs.get("units", "")).lower() in LON_UNITS)


def _is_y(name: str, coord: xr.DataArray | None) -> bool:
    attrs = coord.attrs if coord is not None else {}
    return (str(name).lower() in Y_NAMES or attrs.get("axis") == "Y"
            or attrs.get("standard_name") in ("latitude", "projection_y_coordinate", "grid_latitude")
            or str(attrs.get("units", "")).lower().startswith("degrees_n"))


def _spatial_dims(var: xr.DataArray, location: str) -> tuple[str, str]:
    xs = [d for d in var.dims if _is_x(d, var.coords.get(d))]
    ys = [d for d in var.dims if _is_y(d, var.coords.get(d))]
    if len(xs) != 1 or len(ys) != 1:
        raise RasterLayoutError(f"{location}: {var.name} has dimensions {var.dims}; expected one "
                                "x/longitude and one y/latitude dimension")
    for dim in (ys[0], xs[0]):
        if dim not in var.coords:
            raise RasterLayoutError(f"{location}: dimension {dim!r} has no coordinate values")
    return ys[0], xs[0]


def _pick_variable(ds: xr.Dataset, location: str) -> str:
    candidates = [name for name, var in ds.data_vars.items()
                  if var.ndim >= 2 and any(_is_x(d, ds.coords.get(d)) for d in var.dims)
                  and any(_is_y(d, ds.coords.get(d)) for d in var.dims)]
    if len(candidates) != 1:
        found = ", ".join(map(str, candidates)) or "none"
        raise RasterLayoutError(f"{location}: cannot choose a gridded variable (candidates: "
                                f"{found}); pass variable=")
    return str(candidates[0])


def _transform(x: np.ndarray, y: np.ndarray, location: str) -> tuple[Affine, bool]:
    """Cell-corner transform of evenly spaced cell-centre coordinates; whether rows flip."""
    for axis, values in (("x", x), ("y", y)):
        if values.size < 2:
            raise RasterLayoutError(f"{location}: {axis} has {values.size} value(s); "
                                    "its cell size is unknown")
        steps = np.diff(values.astype(float))
        if not np.allclose(steps, steps[0], rtol=0, atol=abs(steps[0]) * SPACING_RTOL):
            raise RasterLayoutError(f"{location}: {axis} coordinates are not evenly spaced "
                                    f"(steps {steps.min():g}..{steps.max():g})")
    dx = float(x[-1] - x[0]) / (x.size - 1)
    dy = float(y[-1] - y[0]) / (y.size - 1)
    if dx <= 0:
        raise RasterLayoutError(f"{location}: x coordinates decrease; not supported")
    flip = dy > 0                       # south-up storage: rows are reversed on read
    top = float(y.max()) + abs(dy) / 2
    return Affine(dx, 0.0, float(x[0]) - dx / 2, 0.0, -abs(dy), top), flip


def _crs(ds: xr.Dataset, var: xr.DataArray, xdim: str, location: str) -> CRS:
    mapping = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping")
    if mapping:
        if mapping not in ds.variables:
            raise MissingCrsError(f"{location}: grid_mapping {mapping!r} names no variable")
        try:
            return CRS.from_wkt(pyproj.CRS.from_cf(dict(ds[mapping].attrs)).to_wkt())
        except (pyproj.exceptions.CRSError, ValueError, KeyError) as exc:
            raise UnknownCrsError(f"{location}: grid_mapping {mapping!r} is not a usable CRS: "
                                  f"{exc}") from exc
    coord = var.coords[xdim]
    if (str(xdim).lower() in ("lon", "longitude") or coord.attrs.get("standard_name") == "longitude"
            or str(coord.attrs.get("units", "")).lower() in LON_UNITS):
        return CRS.from_epsg(4326)
    raise MissingCrsError(f"{location}: {var.name} has no grid_mapping and its coordinates are "
                          "not longitude/latitude, so its CRS is unknown")
