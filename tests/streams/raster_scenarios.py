"""Constructed rasters over Sichuan and the risk points that watch them, for the raster
worker's tests (handler, broker and API).

The rainfall grid covers lon 102..106, lat 28..32 at 0.05 degrees. A wet block
in the north-west (lon < 103.5, lat > 30.5) holds 160 mm/h plus a small
per-cell increment, so every cell's value is distinct and a reading can be
traced to its cell; the rest is dry (0 mm/h). Cell (10, 60) is no data.
With a susceptibility of 0.9 everywhere and a percentile of 100 mm, one hour
of the wet block gives a rainfall index of 1.6 and more: red; dry cells: none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import rasterio
from affine import Affine
from kafka.consumer.fetcher import ConsumerRecord
from rasterio.crs import CRS

from geo.boundaries import Boundaries
from geo.insar_areas import AreaMatchParams
from geo.rasters import RasterPolicy
from geo.registry import RiskPoint
from streams.raster_nowcast import NowcastConfig
from streams.raster_worker import RasterSettings
from warning_models.rainfall import AntecedentParameters

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
CELL = 0.05
RAIN_TRANSFORM = Affine(CELL, 0.0, 102.0, 0.0, -CELL, 32.0)
RAIN_SHAPE = (80, 80)
WET_ROWS, WET_COLS = slice(0, 30), slice(0, 30)    # lat 30.5..32, lon 102..103.5
NODATA_CELL = (10, 60)
NODATA = -9999.0
WGS84 = CRS.from_epsg(4326)
PERCENTILE_MM = 100.0


def rain_values() -> np.ndarray:
    rain = np.zeros(RAIN_SHAPE, dtype=np.float32)
    wet = np.arange(30 * 30, dtype=np.float32).reshape(30, 30) * 0.01
    rain[WET_ROWS, WET_COLS] = 160.0 + wet
    rain[NODATA_CELL] = NODATA
    return rain


def write_geotiff(path: Path, data: np.ndarray, transform: Affine, crs: CRS | None = WGS84,
                  nodata: float | None = NODATA) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": str(data.dtype), "transform": transform, "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def write_rain(path: Path, scale: float = 1.0) -> Path:
    data = rain_values()
    return write_geotiff(path, np.where(data == NODATA, NODATA, data * scale).astype(np.float32),
                         RAIN_TRANSFORM)


def write_susceptibility(path: Path, value: float = 0.9) -> Path:
    """A coarser grid (0.1 degrees) reaching beyond the rain grid on every side."""
    data = np.full((50, 50), value, dtype=np.float32)
    return write_geotiff(path, data, Affine(0.1, 0.0, 101.5, 0.0, -0.1, 32.5))


def write_tilted_dem(path: Path, slope_deg: float = 30.0) -> Path:
    """A plane rising eastwards at ``slope_deg`` (elevation in metres) over the rain grid."""
    rows, cols = RAIN_SHAPE
    lat = 32.0 - CELL * (np.arange(rows) + 0.5)
    metres_per_degree = 111_320.0 * np.cos(np.deg2rad(lat))[:, None]
    x_m = CELL * np.arange(cols)[None, :] * metres_per_degree
    dem = (1000.0 + x_m * np.tan(np.deg2rad(slope_deg))).astype(np.float32)
    return write_geotiff(path, dem, RAIN_TRANSFORM)


def rain_cell(lon: float, lat: float) -> tuple[int, int]:
    col, row = ~RAIN_TRANSFORM @ (lon, lat)
    return int(np.floor(row)), int(np.floor(col))


def point(point_id: str, lon: float, lat: float, people: int = 100,
          in_sichuan: bool = True) -> RiskPoint:
    return RiskPoint(id=point_id, name=f"{point_id} slope", hazard_type="landslide", lon=lon,
                     lat=lat, geometry={"type": "Point", "coordinates": [lon, lat]},
                     province="四川省" if in_sichuan else None,
                     province_adcode="510000" if in_sichuan else None,
                     threatened_people=people, households=people // 4)


def _nodata_lonlat() -> tuple[float, float]:
    x, y = RAIN_TRANSFORM @ (NODATA_CELL[1] + 0.5, NODATA_CELL[0] + 0.5)
    return float(x), float(y)


POINTS = (
    point("WET1", 102.52, 31.52, people=100),    # wet block: red
    point("WET2", 102.77, 30.77, people=50),     # wet block: red
    point("DRY1", 105.02, 29.02, people=80),     # dry: a reading of 0 mm/h, level none
    point("FAR1", 110.00, 30.00, people=10),     # outside the grid: no reading
    point("GAP1", *_nodata_lonlat(), people=10),  # on the no-data cell: no reading
)


def raster_settings(root: Path, nowcast_dir: Path, **policy: object) -> RasterSettings:
    boundaries = Boundaries.load()
    fields = {"allowed_roots": (root,), **policy}
    raster_policy = (RasterPolicy(**fields) if "territory" in fields
                     else RasterPolicy.for_boundaries(boundaries, **fields))
    return RasterSettings(
        policy=raster_policy, nowcast_dir=nowcast_dir,
        nowcast=NowcastConfig(antecedent=AntecedentParameters(k=0.8, days=15),
                              percentile_mm=PERCENTILE_MM),
        match=AreaMatchParams(buffer_m=100.0))


def announcement(product: str, location: str | Path, units: str,
                 valid_at: datetime = T0) -> bytes:
    return orjson.dumps({"schema_version": 1, "product": product, "location": str(location),
                         "valid_at": valid_at.isoformat().replace("+00:00", "Z"),
                         "units": units})


def record(value: bytes | None, offset: int = 0, key: bytes = b"product",
           topic: str = "geowarn.rasters") -> ConsumerRecord:
    return ConsumerRecord(topic, 0, -1, offset, 0, 0, key, value, [], None,
                          len(key), -1 if value is None else len(value), -1)
