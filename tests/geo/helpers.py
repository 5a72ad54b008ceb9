"""Write the text fixtures in tests/fixtures/geo as GeoPackage and zipped Shapefile.

Binary formats are generated from the GeoJSON fixtures instead of being
committed, so every format carries exactly the same rows.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import shapely

from tests.conftest import FIXTURES

GEO_FIXTURES = FIXTURES / "geo"
ALBERS_KRASOVSKY = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +ellps=krass +units=m +no_defs"


def fixture_frame(name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(GEO_FIXTURES / name, engine="pyogrio")


def as_polygons(frame: gpd.GeoDataFrame, half_size: float = 0.002) -> gpd.GeoDataFrame:
    """Points become small squares: a Shapefile layer holds one geometry type only."""
    geoms = frame.geometry.to_numpy()
    point = shapely.get_type_id(geoms) == 0
    x, y = shapely.get_x(geoms[point]), shapely.get_y(geoms[point])
    geoms[point] = shapely.box(x - half_size, y - half_size, x + half_size, y + half_size)
    multi = shapely.get_type_id(geoms) == 6
    geoms[multi] = shapely.get_geometry(geoms[multi], 0)  # one type per layer: Polygon
    return frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs))


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, crs: str | None = None) -> Path:
    (frame.to_crs(crs) if crs else frame).to_file(path, driver="GPKG", engine="pyogrio")
    return path


def write_zipped_shapefile(frame: gpd.GeoDataFrame, path: Path, crs: str | None = None,
                           with_prj: bool = True) -> Path:
    """A zip holding one Shapefile (in a sub-folder, as GIS users often zip them)."""
    folder = path.parent / (path.stem + "_shp")
    folder.mkdir()
    with warnings.catch_warnings():  # DBF truncates long column names; the importer knows
        warnings.simplefilter("ignore")
        (frame.to_crs(crs) if crs else frame).to_file(folder / "points.shp", engine="pyogrio")
    with zipfile.ZipFile(path, "w") as archive:
        for part in sorted(folder.iterdir()):
            if part.suffix == ".prj" and not with_prj:
                continue
            archive.write(part, f"risk_points/{part.name}")
    return path
