"""The raster worker's memory: the daily rain window, its day boundaries, grid identity,
regridding, and files that appear only when published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from affine import Affine
from numpy.testing import assert_allclose
from rasterio.crs import CRS
from rasterio.enums import Resampling

from streams.raster_files import StagedFiles, load_arrays
from streams.raster_state import GridRef, RainState, day_number, regrid, to_ns
from warning_models.rainfall import effective_antecedent_rainfall

GRID = GridRef(Affine(0.1, 0, 100, 0, -0.1, 30), CRS.from_epsg(4326), (2, 3))
BEIJING = 8.0
T0 = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)       # 08:00 in Beijing


def day(moment: datetime) -> int:
    return day_number(to_ns(moment), BEIJING)


def test_days_are_counted_in_beijing_time_and_an_interval_belongs_to_its_end():
    assert day(T0) == day(T0 + timedelta(hours=15))                # 08:00 .. 23:00 Beijing
    assert day(T0 + timedelta(hours=16)) == day(T0)                 # rain of 23:00..24:00
    assert day(T0 + timedelta(hours=16, minutes=1)) == day(T0) + 1


def test_rain_accumulates_per_day_and_the_window_moves_with_time():
    state = RainState.empty(GRID, days=3, day=day(T0))
    ones = np.ones(GRID.shape)
    state = state.add(ones * 2, to_ns(T0), day(T0))
    state = state.add(ones * 3, to_ns(T0 + timedelta(hours=1)), day(T0))
    state = state.add(ones * 5, to_ns(T0 + timedelta(days=1)), day(T0) + 1)
    assert state.daily_mm[:, 0, 0].tolist() == [5.0, 5.0, 0.0]
    assert_allclose(state.antecedent_mm(0.8),
                    effective_antecedent_rainfall(np.array([[5.0, 5.0, 0.0]]), 0.8)[0])
    state = state.add(ones, to_ns(T0 + timedelta(days=3)), day(T0) + 3)
    assert state.daily_mm[:, 0, 0].tolist() == [1.0, 0.0, 5.0]      # day 0 left the window
    assert not state.within(day(T0)) and state.within(day(T0) + 1)


def test_a_valid_time_is_held_once_and_no_data_adds_nothing():
    state = RainState.empty(GRID, days=2, day=day(T0))
    rain = np.array([[1.0, np.nan, 2.0], [0.0, 0.0, 0.0]])
    state = state.add(rain, to_ns(T0), day(T0))
    assert state.holds(to_ns(T0)) and not state.holds(to_ns(T0 + timedelta(hours=1)))
    assert state.daily_mm[0, 0].tolist() == [1.0, 0.0, 2.0]
    restored = RainState.from_arrays(state.to_arrays())
    assert restored.grid.matches(GRID) and restored.holds(to_ns(T0))
    assert_allclose(restored.daily_mm, state.daily_mm)


def test_grids_match_within_a_millionth_of_a_cell_and_regrid_otherwise():
    nudged = GridRef(Affine(0.1, 0, 100 + 1e-9, 0, -0.1, 30), GRID.crs, GRID.shape)
    assert GRID.matches(nudged)
    finer = GridRef(Affine(0.05, 0, 100, 0, -0.05, 30), GRID.crs, (4, 6))
    assert not GRID.matches(finer)
    values = np.arange(6, dtype=float).reshape(2, 3)
    out = regrid(values, GRID, finer, resampling=Resampling.nearest)
    assert out.shape == (4, 6) and out[0, 0] == 0 and out[3, 5] == 5


def test_staged_files_appear_only_when_published(tmp_path):
    staged = StagedFiles()
    target = tmp_path / "state" / "rain.npz"
    staged.save_arrays(target, {"a": np.arange(3)})
    assert not target.exists() and len(list(target.parent.iterdir())) == 1
    staged.publish()
    assert load_arrays(target)["a"].tolist() == [0, 1, 2]
    staged.save_arrays(target, {"a": np.arange(5)})
    staged.discard()
    assert load_arrays(target)["a"].tolist() == [0, 1, 2]
    assert [p.name for p in target.parent.iterdir()] == ["rain.npz"]


def test_an_unreadable_state_file_counts_as_absent(tmp_path):
    broken = tmp_path / "rain.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    assert load_arrays(broken) is None
    assert load_arrays(tmp_path / "missing.npz") is None
    with pytest.raises(ValueError, match="older than"):
        RainState.empty(GRID, 2, 10).add(np.zeros(GRID.shape), 0, 5)
