"""Import risk points from GeoJSON, GeoPackage, zipped Shapefile or CSV, with a row-by-row report.

Officers fix their files in a spreadsheet or a GIS, so every rejected row is
reported with the number they see there, its id and every reason at once
(not just the first). Checks run column-wise over the whole file, which keeps
50,000 rows within a few seconds.

Columns (case-insensitive): ``id``, ``name``, ``hazard_type`` (required);
``threatened_people``, ``households`` (whole numbers, blank = 0) and
``sensors`` (see geo.sensors) are optional. Province and county come from the
point's position; columns of those names, and any others, are ignored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import shapely
from pydantic import ValidationError

from geo.boundaries import Boundaries
from geo.readers import ImportFileError, SourceTable, read_table
from geo.registry import HazardType, RiskPoint
from geo.sensors import SensorSpecError, parse_sensors

__all__ = ["HAZARD_ALIASES", "ImportFileError", "ImportReport", "RejectedRow", "read_risk_points",
           "validate_table"]

REQUIRED_COLUMNS = ("id", "name", "hazard_type")
ID_PATTERN = r"[A-Za-z0-9_.:\-]{1,64}"
NAME_MAX = 200
GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
HAZARD_ALIASES: dict[str, HazardType] = {
    **{h.value: h for h in HazardType},
    "滑坡": HazardType.LANDSLIDE,
    "崩塌": HazardType.COLLAPSE,
    "泥石流": HazardType.DEBRIS_FLOW,
    "地面沉降": HazardType.SUBSIDENCE,
    "地面塌陷": HazardType.SUBSIDENCE,
    "地裂缝": HazardType.GROUND_FISSURE,
}
HAZARDS_ALLOWED = (", ".join(h.value for h in HazardType) + " (or "
                   + ", ".join(k for k in HAZARD_ALIASES if not k.isascii()) + ")")


@dataclass(frozen=True)
class RejectedRow:
    """A row that was not imported: its number as the user sees it, its id and why."""

    line: int
    id: str | None
    reasons: tuple[str, ...]


@dataclass
class ImportReport:
    """The points that passed and the rows that did not."""

    path: Path
    points: list[RiskPoint]
    rejected: list[RejectedRow]
    row_label: str              # "line" (CSV) or "feature"
    source_crs: str
    total_rows: int

    @property
    def ok(self) -> bool:
        return not self.rejected

    def format_report(self, max_rows: int | None = None) -> str:
        """A text report for the user; ``max_rows`` limits how many rejected rows are listed."""
        head = (f"{self.path}: {len(self.points)} of {self.total_rows} rows valid, "
                f"{len(self.rejected)} rejected")
        if not self.rejected:
            return head + "."
        numbering = ("lines are numbered as in a spreadsheet: the header is line 1, "
                     "the first data row line 2" if self.row_label == "line" else
                     "features are numbered in file order, the first feature is 1")
        lines = [f"{head} ({numbering}):"]
        shown = self.rejected if max_rows is None else self.rejected[:max_rows]
        for row in shown:
            who = f", id {row.id!r}" if row.id else ""
            lines.append(f"{self.row_label} {row.line}{who}:")
            lines.extend(f"  - {reason}" for reason in row.reasons)
        if len(shown) < len(self.rejected):
            lines.append(f"... and {len(self.rejected) - len(shown)} more rejected rows")
        return "\n".join(lines)


def read_risk_points(path: Path | str, *, boundaries: Boundaries, territory_check: bool = True,
                     default_crs: str | None = None, layer: str | None = None) -> ImportReport:
    """Read and validate risk points; province and county come from point-in-polygon.

    Raises ImportFileError when the file as a whole cannot be used (missing,
    unsupported type, unreadable, no CRS, required columns absent). Row
    problems never raise: they are collected in ``ImportReport.rejected``.
    ``default_crs`` is the CRS of a file that declares none (GeoJSON and CSV
    default to EPSG:4326); ``layer`` picks one layer of a multi-layer file.
    """
    table = read_table(path, default_crs=default_crs, layer=layer)
    return validate_table(table, boundaries=boundaries, territory_check=territory_check)


def validate_table(table: SourceTable, *, boundaries: Boundaries,
                   territory_check: bool = True) -> ImportReport:
    """Validate every row of ``table`` and build the RiskPoints of the good ones."""
    attrs = table.attributes
    missing = [c for c in REQUIRED_COLUMNS if c not in attrs.columns]
    if missing:
        raise ImportFileError(
            f"{table.path}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(attrs.columns) or 'none'}; required: {', '.join(REQUIRED_COLUMNS)}")
    n = len(table)
    reasons: list[list[str]] = [[] for _ in range(n)]
    ids = _text(attrs["id"])
    names = _text(attrs["name"])
    _check_ids(ids, table, reasons)
    _flag(reasons, names == "", "missing name")
    _flag(reasons, pd.Series(names, dtype=object).str.len().to_numpy() > NAME_MAX,
          f"name longer than {NAME_MAX} characters")
    hazards = _hazard_types(_text(attrs["hazard_type"]), reasons)
    people = _whole_numbers(attrs, "threatened_people", reasons)
    households = _whole_numbers(attrs, "households", reasons)
    sensors = _sensors(attrs, reasons)
    lon, lat, geometry = _geometry(table, reasons)
    placed = boundaries.assign(lon, lat)
    if territory_check:
        outside = np.isfinite(lon) & pd.isna(placed.province)
        for i in np.flatnonzero(outside):
            reasons[i].append(f"outside China's territory (lon {lon[i]:.5f}, lat {lat[i]:.5f}"
                              + _crs_hint(table) + ")")

    points: list[RiskPoint] = []
    rejected: list[RejectedRow] = []
    for i in range(n):
        if not reasons[i]:
            try:
                points.append(RiskPoint(
                    id=ids[i], name=names[i], hazard_type=hazards[i], lon=float(lon[i]),
                    lat=float(lat[i]), geometry=geometry[i], province=placed.province[i],
                    province_adcode=placed.province_adcode[i], county=placed.county[i],
                    county_adcode=placed.county_adcode[i],
                    threatened_people=int(people[i]), households=int(households[i]),
                    sensors=sensors[i]))
                continue
            except ValidationError as exc:
                reasons[i].extend(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                  for e in exc.errors())
        rejected.append(RejectedRow(line=int(table.row_numbers[i]), id=ids[i] or None,
                                    reasons=tuple(reasons[i])))
    return ImportReport(path=table.path, points=points, rejected=rejected,
                        row_label=table.row_label, source_crs=table.source_crs, total_rows=n)


# -- column checks ---------------------------------------------------------

def _flag(reasons: list[list[str]], mask: np.ndarray, message: str) -> None:
    for i in np.flatnonzero(mask):
        reasons[i].append(message)


def _text(column: pd.Series) -> np.ndarray:
    """Cells as stripped strings; blanks, None and NaN become "", 12.0 becomes "12"."""
    if pd.api.types.is_float_dtype(column.dtype):
        whole = column.notna() & (column % 1 == 0)
        out = column.astype(object).where(column.notna(), "")
        out[whole] = column[whole].astype("int64").astype(str)
        column = out
    values = column.astype(object).where(column.notna(), "").astype(str).str.strip()
    return values.to_numpy(dtype=object)


def _check_ids(ids: np.ndarray, table: SourceTable, reasons: list[list[str]]) -> None:
    series = pd.Series(ids, dtype=object)
    _flag(reasons, (series == "").to_numpy(), "missing id")
    bad = (series != "") & ~series.str.fullmatch(ID_PATTERN).astype(bool)
    for i in np.flatnonzero(bad.to_numpy()):
        reasons[i].append(f"id {ids[i]!r} may hold only letters, digits and _ . : - "
                          "(at most 64 characters)")
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(((series != "") & series.duplicated(keep=False)).to_numpy()):
        rows_of[ids[i]].append(i)
    for same in rows_of.values():
        numbers = [int(table.row_numbers[i]) for i in same]
        for i, own in zip(same, numbers, strict=True):
            others = [str(x) for x in numbers if x != own]
            listed = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            reasons[i].append(f"duplicate id {ids[i]!r} (also on {table.row_label} {listed})")


def _hazard_types(values: np.ndarray, reasons: list[list[str]]) -> list[HazardType | None]:
    out: list[HazardType | None] = []
    for i, value in enumerate(values):
        key = re.sub(r"[\s\-]+", "_", value.lower())
        hazard = HAZARD_ALIASES.get(key)
        if hazard is None:
            reasons[i].append(f"unknown hazard_type {value!r}; allowed: {HAZARDS_ALLOWED}"
                              if value else f"missing hazard_type; allowed: {HAZARDS_ALLOWED}")
        out.append(hazard)
    return out


def _whole_numbers(attrs: pd.DataFrame, column: str, reasons: list[list[str]]) -> np.ndarray:
    if column not in attrs.columns:
        return np.zeros(len(attrs), dtype=np.int64)
    text = _text(attrs[column])
    blank = text == ""
    numbers = pd.to_numeric(pd.Series(text, dtype=object).where(~blank, "0"),
                            errors="coerce").to_numpy(dtype=float)
    good = np.isfinite(numbers) & (numbers >= 0) & (numbers % 1 == 0) & (numbers < 2**62)
    for i in np.flatnonzero(~good):
        reasons[i].append(f"{column} {text[i]!r} must be a whole number >= 0")
    return np.where(good, numbers, 0).astype(np.int64)


def _sensors(attrs: pd.DataFrame, reasons: list[list[str]]) -> list[tuple]:
    if "sensors" not in attrs.columns:
        return [()] * len(attrs)
    cells = _text(attrs["sensors"])
    out: list[tuple] = []
    for i, cell in enumerate(cells):
        try:
            out.append(parse_sensors(cell))
        except SensorSpecError as exc:
            reasons[i].append(f"sensors: {exc}")
            out.append(())
    return out


def _geometry(table: SourceTable,
              reasons: list[list[str]]) -> tuple[np.ndarray, np.ndarray, list[dict | None]]:
    """Representative lon/lat (NaN where unusable) and GeoJSON geometry of every row."""
    geoms = table.geometry
    n = len(geoms)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    out: list[dict | None] = [None] * n
    missing = shapely.is_missing(geoms)
    for i in np.flatnonzero(missing):
        reasons[i].append(table.geometry_problems[i] or "no geometry")
    present = ~missing
    type_names = np.array(["" if g is None else g.geom_type for g in geoms], dtype=object)
    empty = present & shapely.is_empty(geoms)
    _flag(reasons, empty, "empty geometry")
    wrong_type = present & ~empty & ~np.isin(type_names, GEOMETRY_TYPES)
    for i in np.flatnonzero(wrong_type):
        reasons[i].append(f"geometry type {type_names[i]} is not supported; "
                          f"use {', '.join(GEOMETRY_TYPES)}")
    usable = present & ~empty & ~wrong_type
    invalid = usable & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):
        reasons[i].append("invalid geometry: " + _explain(geoms[i]))
    usable &= ~invalid

    point = usable & (type_names == "Point")
    area = usable & ~point
    lon[point] = shapely.get_x(geoms[point])
    lat[point] = shapely.get_y(geoms[point])
    surface = shapely.point_on_surface(geoms[area])
    lon[area] = shapely.get_x(surface)
    lat[area] = shapely.get_y(surface)
    in_range = (np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    for i in np.flatnonzero(usable & ~in_range):
        reasons[i].append(f"coordinates out of range (lon {lon[i]:.6g}, lat {lat[i]:.6g})"
                          + _crs_hint(table) + "; is the coordinate system right?")
    lon[~in_range] = np.nan
    lat[~in_range] = np.nan
    for i in np.flatnonzero(point & in_range):
        out[i] = {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]}
    area_ok = np.flatnonzero(area & in_range)
    for i, text in zip(area_ok, shapely.to_geojson(geoms[area_ok]), strict=True):
        out[i] = orjson.loads(text)
    return lon, lat, out


def _explain(geom: shapely.Geometry) -> str:
    """shapely's 'Self-intersection[104.05 30.05]' as 'Self-intersection at lon 104.05, lat 30.05'."""
    reason = shapely.is_valid_reason(geom)
    return re.sub(r"\[(\S+) (\S+)\]", r" at lon \1, lat \2", reason)


def _crs_hint(table: SourceTable) -> str:
    return "" if table.source_crs == "EPSG:4326" else f", reprojected from {table.source_crs}"
