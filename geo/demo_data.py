"""Plausible demo risk points, and writing points in the import format.

Demos and load tests need tens of thousands of points where China's
geological hazards actually concentrate (the south-west mountains, the Loess
Plateau, the Three Gorges), with the sensors each hazard type is monitored
with. Generation is vectorised and deterministic for a seed, and
``write_points`` produces files that ``geo.importers.read_risk_points``
reads back without a single rejection.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import shapely

from geo.boundaries import Boundaries
from geo.registry import HazardType, RiskPoint, SensorSpec
from geo.sensors import format_sensors
from streams.units import CANONICAL_UNIT, SensorKind

# Relative share of demo points per province (adcode), roughly following where
# China's registered geological-hazard points are most numerous.
PROVINCE_WEIGHTS: dict[str, float] = {
    "510000": 16,  # Sichuan
    "530000": 13,  # Yunnan
    "520000": 9,   # Guizhou
    "620000": 8,   # Gansu
    "500000": 7,   # Chongqing
    "420000": 7,   # Hubei
    "610000": 7,   # Shaanxi
    "430000": 7,   # Hunan
    "540000": 5,   # Xizang
    "450000": 5,   # Guangxi
    "360000": 3,   # Jiangxi
    "350000": 3,   # Fujian
    "440000": 2,   # Guangdong
    "330000": 2,   # Zhejiang
    "630000": 2,   # Qinghai
    "140000": 2,   # Shanxi
    "410000": 1,   # Henan
    "650000": 1,   # Xinjiang
    "640000": 1,   # Ningxia
}
HAZARD_WEIGHTS: dict[HazardType, float] = {
    HazardType.LANDSLIDE: 0.55,
    HazardType.COLLAPSE: 0.20,
    HazardType.DEBRIS_FLOW: 0.15,
    HazardType.SUBSIDENCE: 0.06,
    HazardType.GROUND_FISSURE: 0.04,
}
HAZARD_NAMES_ZH = {
    HazardType.LANDSLIDE: "滑坡", HazardType.COLLAPSE: "崩塌", HazardType.DEBRIS_FLOW: "泥石流",
    HazardType.SUBSIDENCE: "地面塌陷", HazardType.GROUND_FISSURE: "地裂缝",
}
_PLACE_FIRST = tuple("李王张刘陈杨黄赵周吴石龙马青白黑红高牛羊桃柳松竹梨杏")
_PLACE_MIDDLE = ("家", "子", "", "木", "水", "岩", "坪", "山")
_PLACE_LAST = tuple("沟坡湾坪村岭岩坝垭梁寨")
COORDINATE_DECIMALS = 6   # about 0.1 m; files then hold exactly the generated positions


def _spec(sensor_id: str, kind: SensorKind) -> SensorSpec:
    return SensorSpec(sensor_id=sensor_id, kind=kind, unit=CANONICAL_UNIT[kind])


def _sensor_templates() -> dict[HazardType, list[tuple[SensorSpec, ...]]]:
    """The sensor sets each hazard type is monitored with (ids unique within a point)."""
    rain = _spec("RG1", SensorKind.RAIN_GAUGE)
    landslide = [
        tuple(_spec(f"GNSS{k}", SensorKind.GNSS) for k in range(1, n + 1)) + (second, rain)
        for n in (1, 2, 3)
        for second in (_spec("CRK1", SensorKind.CRACK), _spec("EXT1", SensorKind.EXTENSOMETER))
    ]
    return {
        HazardType.LANDSLIDE: landslide,
        HazardType.DEBRIS_FLOW: [(_spec("ML1", SensorKind.MUD_LEVEL), rain)],
        HazardType.COLLAPSE: [(_spec("CRK1", SensorKind.CRACK), _spec("TLT1", SensorKind.TILT))],
        HazardType.SUBSIDENCE: [(_spec("GNSS1", SensorKind.GNSS),)],
        HazardType.GROUND_FISSURE: [(_spec("CRK1", SensorKind.CRACK),)],
    }


def sample_in_polygon(geometry: shapely.Geometry, n: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform by area inside ``geometry`` (lon/lat), by batched rejection sampling.

    Latitude is drawn uniform in sin(lat) so that high-latitude parts of a
    province are not over-represented.
    """
    xmin, ymin, xmax, ymax = geometry.bounds
    smin, smax = np.sin(np.radians([ymin, ymax]))
    shapely.prepare(geometry)
    lon_parts, lat_parts, have = [], [], 0
    batch = max(64, 2 * n)
    while have < n:
        x = np.round(rng.uniform(xmin, xmax, batch), COORDINATE_DECIMALS)
        y = np.round(np.degrees(np.arcsin(rng.uniform(smin, smax, batch))), COORDINATE_DECIMALS)
        keep = shapely.contains_xy(geometry, x, y)
        lon_parts.append(x[keep])
        lat_parts.append(y[keep])
        have += int(keep.sum())
        acceptance = max(keep.mean(), 0.01)
        batch = max(64, int(1.3 * (n - have) / acceptance))
    return np.concatenate(lon_parts)[:n], np.concatenate(lat_parts)[:n]


def generate_demo_points(n: int, *, seed: int = 0, boundaries: Boundaries) -> list[RiskPoint]:
    """n demo risk points, identical for the same ``seed`` and boundary data.

    Ids are ``GD-<province adcode>-<number>`` (e.g. GD-510000-00001), numbered
    per province in generation order.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    codes = list(PROVINCE_WEIGHTS)
    weights = np.array([PROVINCE_WEIGHTS[c] for c in codes], dtype=float)
    counts = rng.multinomial(n, weights / weights.sum())
    lon_parts, lat_parts, ids = [], [], []
    for code, count in zip(codes, counts, strict=True):
        if count == 0:
            continue
        x, y = sample_in_polygon(boundaries.province(code).geometry, int(count), rng)
        lon_parts.append(x)
        lat_parts.append(y)
        ids.extend(f"GD-{code}-{k:05d}" for k in range(1, count + 1))
    lon = np.concatenate(lon_parts) if lon_parts else np.empty(0)
    lat = np.concatenate(lat_parts) if lat_parts else np.empty(0)
    placed = boundaries.assign(lon, lat)

    hazard_list = list(HAZARD_WEIGHTS)
    hazard_p = np.array(list(HAZARD_WEIGHTS.values()))
    hazards = rng.choice(len(hazard_list), size=n, p=hazard_p / hazard_p.sum())
    people = np.clip(np.round(rng.lognormal(np.log(35), 1.0, n)), 1, 5000).astype(int)
    households = np.maximum(1, np.round(people / rng.uniform(2.6, 3.8, n))).astype(int)
    templates = _sensor_templates()
    variant = rng.integers(0, 1 << 30, n)
    first = rng.integers(0, len(_PLACE_FIRST), n)
    middle = rng.integers(0, len(_PLACE_MIDDLE), n)
    last = rng.integers(0, len(_PLACE_LAST), n)

    points = []
    for i in range(n):
        hazard = hazard_list[hazards[i]]
        options = templates[hazard]
        place = _PLACE_FIRST[first[i]] + _PLACE_MIDDLE[middle[i]] + _PLACE_LAST[last[i]]
        points.append(RiskPoint(
            id=ids[i], name=f"{placed.county[i]}{place}{HAZARD_NAMES_ZH[hazard]}",
            hazard_type=hazard, lon=float(lon[i]), lat=float(lat[i]),
            geometry={"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
            province=placed.province[i], province_adcode=placed.province_adcode[i],
            county=placed.county[i], county_adcode=placed.county_adcode[i],
            threatened_people=int(people[i]), households=int(households[i]),
            sensors=options[variant[i] % len(options)]))
    return points


# -- writing ---------------------------------------------------------------

CSV_COLUMNS = ("id", "name", "hazard_type", "lon", "lat", "threatened_people", "households",
               "sensors", "province", "county")


def write_points(points: Sequence[RiskPoint], path: Path | str) -> Path:
    """Write ``points`` as GeoJSON (.geojson/.json) or CSV (.csv) in the import format.

    CSV keeps only the representative lon/lat of polygon points; GeoJSON keeps
    every geometry. Province and county are written for readers; the importer
    recomputes them from the position.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        path.write_bytes(orjson.dumps({
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": p.geometry,
                          "properties": _properties(p)} for p in points],
        }))
    elif suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for p in points:
                props = _properties(p)
                writer.writerow([props["id"], props["name"], props["hazard_type"], p.lon, p.lat,
                                 props["threatened_people"], props["households"],
                                 props["sensors"], props["province"], props["county"]])
    else:
        raise ValueError(f"cannot write {path}: use a .geojson, .json or .csv file name")
    return path


def _properties(p: RiskPoint) -> dict[str, object]:
    return {"id": p.id, "name": p.name, "hazard_type": p.hazard_type.value,
            "threatened_people": p.threatened_people, "households": p.households,
            "sensors": format_sensors(p.sensors), "province": p.province or "",
            "county": p.county or ""}
