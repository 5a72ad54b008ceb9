"""Importing risk points from every supported format, with row-by-row reports."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import Boundaries
from geo.importers import ImportFileError, ImportReport, read_risk_points
from geo.registry import HazardType
from streams.units import SensorKind
from tests.geo.helpers import (
    ALBERS_KRASOVSKY,
    GEO_FIXTURES,
    as_polygons,
    fixture_frame,
    write_gpkg,
    write_zipped_shapefile,
)

FORMATS = ["geojson", "gpkg", "shapefile", "csv"]
GK_CM_102E = "EPSG:4543"   # CGCS2000 / 3-degree Gauss-Kruger CM 102E

# id -> (province adcode, county adcode or prefix)
GOOD = {
    "CD-001": ("510000", "5101"),
    "KM-001": ("530000", "530114"),
    "LS-001": ("540000", "540102"),
    "WC-001": ("510000", "513221"),
    "WZ-001": ("500000", "500101"),
    "YA-001": ("610000", "610602"),
}
# feature number -> (id, a phrase that its reasons must contain)
BAD_FEATURES = {
    2: ("DUP-1", "duplicate id 'DUP-1' (also on feature 3)"),
    3: ("DUP-1", "duplicate id 'DUP-1' (also on feature 2)"),
    4: ("BOW-1", "invalid geometry: Self-intersection at lon 103.58, lat 31.47"),
    5: ("PAC-1", "outside China's territory"),
    6: ("TYO-1", "outside China's territory"),
    7: ("HZ-1", ("unknown hazard_type 'mudslide'; allowed: landslide, collapse, debris_flow, "
                 "subsidence, ground_fissure")),
    8: ("SN-1", "unknown kind 'seismometer'; accepted: gnss, crack"),
    9: ("SU-1", "unit 'furlong' is not valid for a gnss sensor; accepted: cm, m, mm"),
    10: ("NULL-1", "no geometry"),
}
# CSV line (header = line 1; line 12 is blank) -> (id, phrases)
BAD_LINES = {
    3: ("DUP-1", ["duplicate id 'DUP-1' (also on line 4)"]),
    4: ("DUP-1", ["duplicate id 'DUP-1' (also on line 3)"]),
    5: ("PAC-1", ["outside China's territory (lon 160.00000, lat 20.00000)"]),
    6: ("TYO-1", ["outside China's territory (lon 139.69000, lat 35.69000)"]),
    7: ("HZ-1", ["unknown hazard_type 'mudslide'; allowed: landslide"]),
    8: ("SN-1", ["unknown kind 'seismometer'"]),
    9: ("SU-1", ["unit 'furlong' is not valid for a gnss sensor"]),
    10: ("NEG-1", ["threatened_people '-5' must be a whole number >= 0"]),
    11: ("XY-1", ["lon/lat must be numbers, got 'abc' / '30.28'"]),
    13: ("MULTI-1", ["unknown hazard_type 'volcano'", "households '2.5' must be a whole number",
                     "sensor id 'S1' appears twice", "outside China's territory"]),
}


def write_format(fmt: str, stem: str, tmp_path: Path, crs: str | None = None) -> Path:
    """The fixture ``stem`` (good_points / bad_points) in format ``fmt``."""
    if fmt == "csv":
        return GEO_FIXTURES / f"{stem}.csv"
    frame = fixture_frame(f"{stem}.geojson")
    if fmt == "geojson":
        if crs is None:
            return GEO_FIXTURES / f"{stem}.geojson"
        path = tmp_path / f"{stem}.geojson"
        frame.to_crs(crs).to_file(path, driver="GeoJSON", engine="pyogrio")
        return path
    if fmt == "gpkg":
        return write_gpkg(frame, tmp_path / f"{stem}.gpkg", crs)
    return write_zipped_shapefile(as_polygons(frame), tmp_path / f"{stem}.zip", crs)


def by_id(report: ImportReport) -> dict:
    return {p.id: p for p in report.points}


# -- every format ------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_good_file_imports_with_province_and_county(fmt: str, tmp_path: Path,
                                                    boundaries: Boundaries) -> None:
    report = read_risk_points(write_format(fmt, "good_points", tmp_path), boundaries=boundaries)
    assert report.ok, report.format_report()
    points = by_id(report)
    assert set(points) == set(GOOD)
    for pid, (province_code, county_code) in GOOD.items():
        assert points[pid].province_adcode == province_code
        assert points[pid].county_adcode.startswith(county_code)
    chengdu = points["CD-001"]
    assert chengdu.province == "四川省"          # the file's province column says 云南省
    assert (chengdu.threatened_people, chengdu.households) == (120, 35)
    assert type(chengdu.threatened_people) is int and type(chengdu.lon) is float
    assert [(s.sensor_id, s.kind, s.unit) for s in chengdu.sensors] == [
        ("S1", SensorKind.GNSS, "mm"), ("S2", SensorKind.RAIN_GAUGE, "mm/h")]
    assert points["LS-001"].hazard_type is HazardType.DEBRIS_FLOW      # written 泥石流
    assert points["YA-001"].hazard_type is HazardType.GROUND_FISSURE   # written "ground fissure"
    assert points["WC-001"].households == 0                             # blank cell
    assert points["WZ-001"].sensors == ()
    assert report.format_report().endswith("6 of 6 rows valid, 0 rejected.")


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile"])
def test_polygon_points_use_a_representative_point(fmt: str, tmp_path: Path,
                                                   boundaries: Boundaries) -> None:
    report = read_risk_points(write_format(fmt, "good_points", tmp_path), boundaries=boundaries)
    wenchuan = by_id(report)["WC-001"]
    assert wenchuan.geometry["type"] == "Polygon"
    polygon = shapely.geometry.shape(wenchuan.geometry)
    assert polygon.contains(shapely.Point(wenchuan.lon, wenchuan.lat))
    assert (wenchuan.lon, wenchuan.lat) == pytest.approx((103.58, 31.47), abs=0.011)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile"])
def test_bad_file_reports_every_bad_feature(fmt: str, tmp_path: Path,
                                            boundaries: Boundaries) -> None:
    report = read_risk_points(write_format(fmt, "bad_points", tmp_path), boundaries=boundaries)
    assert [p.id for p in report.points] == ["OK-001"]
    assert {r.line: r.id for r in report.rejected} == {k: v[0] for k, v in BAD_FEATURES.items()}
    for row in report.rejected:
        assert BAD_FEATURES[row.line][1] in " | ".join(row.reasons)
    text = report.format_report()
    assert "1 of 10 rows valid, 9 rejected" in text
    assert "the first feature is 1" in text
    assert "feature 4, id 'BOW-1':" in text


def test_bad_csv_reports_every_bad_line_as_a_spreadsheet_numbers_it(
        boundaries: Boundaries) -> None:
    report = read_risk_points(GEO_FIXTURES / "bad_points.csv", boundaries=boundaries)
    assert [p.id for p in report.points] == ["OK-001"]
    assert {r.line: r.id for r in report.rejected} == {k: v[0] for k, v in BAD_LINES.items()}
    for row in report.rejected:
        assert len(row.reasons) == len(BAD_LINES[row.line][1])
        for phrase, reason in zip(BAD_LINES[row.line][1], row.reasons, strict=True):
            assert phrase in reason
    text = report.format_report()
    assert "the header is line 1" in text
    assert "line 13, id 'MULTI-1':\n  - unknown hazard_type 'volcano'" in text


def test_format_report_can_be_shortened(boundaries: Boundaries) -> None:
    report = read_risk_points(GEO_FIXTURES / "bad_points.csv", boundaries=boundaries)
    text = report.format_report(max_rows=2)
    assert "line 5" not in text and text.endswith("... and 8 more rejected rows")


# -- coordinate reference systems -------------------------------------------

@pytest.mark.parametrize(("fmt", "crs"), [
    ("gpkg", GK_CM_102E),
    ("shapefile", ALBERS_KRASOVSKY),
    ("geojson", "EPSG:3857"),
])
def test_projected_files_land_where_they_should(fmt: str, crs: str, tmp_path: Path,
                                                boundaries: Boundaries) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "projected").mkdir()
    plain = by_id(read_risk_points(write_format(fmt, "good_points", tmp_path / "plain"),
                                   boundaries=boundaries))
    report = read_risk_points(write_format(fmt, "good_points", tmp_path / "projected", crs),
                              boundaries=boundaries)
    assert report.ok, report.format_report()
    assert report.source_crs != "EPSG:4326"
    projected = by_id(report)
    for pid, point in plain.items():
        assert (projected[pid].lon, projected[pid].lat) == pytest.approx(
            (point.lon, point.lat), abs=1e-6)
        assert projected[pid].county_adcode == point.county_adcode


def test_csv_with_projected_x_y_needs_the_crs(tmp_path: Path, boundaries: Boundaries) -> None:
    frame = pd.read_csv(GEO_FIXTURES / "good_points.csv", dtype=str, keep_default_na=False)
    points = gpd.GeoSeries(gpd.points_from_xy(frame.lon.astype(float), frame.lat.astype(float)),
                           crs="EPSG:4326").to_crs(GK_CM_102E)
    frame = frame.drop(columns=["lon", "lat"]).assign(x=points.x, y=points.y)
    path = tmp_path / "projected.csv"
    frame.to_csv(path, index=False)

    report = read_risk_points(path, boundaries=boundaries, default_crs=GK_CM_102E)
    assert report.ok, report.format_report()
    assert by_id(report)["LS-001"].county_adcode == "540102"
    assert (by_id(report)["KM-001"].lon, by_id(report)["KM-001"].lat) == pytest.approx(
        (102.83, 24.88), abs=1e-7)

    taken_as_degrees = read_risk_points(path, boundaries=boundaries)
    assert taken_as_degrees.points == []
    assert "coordinates out of range" in taken_as_degrees.rejected[0].reasons[0]


def test_reprojected_outside_point_names_the_source_crs(tmp_path: Path,
                                                        boundaries: Boundaries) -> None:
    path = write_format("gpkg", "bad_points", tmp_path, "EPSG:3857")
    pacific = next(r for r in read_risk_points(path, boundaries=boundaries).rejected
                   if r.id == "PAC-1")
    assert pacific.reasons == (("outside China's territory (lon 160.00000, lat 20.00000, "
                                "reprojected from EPSG:3857)"),)


def test_shapefile_without_prj_is_refused(tmp_path: Path, boundaries: Boundaries) -> None:
    path = write_zipped_shapefile(as_polygons(fixture_frame("good_points.geojson")),
                                  tmp_path / "noprj.zip", with_prj=False)
    with pytest.raises(ImportFileError, match=r"noprj\.zip: risk_points/points\.shp has no "
                                              r"\.prj file"):
        read_risk_points(path, boundaries=boundaries)


# -- file-level errors -------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "message"), [
    ("points.kml", b"<kml/>", r"unsupported file type '\.kml'; expected GeoJSON \(\.geojson"),
    ("points", b"id,name", r"unsupported file type '\(none\)'"),
    ("points.gpkg", b"not a geopackage", r"points\.gpkg: .*expected GeoJSON"),
    ("points.geojson", b"{not json", r"points\.geojson: cannot read it"),
    ("points.zip", b"PK nothing", r"points\.zip: not a zip archive"),
])
def test_unsupported_or_unreadable_files_raise(tmp_path: Path, boundaries: Boundaries,
                                               name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_risk_points(path, boundaries=boundaries)


def test_missing_file_and_empty_zip_raise(tmp_path: Path, boundaries: Boundaries) -> None:
    with pytest.raises(ImportFileError, match=r"nowhere\.csv: no such file"):
        read_risk_points(tmp_path / "nowhere.csv", boundaries=boundaries)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "no shapefile here")
    with pytest.raises(ImportFileError, match=r"exactly one \.shp in the zip, found none"):
        read_risk_points(tmp_path / "empty.zip", boundaries=boundaries)


def test_missing_required_column_raises(tmp_path: Path, boundaries: Boundaries) -> None:
    path = tmp_path / "no_hazard.csv"
    path.write_text("id,name,lon,lat\nA,a,104.0,30.6\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"missing column\(s\) hazard_type; found id, name"):
        read_risk_points(path, boundaries=boundaries)


def test_csv_without_coordinate_columns_raises(tmp_path: Path, boundaries: Boundaries) -> None:
    path = tmp_path / "no_coords.csv"
    path.write_text("id,name,hazard_type\nA,a,landslide\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"no coordinate columns; expected one of lon/lat"):
        read_risk_points(path, boundaries=boundaries)


def test_gpkg_with_two_layers_needs_a_layer_name(tmp_path: Path,
                                                 boundaries: Boundaries) -> None:
    path = tmp_path / "two.gpkg"
    frame = fixture_frame("good_points.geojson")
    frame.to_file(path, layer="points", engine="pyogrio")
    frame.head(1).to_file(path, layer="other", engine="pyogrio")
    with pytest.raises(ImportFileError, match=r"holds 2 layers \(points, other\)"):
        read_risk_points(path, boundaries=boundaries)
    assert len(read_risk_points(path, boundaries=boundaries, layer="points").points) == 6


# -- CSV variants and row details -------------------------------------------

@pytest.mark.parametrize(("lon", "lat", "encoding"), [
    ("longitude", "latitude", "utf-8"), ("X", "Y", "utf-8"), ("Lon", "Lat", "gb18030"),
])
def test_csv_column_names_and_encodings(tmp_path: Path, boundaries: Boundaries,
                                        lon: str, lat: str, encoding: str) -> None:
    path = tmp_path / "variant.csv"
    path.write_text(f"ID,Name,Hazard_Type,{lon},{lat}\nKM-1,昆明滑坡,滑坡,102.83,24.88\n",
                    encoding=encoding)
    (point,) = read_risk_points(path, boundaries=boundaries).points
    assert (point.id, point.name, point.province_adcode) == ("KM-1", "昆明滑坡", "530000")


def test_territory_check_can_be_switched_off(tmp_path: Path, boundaries: Boundaries) -> None:
    path = tmp_path / "abroad.csv"
    path.write_text("id,name,hazard_type,lon,lat\nTYO-1,东京,landslide,139.69,35.69\n",
                    encoding="utf-8")
    (point,) = read_risk_points(path, boundaries=boundaries, territory_check=False).points
    assert (point.province, point.county, point.lon) == (None, None, 139.69)


def test_unsupported_geometry_types_and_numeric_ids(tmp_path: Path,
                                                    boundaries: Boundaries) -> None:
    frame = gpd.GeoDataFrame(
        {"id": [1001, 1002], "name": ["线", "点"], "hazard_type": ["landslide", "collapse"],
         "threatened_people": [3.0, np.nan]},
        geometry=[shapely.LineString([(104.0, 30.6), (104.1, 30.7)]), shapely.Point(104.0, 30.6)],
        crs="EPSG:4326")
    path = write_gpkg(frame, tmp_path / "mixed.gpkg")
    report = read_risk_points(path, boundaries=boundaries)
    (row,) = report.rejected
    assert (row.line, row.id) == (1, "1001")
    assert row.reasons == (("geometry type LineString is not supported; "
                            "use Point, Polygon, MultiPolygon"),)
    (point,) = report.points
    assert (point.id, point.threatened_people) == ("1002", 0)
