"""insar_displacement: a MintPy displacement time series (timeseries.h5) becomes a velocity
map by the per-pixel linear fit over its dates, then velocity at risk points and candidate
areas, as a velocity product does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose
from rasterio.windows import Window

from geo.boundaries import Boundaries
from geo.rasters import RasterPolicy, open_raster
from geo.rasters.timeseries import decimal_years, linear_velocity, velocity_from_timeseries
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.rasters import insar_samples, list_candidate_areas
from streams.raster_worker import RasterHandler
from streams.topics import Topics
from tests.streams.raster_scenarios import announcement, point, raster_settings, record

FIRST = datetime(2026, 1, 5, tzinfo=UTC)
DATES = [FIRST + timedelta(days=12 * i) for i in range(12)]
SHAPE = (60, 60)
STEP = 0.001                              # degrees, about 100 m
WEST, NORTH = 103.0, 31.0                  # Sichuan
SUBSIDING, UPLIFTING = (slice(20, 30), slice(20, 30)), (slice(40, 48), slice(5, 13))
SUBSIDENCE_M_YR, UPLIFT_M_YR = -0.050, 0.030
REF_CELL = (2, 2)                          # noise-free stable pixel
FIT_ATOL_MM_YR = 1e-3      # float32 storage of metres: ~1e-7 relative over 0.4 years


def cell_centre(row: int, col: int) -> tuple[float, float]:
    return WEST + STEP * (col + 0.5), NORTH - STEP * (row + 0.5)


def write_timeseries(path: Path) -> Path:
    """12 epochs (every 12 days): a subsiding and an uplifting block, 2 mm noise elsewhere."""
    years = decimal_years(DATES)[:, None, None]
    rate = np.zeros(SHAPE)
    rate[SUBSIDING], rate[UPLIFTING] = SUBSIDENCE_M_YR, UPLIFT_M_YR
    noise = np.random.default_rng(3).normal(0.0, 0.002, (len(DATES), *SHAPE))
    noise[:, SUBSIDING[0], SUBSIDING[1]] = 0.0
    noise[:, UPLIFTING[0], UPLIFTING[1]] = 0.0
    noise[:, REF_CELL[0], REF_CELL[1]] = 0.0
    series = (rate[None] * years + noise).astype(np.float32)
    ref_lon, ref_lat = cell_centre(*REF_CELL)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("timeseries", data=series, chunks=(len(DATES), 16, 60))
        f.create_dataset("date", data=np.array([d.strftime("%Y%m%d") for d in DATES], "S8"))
        f.attrs.update({"FILE_TYPE": "timeseries", "UNIT": "m", "X_FIRST": WEST,
                        "Y_FIRST": NORTH, "X_STEP": STEP, "Y_STEP": -STEP,
                        "LENGTH": SHAPE[0], "WIDTH": SHAPE[1], "REF_LON": ref_lon,
                        "REF_LAT": ref_lat, "START_DATE": "20260105", "END_DATE": "20260520"})
    return path


def test_the_linear_fit_matches_numpy_polyfit_and_skips_missing_epochs() -> None:
    years = decimal_years(DATES)
    y = np.stack([3.0 * years + 1.0, -7.5 * years + np.sin(years * 9.0)], axis=1)
    y[[1, 4], 1] = np.nan                           # two epochs lost at the second pixel
    got = linear_velocity(y, years)
    keep = np.isfinite(y[:, 1])
    assert_allclose(got, [3.0, np.polyfit(years[keep], y[keep, 1], 1)[0]], rtol=1e-10)
    assert np.isnan(linear_velocity(y[:2], years[:2])).all()       # fewer than 3 epochs


def test_the_velocity_is_fitted_band_by_band_like_the_whole_stack(tmp_path) -> None:
    path = write_timeseries(tmp_path / "timeseries.h5")
    with open_raster(path, RasterPolicy(allowed_roots=(tmp_path,)), time_index=0) as source:
        banded, dates = velocity_from_timeseries(source, chunk_cells=12 * 60 * 16)
        whole = linear_velocity(source.read_epochs(_all(source)), decimal_years(dates))
    assert dates == DATES and banded.valid_at == DATES[-1]
    assert_allclose(banded.data, whole, rtol=1e-12)
    assert_allclose(banded.data[SUBSIDING], SUBSIDENCE_M_YR, atol=FIT_ATOL_MM_YR / 1000)
    assert banded.attrs["FILE_TYPE"] == "velocity" and banded.attrs["EPOCHS"] == "12"


def _all(source) -> Window:
    return Window(0, 0, source.meta.width, source.meta.height)


@pytest.fixture
def handler(sqlite_url: str, tmp_path: Path):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    inside = cell_centre(25, 25)
    with session_scope(sessions) as session:
        upsert_points(session, [point("INS1", *inside)])
    root = tmp_path / "rasters"
    try:
        yield (RasterHandler(raster_settings(root, tmp_path / "nowcast"), Topics(), sessions,
                             Boundaries.load()), root, sessions)
    finally:
        engine.dispose()


def test_a_displacement_series_gives_velocity_at_points_and_candidate_areas(handler) -> None:
    worker, root, sessions = handler
    path = write_timeseries(root / "sichuan" / "timeseries.h5")
    out = worker.process(record(announcement("insar_displacement", path, "m",
                                             valid_at=DATES[-1])))
    assert out == [] and worker.counts == {"insar_displacement": 1}
    with session_scope(sessions) as session:
        samples = insar_samples(session, "INS1")
        areas, total = list_candidate_areas(session)
    assert len(samples) == 1
    assert_allclose(samples[0].velocity_mm_yr, SUBSIDENCE_M_YR * 1000, atol=FIT_ATOL_MM_YR)
    # the subsiding block holds INS1 (covered); the uplifting one is a candidate
    assert total == 1 and areas[0].product == "insar_displacement"
    assert 64 <= areas[0].pixel_count <= 80        # the block, and a few noisy neighbours
    assert_allclose(areas[0].peak_velocity_mm_yr, UPLIFT_M_YR * 1000, atol=FIT_ATOL_MM_YR)


def test_a_displacement_product_that_is_no_time_series_is_dead_lettered(handler) -> None:
    worker, root, _ = handler
    path = write_timeseries(root / "ts.h5")
    letter = worker.process(record(announcement("insar_displacement", path, "furlongs")))[0]
    assert b"displacement units 'furlongs' are not understood" in letter.value


def test_a_velocity_map_above_the_memory_limit_is_fitted_into_memory_maps(handler) -> None:
    """Compared area by area with the in-memory path in tests/streams/test_raster_chunked_insar."""
    worker, root, sessions = handler
    path = write_timeseries(root / "big" / "timeseries.h5")
    worker.settings = replace(worker.settings, policy=worker.settings.policy.model_copy(
        update={"max_read_cells": SHAPE[0] * SHAPE[1] - 1}))
    assert worker.process(record(announcement("insar_displacement", path, "m",
                                              valid_at=DATES[-1]))) == []
    with session_scope(sessions) as session:
        assert list_candidate_areas(session)[1] == 1
    assert list(worker.work_dir.iterdir()) == []
