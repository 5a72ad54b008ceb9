"""MintPy HDF5 products (velocity.h5, timeseries.h5, temporalCoherence.h5) through h5py.

MintPy keeps georeferencing in root attributes rather than in GDAL terms:
X_FIRST/Y_FIRST are the outer corner of the first cell, X_STEP/Y_STEP the
cell size (Y_STEP negative, north-up), in degrees unless EPSG or UTM_ZONE
says otherwise (MintPy's ``utils/readfile.py`` and ``objects/stack.py``).
Files without Y_FIRST are in radar coordinates and have no CRS until
geocoded. The reference point (REF_LAT/REF_LON, REF_Y/REF_X) and the
acquisition span (START_DATE/END_DATE) are kept in ``meta.attrs``; the valid
time is END_DATE (a velocity holds up to its last acquisition) or the date
of the chosen time-series epoch.
"""

from __future__ import annotations

from datetime import datetime

import h5py
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
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
GEO_KEYS = ("X_FIRST", "Y_FIRST", "X_STEP", "Y_STEP")


class MintPySource(RasterSource):
    """One 2-D dataset of a MintPy file (default: the one named by FILE_TYPE)."""

    format_name = "MintPy HDF5"
    suffixes = (".h5", ".he5", ".hdf5")

    @classmethod
    def guess_can_open(cls, location: str, head: bytes) -> bool:
        return head.startswith(HDF5_MAGIC) and location.lower().endswith(cls.suffixes)

    def __init__(self, location: str, *, variable: str | None = None,
                 time_index: int | None = None, valid_at: datetime | None = None) -> None:
        if "://" in location:
            raise UnsupportedFormatError(f"{location}: remote HDF5 is not read; copy it under a root")
        try:
            self._file = h5py.File(location, "r")
        except OSError as exc:
            raise CorruptRasterError(f"{location}: damaged or truncated HDF5 ({exc})") from exc
        try:
            self._open_dataset(location, variable, time_index, valid_at)
        except BaseException:
            self._file.close()
            raise

    def _open_dataset(self, location: str, variable: str | None, time_index: int | None,
                      valid_at: datetime | None) -> None:
        attrs = {k: _text(v) for k, v in self._file.attrs.items()}
        name = variable or _pick_dataset(self._file, attrs, location)
        dset = self._file.get(name)
        if not isinstance(dset, h5py.Dataset):
            raise RasterLayoutError(f"{location}: no dataset {name!r} (has: {', '.join(self._file)})")
        self._index: tuple[int, ...] = ()
        if dset.ndim == 3:
            if time_index is None:
                raise RasterLayoutError(f"{location}: {name} has {dset.shape[0]} epochs; "
                                        "choose one with time_index")
            if not -dset.shape[0] <= time_index < dset.shape[0]:
                raise RasterLayoutError(f"{location}: {name} has {dset.shape[0]} epochs, "
                                        f"no index {time_index}")
            self._index = (time_index,)
            if valid_at is None and "date" in self._file:
                valid_at = parse_time(self._file["date"][time_index])
        elif dset.ndim != 2:
            raise RasterLayoutError(f"{location}: {name} has shape {dset.shape}; expected 2-D or 3-D")
        height, width = dset.shape[-2:]
        if "LENGTH" in attrs and "WIDTH" in attrs and (int(attrs["LENGTH"]), int(attrs["WIDTH"])) \
                != (height, width):
            raise CorruptRasterError(f"{location}: {name} is {height} x {width} but LENGTH x WIDTH "
                                     f"say {attrs['LENGTH']} x {attrs['WIDTH']}")
        if valid_at is None:
            valid_at = parse_time(attrs.get("END_DATE"))
        nodata = attrs.get("NO_DATA_VALUE", "").strip().lower()
        self._nodata = float(nodata) if nodata not in ("", "none", "nan") else None
        self._dset = dset
        chunks = dset.chunks[-2:] if dset.chunks else (1, width)
        units = _text(dset.attrs.get("UNIT", "")) or attrs.get("UNIT", "")
        self.meta = RasterMeta(
            location=location, format=self.format_name, height=height, width=width,
            transform=_transform(attrs, location), crs=_crs(attrs, location), units=units,
            valid_at=valid_at, block_shape=(int(chunks[0]), int(chunks[1])), variable=name,
            attrs=attrs)

    def _read(self, window: Window) -> np.ndarray:
        r0, c0 = int(window.row_off), int(window.col_off)
        rows, cols = slice(r0, r0 + int(window.height)), slice(c0, c0 + int(window.width))
        try:
            values = self._dset[(*self._index, rows, cols)]
        except (OSError, ValueError) as exc:
            raise CorruptRasterError(f"{self.meta.location}: cannot read {window}: {exc}") from exc
        invalid = None if self._nodata is None else values == self._nodata
        return to_float(values, invalid)

    @property
    def epochs(self) -> list[datetime | None]:
        """Acquisition dates of a 3-D dataset (MintPy's ``date``), [] for a 2-D one."""
        if self._dset.ndim != 3:
            return []
        dates = self._file["date"][:] if "date" in self._file else []
        if len(dates) != self._dset.shape[0]:
            raise RasterLayoutError(f"{self.meta.location}: {self._dset.shape[0]} epochs but "
                                    f"{len(dates)} dates")
        return [parse_time(d) for d in dates]

    def read_epochs(self, window: Window) -> np.ndarray:
        """Every epoch of ``window`` of a 3-D dataset: (epochs, rows, cols), NaN for no data."""
        if self._dset.ndim != 3:
            raise RasterLayoutError(f"{self.meta.location}: {self.meta.variable} has no epochs")
        r0, c0 = int(window.row_off), int(window.col_off)
        rows, cols = slice(r0, r0 + int(window.height)), slice(c0, c0 + int(window.width))
        try:
            values = self._dset[:, rows, cols]
        except (OSError, ValueError) as exc:
            raise CorruptRasterError(f"{self.meta.location}: cannot read {window}: {exc}") from exc
        invalid = None if self._nodata is None else values == self._nodata
        return to_float(values, invalid)

    def close(self) -> None:
        self._file.close()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _pick_dataset(file: h5py.File, attrs: dict[str, str], location: str) -> str:
    file_type = attrs.get("FILE_TYPE", "")
    if isinstance(file.get(file_type), h5py.Dataset):
        return file_type
    grids = [k for k, v in file.items() if isinstance(v, h5py.Dataset) and v.ndim in (2, 3)]
    if len(grids) != 1:
        raise RasterLayoutError(f"{location}: cannot choose a dataset (candidates: "
                                f"{', '.join(grids) or 'none'}); pass variable=")
    return grids[0]


def _transform(attrs: dict[str, str], location: str) -> Affine:
    if not all(k in attrs for k in GEO_KEYS):
        raise MissingCrsError(f"{location}: no {'/'.join(GEO_KEYS)} attributes: the file is in "
                              "radar coordinates; geocode it first (mintpy geocode.py)")
    try:
        x0, y0, dx, dy = (float(attrs[k]) for k in GEO_KEYS)
    except ValueError as exc:
        raise CorruptRasterError(f"{location}: unreadable georeferencing attributes: {exc}") from exc
    return Affine(dx, 0.0, x0, 0.0, dy, y0)


def _crs(attrs: dict[str, str], location: str) -> CRS:
    try:
        if attrs.get("EPSG", "").strip().isdigit():
            return CRS.from_epsg(int(attrs["EPSG"]))
        zone = attrs.get("UTM_ZONE", "").strip().upper()
        if zone:
            number, hemisphere = int(zone.rstrip("NS")), zone[-1]
            return CRS.from_epsg((32700 if hemisphere == "S" else 32600) + number)
    except (ValueError, CRSError) as exc:
        raise UnknownCrsError(f"{location}: EPSG/UTM_ZONE attributes are not a CRS: {exc}") from exc
    if attrs.get("X_UNIT", "degrees").lower().startswith("deg"):
        return CRS.from_epsg(4326)
    raise MissingCrsError(f"{location}: X_UNIT is {attrs.get('X_UNIT')!r} and neither EPSG nor "
                          "UTM_ZONE is given, so the CRS is unknown")
