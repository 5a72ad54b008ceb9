"""Rainfall at 50,000 risk points from a national grid: geo.rasters + warning_models.rainfall
against rasterstats' point_query.

    python -m bench.rainfall_sampling [--points 50000] [--baseline-points 2000] [--repeat 3]

Writes a 0.01 degree 24-hour rainfall grid over China (6,200 x 3,500 cells,
float32, tiled 512 x 512, deflate, a no-data gap over land) as a GeoTIFF in a
temporary folder, draws the points inside the territory (geo.boundaries),
then in the same process and run:

(a) ours: open the file (``geo.rasters.open_raster``), sample the points
    chunk by chunk (``sample_points``) and turn the 24-hour totals into
    levels (``warning_models.rainfall.assess_rainfall``, Caine 1980);
(a') ours on a dask array (``geo.rasters.chunked.lazy_grid``): the path of a grid
    above the in-memory budget, computing only the chunks that hold points;
(b) baseline: ``rasterstats.point_query(..., interpolate="nearest")`` on the
    same file, one small window read per point. It is timed on
    ``--baseline-points`` of the points and extrapolated linearly (its cost
    is per point), which the printout says.

Each ours run opens the file afresh, so GDAL's block cache starts empty; the
file itself is in the OS page cache for both. Values of (a) and (b) on the
baseline's points are compared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from geo.boundaries import Boundaries
from geo.rasters import RasterPolicy, open_raster, sample_points
from geo.rasters.chunked import lazy_grid
from warning_models.rainfall import RainfallParameters, assess_rainfall

WEST, NORTH, CELL = 73.5, 53.5, 0.01
WIDTH, HEIGHT = 6200, 3500
NODATA = -9999.0
TARGET_S = 1.0


def write_grid(path: Path, seed: int = 7) -> None:
    """A 24-h rainfall field (mm): storm cells on a light background, zero in dry areas."""
    rng = np.random.default_rng(seed)
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    cols = np.arange(WIDTH, dtype=np.float32)[None, :]
    rain = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    for _ in range(40):
        r, c = rng.uniform(0, HEIGHT), rng.uniform(0, WIDTH)
        radius, peak = rng.uniform(40, 250), rng.uniform(20, 250)
        rain += peak * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * radius ** 2))
    rain += rng.gamma(0.5, 2.0, size=rain.shape).astype(np.float32)
    rain = np.round(rain, 1)
    rain[1000:1400, 2500:3300] = NODATA             # a gap in radar coverage over land
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=from_origin(WEST, NORTH, CELL, CELL), nodata=NODATA, tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate", predictor=3) as dst:
        dst.write(rain, 1)
        dst.update_tags(units="mm", valid_at="2026-07-01T08:00:00Z")


def draw_points(count: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random points inside the territory and the grid."""
    rng = np.random.default_rng(seed)
    boundaries = Boundaries.load()
    lon_parts, lat_parts, have = [], [], 0
    while have < count:
        lon = rng.uniform(WEST, WEST + WIDTH * CELL, count)
        lat = rng.uniform(NORTH - HEIGHT * CELL, NORTH, count)
        inside = boundaries.contains(lon, lat)
        lon_parts.append(lon[inside])
        lat_parts.append(lat[inside])
        have += int(inside.sum())
    return np.concatenate(lon_parts)[:count], np.concatenate(lat_parts)[:count]


def ours(path: Path, lon: np.ndarray, lat: np.ndarray, params: RainfallParameters,
         policy: RasterPolicy) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Seconds for sampling and for levels, the sampled values and the levels."""
    start = time.perf_counter()
    with open_raster(path, policy) as source:
        values = sample_points(source, lon, lat)
    sampled = time.perf_counter()
    assessment = assess_rainfall(values[:, None], np.array([24.0]), params)
    done = time.perf_counter()
    return sampled - start, done - sampled, values, assessment.level


def chunked(path: Path, lon: np.ndarray, lat: np.ndarray, policy: RasterPolicy
            ) -> tuple[float, np.ndarray, int]:
    """Seconds for sampling through a dask array, the values and the number of chunks."""
    start = time.perf_counter()
    with open_raster(path, policy) as source:
        grid = lazy_grid(source, policy.chunk_cells)
        values = sample_points(grid, lon, lat)
    return time.perf_counter() - start, values, grid.data.npartitions


def baseline(path: Path, lon: np.ndarray, lat: np.ndarray) -> tuple[float, np.ndarray]:
    from rasterstats import point_query
    from shapely import points

    geoms = list(points(lon, lat))
    start = time.perf_counter()
    values = point_query(geoms, str(path), interpolate="nearest")
    elapsed = time.perf_counter() - start
    return elapsed, np.array([np.nan if v is None else v for v in values], dtype=float)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--baseline-points", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="geowarn-bench-") as tmp:
        path = Path(tmp) / "rain_24h.tif"
        t0 = time.perf_counter()
        write_grid(path)
        lon, lat = draw_points(args.points)
        print(f"grid {WIDTH} x {HEIGHT} cells at {CELL} deg ({path.stat().st_size / 2**20:.1f} MiB "
              f"tiled deflate GeoTIFF), {lon.size:,} points inside the territory "
              f"(setup {time.perf_counter() - t0:.1f} s, untimed)")
        policy = RasterPolicy(allowed_roots=(Path(tmp),))
        params = RainfallParameters()

        runs = [ours(path, lon, lat, params, policy) for _ in range(args.repeat)]
        sample_s = statistics.median(r[0] for r in runs)
        level_s = statistics.median(r[1] for r in runs)
        total_s = sample_s + level_s
        values, levels = runs[0][2], runs[0][3]
        counts = np.bincount(levels, minlength=5)
        print(f"ours      : {total_s:.3f} s for {lon.size:,} points (median of {args.repeat}: "
              f"sampling {sample_s:.3f} s + levels {level_s:.4f} s); "
              f"{int(np.isnan(values).sum()):,} on no data; levels none/blue/yellow/orange/red = "
              f"{'/'.join(str(c) for c in counts)}")

        lazy = [chunked(path, lon, lat, policy) for _ in range(args.repeat)]
        lazy_s = statistics.median(r[0] for r in lazy)
        print(f"ours, dask: {lazy_s:.3f} s sampling through {lazy[0][2]} chunks (the path above "
              f"the memory budget); same values: "
              f"{np.array_equal(lazy[0][1], values, equal_nan=True)}")

        n = min(args.baseline_points, lon.size)
        base_s, base_values = baseline(path, lon[:n], lat[:n])
        per_point = base_s / n
        extrapolated = per_point * lon.size
        same = np.allclose(base_values, values[:n], equal_nan=True)
        how = "measured" if n == lon.size else (
            f"measured on {n:,} points ({base_s:.2f} s, {per_point * 1e3:.2f} ms/point) and "
            f"extrapolated linearly to {lon.size:,}")
        print(f"rasterstats point_query (nearest): {extrapolated:.1f} s for {lon.size:,} points, "
              f"{how}; same values on those points: {same}")
        print(f"ratio baseline / ours: {extrapolated / total_s:.0f}x; "
              f"target for ours under {TARGET_S:.1f} s: {'met' if total_s < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
