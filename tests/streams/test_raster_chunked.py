"""Rasters above the memory budget: read as dask arrays chunk by chunk, with the results of
the in-memory path (geo.rasters.chunked; the raster worker's observed-rainfall step)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest
import rasterio
from numpy.testing import assert_array_equal

from geo.boundaries import Boundaries
from geo.rasters import RasterPolicy, open_raster, sample_points
from geo.rasters.chunked import is_lazy, lazy_grid
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from streams.raster_files import load_arrays
from streams.raster_rain_chunked import load_chunked_state
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.streams.raster_scenarios import (
    POINTS,
    RAIN_SHAPE,
    RAIN_TRANSFORM,
    WGS84,
    announcement,
    rain_values,
    raster_settings,
    record,
    write_rain,
)

TOPICS = Topics()
CHUNK_CELLS = 20 * 20          # 16 x 16 storage blocks: chunks of one block, 25 of them


def tiled_rain(path: Path) -> Path:
    """The scenarios' rain grid (80 x 80) as a tiled GeoTIFF with 16 x 16 blocks."""
    profile = {"driver": "GTiff", "width": RAIN_SHAPE[1], "height": RAIN_SHAPE[0], "count": 1,
               "dtype": "float32", "transform": RAIN_TRANSFORM, "crs": WGS84, "nodata": -9999.0,
               "tiled": True, "blockxsize": 16, "blockysize": 16}
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rain_values(), 1)
    return path


def test_a_lazy_grid_reads_chunk_by_chunk_and_samples_like_the_whole_grid(tmp_path):
    path = tiled_rain(tmp_path / "rain.tif")
    rng = np.random.default_rng(7)
    lon = rng.uniform(101.9, 106.1, 5_000)         # some outside the grid
    lat = rng.uniform(27.9, 32.1, 5_000)
    with open_raster(path, RasterPolicy(allowed_roots=(tmp_path,))) as source:
        whole = source.read()
        lazy = lazy_grid(source, CHUNK_CELLS)
        assert is_lazy(lazy.data) and lazy.data.numblocks == (5, 5)
        assert lazy.transform == whole.transform
        assert_array_equal(sample_points(lazy, lon, lat), sample_points(whole, lon, lat))
        assert_array_equal(lazy.data.compute(), whole.data)
    expected = np.where(rain_values() == -9999.0, np.nan, rain_values()).astype(float)
    assert_array_equal(whole.data, expected)


@pytest.fixture
def handlers(sqlite_url: str, tmp_path: Path):
    """Two handlers on one registry: one with the default budget, one below the raster."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, POINTS)
    root = tmp_path / "rasters"
    settings = raster_settings(root, tmp_path / "nowcast")
    small = replace(settings, nowcast_dir=tmp_path / "nowcast-chunked",
                    policy=settings.policy.model_copy(update={
                        "max_read_cells": RAIN_SHAPE[0] * RAIN_SHAPE[1] - 1,
                        "chunk_cells": CHUNK_CELLS}))
    try:
        yield (RasterHandler(settings, TOPICS, sessions, Boundaries.load()),
               RasterHandler(small, TOPICS, sessions, Boundaries.load()), root)
    finally:
        engine.dispose()


def test_a_rainfall_grid_above_the_budget_gives_the_same_readings_in_chunks(handlers, caplog):
    whole, chunked, root = handlers
    message = record(announcement("rainfall_observed", tiled_rain(root / "rain.tif"), "mm/h"))
    in_memory = whole.process(message)
    caplog.set_level("INFO", logger="streams.raster_worker")
    in_chunks = chunked.process(message)
    assert [orjson.loads(o.value) for o in in_chunks] == [orjson.loads(o.value)
                                                          for o in in_memory]
    assert {o.key.decode() for o in in_chunks} == {"WET1", "WET2", "DRY1"}
    assert "sampled in 25 chunks" in caplog.text
    assert "rain state updated in 25 blocks" in caplog.text
    assert "no susceptibility grid yet: nowcast not computed" in caplog.text
    # the in-memory state file is left alone: the grid's state is kept on disk in blocks
    assert load_arrays(chunked.paths.rain_state) is None
    on_disk = load_chunked_state(chunked.paths)
    assert on_disk is not None
    assert_array_equal(on_disk.daily_mm, load_arrays(whole.paths.rain_state)["daily_mm"])


def test_a_striped_grid_above_the_budget_is_chunked_along_its_strips(handlers):
    _, chunked, root = handlers
    out = chunked.process(record(announcement("rainfall_observed",
                                              write_rain(root / "striped.tif"), "mm/h")))
    assert {o.key.decode() for o in out} == {"WET1", "WET2", "DRY1"}
    assert chunked.counts == {"rainfall_observed": 1}
