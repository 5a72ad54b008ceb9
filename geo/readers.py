"""Read a vector file of any supported format into one table in EPSG:4326.

Each format has its own quirks (CSV has coordinates in columns and no CRS,
Shapefiles come zipped and truncate column names to 10 characters, a
GeoPackage can hold several layers); this module hides them so that the
importer validates one shape of data. Rows keep the order of the file, and
``row_numbers`` are what a user sees: the spreadsheet row for CSV (header =
row 1), the feature's position (first = 1) for the other formats.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

SUPPORTED = ("GeoJSON (.geojson, .json), GeoPackage (.gpkg), zipped Shapefile (.zip) "
             "or CSV with lon/lat columns (.csv)")
WGS84 = "EPSG:4326"
CSV_ENCODINGS = ("utf-8-sig", "gb18030")   # Excel in China saves CSV as GBK
COORDINATE_COLUMNS = (("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"), ("x", "y"))
# Shapefile DBF columns hold 10 characters; GDAL truncates longer names.
COLUMN_ALIASES = {"hazard_typ": "hazard_type", "threatened": "threatened_people"}


class ImportFileError(Exception):
    """The file as a whole cannot be imported (missing, unsupported, unreadable, no CRS)."""


@dataclass
class SourceTable:
    """The rows of one file: attributes, geometry in EPSG:4326 and how to name a row."""

    path: Path
    attributes: pd.DataFrame          # lower-case column names, one row per feature
    geometry: np.ndarray              # shapely geometries (None where missing), EPSG:4326
    geometry_problems: np.ndarray     # None, or why the row has no usable geometry
    row_numbers: np.ndarray           # what the user calls each row
    row_label: str                    # "line" (CSV) or "feature"
    source_crs: str

    def __len__(self) -> int:
        return len(self.attributes)


def read_table(path: Path | str, *, default_crs: str | None = None,
               layer: str | None = None) -> SourceTable:
    """Read ``path``; ``default_crs`` applies when the file declares no CRS.

    Without ``default_crs``, GeoJSON and CSV are taken as EPSG:4326 and a
    Shapefile or GeoPackage without a CRS is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file; expected {SUPPORTED}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, default_crs or WGS84)
    if suffix in (".geojson", ".json"):
        return _read_vector(path, str(path), layer, default_crs or WGS84)
    if suffix == ".gpkg":
        return _read_vector(path, str(path), layer or _single_layer(path), default_crs)
    if suffix == ".zip":
        return _read_vector(path, _shapefile_in_zip(path, layer, default_crs), None, default_crs)
    raise ImportFileError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                          f"expected {SUPPORTED}")


def _read_vector(path: Path, source: str, layer: str | None,
                 default_crs: str | None) -> SourceTable:
    try:
        frame = pyogrio.read_dataframe(source, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ImportFileError(f"{path}: cannot read it ({_reason(exc)}); expected {SUPPORTED}"
                              ) from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ImportFileError(f"{path}: the layer has no geometry column; expected {SUPPORTED}")
    crs = frame.crs
    if crs is None:
        if default_crs is None:
            raise ImportFileError(
                f"{path}: the file declares no coordinate reference system; "
                "save it with one (e.g. EPSG:4326 or EPSG:4490)")
        crs = pyproj.CRS.from_user_input(default_crs)
    geometry = gpd.GeoSeries(frame.geometry.to_numpy(), crs=crs)
    return _table(path, frame.drop(columns=frame.geometry.name), geometry,
                  np.full(len(frame), None, dtype=object), "feature",
                  row_numbers=np.arange(1, len(frame) + 1))


def _reason(exc: Exception) -> str:
    """GDAL's message without its hint about driver prefixes, which is no help to a user."""
    return str(exc).split("; It might help")[0].rstrip(".")


def _single_layer(path: Path) -> str | None:
    try:
        layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise ImportFileError(f"{path}: cannot read it as a GeoPackage ({_reason(exc)}); "
                              f"expected {SUPPORTED}") from exc
    if len(layers) > 1:
        names = ", ".join(str(name) for name, _ in layers)
        raise ImportFileError(f"{path}: holds {len(layers)} layers ({names}); name the one "
                              "to import")
    return None


def _shapefile_in_zip(path: Path, layer: str | None, default_crs: str | None) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"{path}: not a zip archive ({exc}); expected {SUPPORTED}") from exc
    shps = [m for m in members if m.lower().endswith(".shp") and not m.startswith("__MACOSX")]
    if layer is not None:
        shps = [m for m in shps if Path(m).stem == layer]
    if len(shps) != 1:
        found = ", ".join(shps) if shps else "none"
        raise ImportFileError(f"{path}: expected exactly one .shp in the zip, found {found}")
    shp = shps[0]
    stem = shp[:-4]
    lowered = {m.lower() for m in members}
    for part in (".shx", ".dbf"):
        if (stem + part).lower() not in lowered:
            raise ImportFileError(f"{path}: {shp} lacks its {part} file")
    if (stem + ".prj").lower() not in lowered and default_crs is None:
        raise ImportFileError(
            f"{path}: {shp} has no .prj file, so its coordinates cannot be placed; "
            "add the .prj that your GIS wrote with the shapefile")
    return f"/vsizip/{path.resolve()}/{shp}"


def _read_csv(path: Path, crs: str) -> SourceTable:
    frame = None
    for encoding in CSV_ENCODINGS:
        try:
            # skip_blank_lines=False keeps the row numbers equal to spreadsheet rows.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding,
                                skip_blank_lines=False)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ImportFileError(f"{path}: not a readable CSV file ({exc})") from exc
    if frame is None:
        raise ImportFileError(f"{path}: text encoding is neither UTF-8 nor GBK/GB18030")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    lon_col, lat_col = _coordinate_columns(path, frame.columns)
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1).to_numpy()
    frame = frame.loc[~blank]
    row_numbers = np.flatnonzero(~blank) + 2
    lon_text = frame[lon_col].str.strip()
    lat_text = frame[lat_col].str.strip()
    lon = pd.to_numeric(lon_text, errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(lat_text, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    problems = np.full(len(frame), None, dtype=object)
    for i in np.flatnonzero(~ok):
        problems[i] = (f"{lon_col}/{lat_col} must be numbers, got "
                       f"{lon_text.iloc[i]!r} / {lat_text.iloc[i]!r}")
    geoms = np.full(len(frame), None, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    geometry = gpd.GeoSeries(geoms, crs=crs)
    return _table(path, frame.drop(columns=[lon_col, lat_col]), geometry, problems, "line",
                  row_numbers=row_numbers)


def _coordinate_columns(path: Path, columns: pd.Index) -> tuple[str, str]:
    for lon, lat in COORDINATE_COLUMNS:
        if lon in columns and lat in columns:
            return lon, lat
    pairs = ", ".join("/".join(pair) for pair in COORDINATE_COLUMNS)
    raise ImportFileError(f"{path}: no coordinate columns; expected one of {pairs} "
                          f"(found: {', '.join(columns)})")


def _table(path: Path, attributes: pd.DataFrame, geometry: gpd.GeoSeries,
           problems: np.ndarray, row_label: str, row_numbers: np.ndarray) -> SourceTable:
    attributes = attributes.reset_index(drop=True)
    attributes.columns = [str(c).strip().lower() for c in attributes.columns]
    attributes = attributes.rename(columns={k: v for k, v in COLUMN_ALIASES.items()
                                            if v not in attributes.columns})
    source_crs = geometry.crs.to_string() if geometry.crs is not None else WGS84
    if geometry.crs is not None and not geometry.crs.equals(pyproj.CRS.from_user_input(WGS84)):
        geometry = geometry.to_crs(WGS84)
    geoms = shapely.force_2d(geometry.to_numpy())
    return SourceTable(path=path, attributes=attributes, geometry=geoms,
                       geometry_problems=problems, row_numbers=row_numbers,
                       row_label=row_label, source_crs=source_crs)
