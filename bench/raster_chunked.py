"""An observed rainfall grid above the memory budget: the block-by-block path against the
in-memory path on the same grid.

    python -m bench.raster_chunked [--size 2000] [--chunk 512] [--points 5000]

Writes a ``size`` x ``size`` hourly rainfall grid over Sichuan (float32, tiled
256 x 256, a wet band and noise) and a 0.01 degree susceptibility grid in a
temporary folder, registers ``--points`` risk points in a SQLite database,
then runs the raster worker's step (``RasterHandler.process``: readings,
rain state, nowcast levels, county summaries, COG) twice per path on the same
announcement: once timed, once under tracemalloc for the peak of Python and
numpy allocations (memory maps and GDAL's block cache are not counted: they
are the OS's page cache and GDAL's bounded cache). Baseline: the in-memory
path (budget above the grid); ours: the budget one cell below the grid,
chunks of about ``--chunk`` squared cells. Prints both and the ratios, and
checks that the two COGs hold the same levels. Then the same for an InSAR
velocity map of the same size (active areas, candidates, velocity at points).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import rasterio
from affine import Affine
from kafka.consumer.fetcher import ConsumerRecord
from rasterio.crs import CRS

from geo.boundaries import Boundaries
from geo.rasters import RasterPolicy
from geo.registry import RiskPoint
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from streams.raster_worker import RasterHandler, RasterSettings
from streams.topics import Topics

WGS84 = CRS.from_epsg(4326)
WEST, NORTH, SPAN = 102.0, 32.0, 5.0
VALID_AT = datetime(2026, 7, 1, 8, tzinfo=UTC)


def write(path: Path, data: np.ndarray, transform: Affine) -> Path:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": "float32", "transform": transform, "crs": WGS84, "nodata": -9999.0,
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def scene(folder: Path, size: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    rows = np.arange(size)[:, None]
    rain = 80.0 * np.exp(-((rows - size / 3) / (size / 8)) ** 2) + rng.gamma(1.0, 5.0,
                                                                                (size, size))
    cell = SPAN / size
    rain_path = write(folder / "rain.tif", rain, Affine(cell, 0, WEST, 0, -cell, NORTH))
    n = int(SPAN / 0.01) + 20
    r, c = np.mgrid[0:n, 0:n]
    susc = 0.95 - 0.9 * (r + c) / (2 * n)
    susc_path = write(folder / "susc.tif", susc, Affine(0.01, 0, WEST - 0.1, 0, -0.01, NORTH + 0.1))
    return rain_path, susc_path


def velocity_map(folder: Path, size: int) -> Path:
    """LOS velocity (mm/yr): 0.3 mm/yr noise (under the 0.5 mm/yr floor on sigma, so the
    areas are the discs, not thousands of noise specks) and twelve subsiding discs of
    25 mm/yr, referenced at a corner pixel."""
    rng = np.random.default_rng(3)
    v = rng.normal(0.0, 0.3, (size, size))
    rows, cols = np.ogrid[0:size, 0:size]
    for r, c in rng.integers(0, size, (12, 2)).tolist():
        v[(rows - r) ** 2 + (cols - c) ** 2 < (size // 60) ** 2] -= 25.0
    cell = SPAN / size
    path = write(folder / "velocity.tif", v, Affine(cell, 0, WEST, 0, -cell, NORTH))
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(REF_LON=WEST + cell / 2, REF_LAT=NORTH - cell / 2)
    return path


def message(product: str, path: Path, units: str, offset: int) -> ConsumerRecord:
    value = orjson.dumps({"schema_version": 1, "product": product, "location": str(path),
                          "valid_at": VALID_AT.isoformat().replace("+00:00", "Z"),
                          "units": units})
    return ConsumerRecord("geowarn.rasters", 0, -1, offset, 0, 0, b"k", value, [], None, 1,
                          len(value), -1)


def handler(folder: Path, name: str, boundaries: Boundaries, points: list[RiskPoint],
            **policy: object) -> RasterHandler:
    url = f"sqlite:///{folder / f'{name}.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with session_scope(sessions) as session:
        upsert_points(session, points)
    settings = RasterSettings(policy=RasterPolicy.for_boundaries(
        boundaries, allowed_roots=(folder,), **policy), nowcast_dir=folder / f"nowcast-{name}")
    return RasterHandler(settings, Topics(), sessions, boundaries)


def measure(h: RasterHandler, record: ConsumerRecord) -> tuple[float, float, str]:
    started = time.perf_counter()
    out = h.process(record)
    elapsed = time.perf_counter() - started
    if any(o.topic.endswith("deadletter") for o in out):  # a failure is no measurement
        raise SystemExit(f"dead letter: {out[0].value[:300]!r}")
    tracemalloc.start()
    h.process(record)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, h.paths.observed_cog.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--points", type=int, default=5000)
    args = parser.parse_args()
    boundaries = Boundaries.load()
    rng = np.random.default_rng(2)
    lon = rng.uniform(WEST, WEST + SPAN, args.points)
    lat = rng.uniform(NORTH - SPAN, NORTH, args.points)
    points = [RiskPoint(id=f"P{i:06d}", name=f"P{i}", hazard_type="landslide", lon=x,
                        lat=y, geometry={"type": "Point", "coordinates": [x, y]},
                        province=None, province_adcode=None, threatened_people=10,
                        households=3)
              for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rain, susc = scene(folder, args.size)
        cells = args.size * args.size
        whole = handler(folder, "whole", boundaries, points)
        chunked = handler(folder, "chunked", boundaries, points, max_read_cells=cells - 1,
                          chunk_cells=args.chunk * args.chunk)
        for h in (whole, chunked):
            h.process(message("susceptibility", susc, "1", 0))
        t_whole, m_whole, _ = measure(whole, message("rainfall_observed", rain, "mm/h", 1))
        t_chunk, m_chunk, _ = measure(chunked, message("rainfall_observed", rain, "mm/h", 1))
        with rasterio.open(whole.paths.observed_cog) as a, \
                rasterio.open(chunked.paths.observed_cog) as b:
            same = bool((a.read(1) == b.read(1)).all())
        grid_mib = cells * 8 / 2**20
        print(f"grid {args.size} x {args.size} ({grid_mib:.1f} MiB as float64), "
              f"{args.points} points, chunks of {args.chunk} x {args.chunk}")
        print(f"baseline in memory : {t_whole:7.2f} s, peak {m_whole:8.1f} MiB")
        print(f"ours, in blocks    : {t_chunk:7.2f} s, peak {m_chunk:8.1f} MiB")
        print(f"ratio (ours / baseline): time {t_chunk / t_whole:.2f}x, "
              f"peak memory {m_chunk / m_whole:.3f}x; same levels: {same}")
        velocity = velocity_map(folder, args.size)
        t_whole, m_whole, _ = measure(whole, message("insar_velocity", velocity, "mm/yr", 2))
        t_chunk, m_chunk, _ = measure(chunked, message("insar_velocity", velocity, "mm/yr", 2))
        print(f"InSAR velocity map, same grid: in memory {t_whole:.2f} s, peak "
              f"{m_whole:.1f} MiB; in blocks {t_chunk:.2f} s, peak {m_chunk:.1f} MiB; ratio "
              f"time {t_chunk / t_whole:.2f}x, peak memory {m_chunk / m_whole:.3f}x")


if __name__ == "__main__":
    main()
