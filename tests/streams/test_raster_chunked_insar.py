"""InSAR velocity maps above the memory budget: velocity at points and candidate areas block
by block, equal to the in-memory path (streams.raster_insar, geo.insar_chunked)."""

from __future__ import annotations

import shutil
import tracemalloc
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from numpy.testing import assert_allclose

from geo.boundaries import Boundaries
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.rasters import insar_samples, list_candidate_areas
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.conftest import SHARED_DATA
from tests.streams.raster_scenarios import WGS84, announcement, point, raster_settings, record
from tests.streams.test_raster_displacement import DATES, SHAPE, cell_centre, write_timeseries

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
KYUSHU = (129.0, 30.0, 132.5, 34.0)
VALID_AT = datetime(2017, 9, 18, tzinfo=UTC)
SUM_RTOL = 1e-12             # area and mean velocity: the same pixels summed block by block
TOPICS = Topics()


@dataclass
class Side:
    handler: RasterHandler
    sessions: object

    def stored(self, point_ids: list[str]):
        with session_scope(self.sessions) as session:
            areas, _ = list_candidate_areas(session, limit=10_000)
            samples = {p: [s.velocity_mm_yr for s in insar_samples(session, p)]
                       for p in point_ids}
        return sorted(areas, key=lambda a: a.id), samples


def side(tmp_path: Path, name: str, root: Path, points, territory=None, **policy) -> Side:
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with session_scope(sessions) as session:
        upsert_points(session, points)
    extra = {"territory": territory} if territory else {}
    settings = raster_settings(root, tmp_path / f"nowcast-{name}", **extra)
    settings = replace(settings, policy=settings.policy.model_copy(update=policy))
    return Side(RasterHandler(settings, TOPICS, sessions, Boundaries.load()), sessions)


def assert_same_stored(whole: Side, chunked: Side, point_ids: list[str], *,
                       tied_peaks: bool = False) -> None:
    """``tied_peaks``: areas of exactly equal |v| (noise-free blocks), whose peak pixel scipy
    picks by an unstable sort: the peak's position is not compared, its value is."""
    (areas_a, samples_a), (areas_b, samples_b) = whole.stored(point_ids), chunked.stored(point_ids)
    assert samples_b == samples_a
    assert [a.id for a in areas_b] == [a.id for a in areas_a]     # ids hash the polygons
    for a, b in zip(areas_a, areas_b, strict=True):
        # the same polygon, vertex for vertex; its ring may start at another vertex
        assert shapely.equals_exact(shapely.normalize(shapely.geometry.shape(b.geometry)),
                                    shapely.normalize(shapely.geometry.shape(a.geometry)),
                                    tolerance=0)
        assert (b.pixel_count, b.peak_velocity_mm_yr) == (a.pixel_count, a.peak_velocity_mm_yr)
        assert_allclose([b.area_m2, b.mean_velocity_mm_yr], [a.area_m2, a.mean_velocity_mm_yr],
                        rtol=SUM_RTOL)
        plain = ("area_m2", "mean_velocity_mm_yr",
                 *(("peak_lon", "peak_lat") if tied_peaks else ()))
        assert {k: v for k, v in b.evidence.items() if k not in plain} == \
            {k: v for k, v in a.evidence.items() if k not in plain}


def test_kirishima_above_the_budget_gives_the_in_memory_areas_and_samples(tmp_path, caplog):
    root = tmp_path / "rasters"
    (root / "kirishima").mkdir(parents=True)
    for name in ("velocity.h5", "temporalCoherence.h5"):
        shutil.copy(KIRISHIMA / name, root / "kirishima" / name)
    rng = np.random.default_rng(8)
    points = [point(f"K{i}", float(x), float(y), in_sichuan=False) for i, (x, y) in
              enumerate(zip(rng.uniform(130.80, 130.95, 40), rng.uniform(31.85, 31.98, 40),
                            strict=True))]
    ids = [p.id for p in points]
    whole = side(tmp_path, "whole", root, points, KYUSHU)
    chunked = side(tmp_path, "chunked", root, points, KYUSHU, max_read_cells=541 * 541 - 1,
                   chunk_cells=68 * 68)
    message = record(announcement("insar_velocity", root / "kirishima" / "velocity.h5", "m/yr",
                                  valid_at=VALID_AT))
    caplog.set_level("INFO", logger="streams.raster_worker")
    assert whole.handler.process(message) == []
    assert chunked.handler.process(message) == []
    assert "in 64 blocks" in caplog.text                 # 8 x 8 chunks of 68 x 68
    assert_same_stored(whole, chunked, ids)
    assert sum(len(v) for v in whole.stored(ids)[1].values()) > 10
    assert len(whole.stored(ids)[0]) >= 1
    assert list((chunked.handler.work_dir).iterdir()) == []     # memory maps removed


def test_a_displacement_series_above_the_budget_is_fitted_into_memory_maps(tmp_path):
    root = tmp_path / "rasters"
    path = write_timeseries(root / "sichuan" / "timeseries.h5")
    points = [point("INS1", *cell_centre(25, 25)), point("INS2", *cell_centre(5, 50))]
    whole = side(tmp_path, "whole", root, points)
    chunked = side(tmp_path, "chunked", root, points, max_read_cells=SHAPE[0] * SHAPE[1] - 1,
                   chunk_cells=16 * 16)
    message = record(announcement("insar_displacement", path, "m", valid_at=DATES[-1]))
    assert whole.handler.process(message) == []
    assert chunked.handler.process(message) == []
    assert_same_stored(whole, chunked, ["INS1", "INS2"], tied_peaks=True)
    areas, samples = chunked.stored(["INS1", "INS2"])
    assert len(areas) == 1 and len(samples["INS1"]) == len(samples["INS2"]) == 1


def velocity_tif(path: Path, size: int, block: int = 128, compress: str | None = None) -> Path:
    """A map with 0.1 mm/yr noise (below the 0.5 mm/yr floor on sigma: no noise areas) and
    four subsiding discs (25 mm/yr, radius 20 cells), some across block borders."""
    rng = np.random.default_rng(5)
    v = rng.normal(0.0, 0.1, (size, size))
    rows, cols = np.ogrid[0:size, 0:size]
    for r, c in ((128, 128), (300, 700), (900, 256), (1100, 1100)):
        v[(rows - r) ** 2 + (cols - c) ** 2 < 20 ** 2] -= 25.0
    cell = 0.0005
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1,
               "dtype": "float32", "transform": Affine(cell, 0, 103.0, 0, -cell, 31.0),
               "crs": WGS84, "nodata": -9999.0, "tiled": True, "blockxsize": block,
               "blockysize": block}
    if compress:
        profile["compress"] = compress
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(v.astype(np.float32), 1)
        dst.update_tags(REF_LON=103.0 + cell * 5.5, REF_LAT=31.0 - cell * 5.5)
    return path


@pytest.fixture
def large(tmp_path: Path):
    root = tmp_path / "rasters"
    points = [point("B1", 103.0 + 0.0005 * 128.5, 31.0 - 0.0005 * 128.5)]
    size = 1280
    return side(tmp_path, "large", root, points, max_read_cells=size * size - 1,
                chunk_cells=256 * 256), root, size


def test_memory_stays_at_a_few_blocks_of_a_large_velocity_map(large):
    chunked, root, size = large
    # first a small map above a small budget: imports and caches are not the path's memory
    small = replace(chunked.handler.settings, policy=chunked.handler.settings.policy.model_copy(
        update={"max_read_cells": 256 * 256 - 1}))
    warm = RasterHandler(small, TOPICS, chunked.handler.sessions, chunked.handler.boundaries)
    assert warm.process(record(announcement("insar_velocity",
                                            velocity_tif(root / "warm.tif", 256), "mm/yr"))) == []
    message = record(announcement("insar_velocity", velocity_tif(root / "v.tif", size), "mm/yr"))
    tracemalloc.start()
    try:
        out = chunked.handler.process(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == []
    # The in-memory path holds the map, its coherence and masks whole, several times
    # grid_bytes; one float64 copy of the map alone reaches it. The block path's peak does not
    # grow with the map (about 4.4 MiB at 1280 and at 2560 cells a side, chunks of 0.5 MiB):
    # the bound leaves room for other numpy and dask versions without letting a whole map in.
    grid_bytes = size * size * 8
    assert peak < grid_bytes, f"peak {peak / 2**20:.1f} MiB"
    areas, samples = chunked.stored(["B1"])
    # B1 covers the disc at (128, 128); it has one sample per map (the small one too)
    assert len(areas) == 3 and len(samples["B1"]) == 2


def test_a_failure_midway_stores_nothing_and_leaves_no_memory_maps(large):
    chunked, root, size = large
    path = velocity_tif(root / "broken.tif", size, compress="deflate")
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_5_5", "TIFF", bidx=1))
        length = int(src.get_tag_item("BLOCK_SIZE_5_5", "TIFF", bidx=1))
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * length)
    out = chunked.handler.process(record(announcement("insar_velocity", path, "mm/yr")))
    assert [o.topic for o in out] == [TOPICS.deadletter]
    assert b"cannot read Window" in out[0].value
    assert chunked.stored(["B1"]) == ([], {"B1": []})
    assert list(chunked.handler.work_dir.iterdir()) == []
