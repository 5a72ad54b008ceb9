"""An observed rainfall grid above the memory budget updates the rain state and the nowcast
block by block, with the results of the in-memory path (streams.raster_rain_chunked,
streams.raster_nowcast.BlockNowcast)."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from numpy.testing import assert_allclose, assert_array_equal

from geo.boundaries import Boundaries
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.rasters import latest_nowcast_run, nowcast_counties
from streams.raster_files import load_arrays
from streams.raster_rain_chunked import load_chunked_state
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.streams.raster_scenarios import (
    POINTS,
    RAIN_SHAPE,
    RAIN_TRANSFORM,
    T0,
    WGS84,
    announcement,
    rain_values,
    raster_settings,
    record,
    write_geotiff,
)

TOPICS = Topics()
CHUNK_CELLS = 16 * 16          # one 16 x 16 storage block per chunk: 25 chunks
SHARE_RTOL = 1e-9              # county shares: the same cell areas summed block by block


def tiled(path: Path, data: np.ndarray, transform: Affine = RAIN_TRANSFORM,
          block: int = 16, compress: str | None = None) -> Path:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": "float32", "transform": transform, "crs": WGS84, "nodata": -9999.0,
               "tiled": True, "blockxsize": block, "blockysize": block}
    if compress:
        profile["compress"] = compress
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def susceptibility_gradient(path: Path) -> Path:
    """0.1 in the south-east rising to 0.95 in the north-west, on a coarser, wider grid:
    the nowcast resamples it bilinearly, block by block or whole."""
    rows, cols = np.mgrid[0:50, 0:50]
    data = (0.95 - 0.85 * (rows + cols) / 98).astype(np.float32)
    return write_geotiff(path, data, Affine(0.1, 0.0, 101.5, 0.0, -0.1, 32.5))


@dataclass
class Side:
    handler: RasterHandler
    url: str

    def run(self):
        with session_scope(session_factory(make_engine(self.url))) as session:
            run = latest_nowcast_run(session, "observed")
            return run, (nowcast_counties(session, run.id) if run else [])


def _side(tmp_path: Path, name: str, root: Path, **policy: object) -> Side:
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with session_scope(sessions) as session:
        upsert_points(session, POINTS)
    settings = raster_settings(root, tmp_path / f"nowcast-{name}")
    settings = replace(settings, policy=settings.policy.model_copy(update=policy))
    return Side(RasterHandler(settings, TOPICS, sessions, Boundaries.load()), url)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Side, Side, Path]:
    """The same registry and susceptibility twice: whole grids, and a budget below the rain."""
    root = tmp_path / "rasters"
    whole = _side(tmp_path, "whole", root)
    chunked = _side(tmp_path, "chunked", root, chunk_cells=CHUNK_CELLS,
                    max_read_cells=RAIN_SHAPE[0] * RAIN_SHAPE[1] - 1)
    susceptibility = record(announcement("susceptibility",
                                         susceptibility_gradient(root / "susc.tif"), "1"))
    assert whole.handler.process(susceptibility) == []
    assert chunked.handler.process(susceptibility) == []
    return whole, chunked, root


def assert_same_outputs(whole: Side, chunked: Side) -> None:
    state = load_arrays(whole.handler.paths.rain_state)
    on_disk = load_chunked_state(chunked.handler.paths)
    assert state is not None and on_disk is not None
    assert isinstance(on_disk.daily_mm, np.memmap)
    assert_array_equal(on_disk.daily_mm, state["daily_mm"])
    assert_array_equal(on_disk.stamps_ns, state["stamps_ns"])
    assert on_disk.last_day == int(state["last_day"])
    with rasterio.open(whole.handler.paths.observed_cog) as a, \
            rasterio.open(chunked.handler.paths.observed_cog) as b:
        assert_array_equal(b.read(1), a.read(1))
        assert b.profile == a.profile and b.overviews(1) == a.overviews(1)
        assert b.colormap(1) == a.colormap(1)
        assert b.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    (run_a, counties_a), (run_b, counties_b) = whole.run(), chunked.run()
    assert run_b.id == run_a.id
    evidence = dict(run_b.evidence)
    assert evidence.pop("computed_in_blocks") == 25
    assert evidence == run_a.evidence
    assert [c.adcode for c in counties_b] == [c.adcode for c in counties_a]
    assert len(counties_a) > 3
    for a, b in zip(counties_a, counties_b, strict=True):
        assert (b.max_level, b.points_at_or_above, b.threatened_population) == \
            (a.max_level, a.points_at_or_above, a.threatened_population)
        assert_allclose([b.shares[k] for k in a.shares], list(a.shares.values()),
                        rtol=SHARE_RTOL, atol=1e-12)
        assert_allclose([b.data_area_m2, b.data_coverage], [a.data_area_m2, a.data_coverage],
                        rtol=SHARE_RTOL)


def test_state_cog_and_counties_in_blocks_equal_the_in_memory_ones(pair, caplog):
    whole, chunked, root = pair
    caplog.set_level("INFO", logger="streams.raster_worker")
    rain = rain_values()
    hours = [(T0, 1.0), (T0 + timedelta(hours=1), 0.4), (T0 + timedelta(days=1), 0.7)]
    for i, (at, scale) in enumerate(hours):
        data = np.where(rain == -9999.0, -9999.0, rain * scale)
        message = record(announcement("rainfall_observed", tiled(root / f"r{i}.tif", data),
                                      "mm/h", valid_at=at), offset=i)
        assert len(chunked.handler.process(message)) == len(whole.handler.process(message))
        assert_same_outputs(whole, chunked)
    assert "rain state updated in 25 blocks" in caplog.text
    levels = whole.run()[0].evidence["cells_by_level"]
    assert sum(1 for n in levels.values() if n) >= 3      # the gradient gives several levels
    # a redelivered raster adds nothing twice and recomputes the same nowcast
    chunked.handler.process(message)
    whole.handler.process(message)
    assert_same_outputs(whole, chunked)
    # replaced daily files are removed when the state is next loaded
    assert len(list(chunked.handler.paths.rain_state.parent.glob("rain-chunked-*.npy"))) == 1


def test_a_failure_midway_leaves_the_previous_state_and_nowcast(pair):
    _, chunked, root = pair
    handler = chunked.handler
    data = np.where(rain_values() == -9999.0, -9999.0, rain_values())
    handler.process(record(announcement("rainfall_observed", tiled(root / "ok.tif", data),
                                        "mm/h")))
    state_dir, cog = handler.paths.rain_state.parent, handler.paths.observed_cog
    before = {p.name: p.read_bytes() for p in [*state_dir.iterdir(), cog]}
    run_before = chunked.run()
    # the same grid, DEFLATE tiles; tile (2, 2) overwritten: no risk point lies in it, so
    # the readings are sampled and the block pass fails at its 13th of 25 blocks
    broken = tiled(root / "broken.tif", data * 2, compress="deflate")
    with rasterio.open(broken) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_2_2", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_2_2", "TIFF", bidx=1))
    with open(broken, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * size)
    out = handler.process(record(announcement("rainfall_observed", broken, "mm/h",
                                              valid_at=T0 + timedelta(hours=1)), offset=1))
    assert [o.topic for o in out] == [TOPICS.deadletter]
    assert b"rainfall_observed" in out[0].value
    after = {p.name: p.read_bytes() for p in [*state_dir.iterdir(), cog]}
    assert after == before            # no temporary file left, nothing replaced
    assert list(cog.parent.glob(".*")) == []
    assert chunked.run()[0].evidence == run_before[0].evidence


def test_memory_stays_at_a_few_blocks_of_a_large_grid(tmp_path):
    """1200 x 1200 cells: 11 MiB as float64, a 15-day state of 82 MiB; chunks of 128 x 128."""
    root = tmp_path / "rasters"
    size = 1200
    side = _side(tmp_path, "large", root, chunk_cells=128 * 128, max_read_cells=size * size - 1)
    side.handler.process(record(announcement("susceptibility",
                                             susceptibility_gradient(root / "susc.tif"), "1")))
    rng = np.random.default_rng(4)
    rain = rng.gamma(1.0, 60.0, (size, size))
    cell = 4.0 / size
    path = tiled(root / "large.tif", rain, Affine(cell, 0, 102.0, 0, -cell, 32.0), block=128)
    message = record(announcement("rainfall_observed", path, "mm/h"), offset=1)
    tracemalloc.start()
    try:
        out = side.handler.process(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {o.topic for o in out} == {TOPICS.readings}
    # the in-memory path holds the whole state twice (164 MiB); a block of it is 1 MiB
    grid_bytes = size * size * 8
    assert peak < grid_bytes, f"peak {peak / 2**20:.1f} MiB"
    run, counties = side.run()
    assert run.evidence["computed_in_blocks"] == 100
    assert sum(run.evidence["cells_by_level"].values()) == size * size
    assert counties
    state = load_chunked_state(side.handler.paths)
    assert state is not None and state.daily_mm.shape == (15, size, size)
    assert_allclose(state.daily_mm[0], rain.astype(np.float32))
