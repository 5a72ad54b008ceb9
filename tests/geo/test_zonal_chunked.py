"""County summaries accumulated block by block equal the whole-grid summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
from affine import Affine
from numpy.testing import assert_allclose, assert_array_equal

from geo.zonal import SHARE_COLUMNS, county_summaries
from geo.zonal_chunked import CountySummaryAccumulator

SUM_RTOL = 1e-9       # the same cell areas summed in another order
STEP = 0.01
TRANSFORM = Affine(STEP, 0.0, 102.5, 0.0, -STEP, 31.9)   # around Chengdu, 21 x 27 blocks


def _levels() -> np.ndarray:
    rng = np.random.default_rng(3)
    levels = rng.integers(-1, 5, size=(230, 290)).astype(np.int8)
    levels[:40, :60] = -1          # a corner without data
    return levels


def test_blocks_in_any_order_give_the_whole_grid_table(boundaries):
    levels = _levels()
    rng = np.random.default_rng(5)
    lon = rng.uniform(102.4, 105.5, 300)
    lat = rng.uniform(29.5, 32.0, 300)
    people = rng.integers(0, 500, 300)
    whole = county_summaries(levels, TRANSFORM, "EPSG:4326", boundaries, point_lon=lon,
                             point_lat=lat, point_population=people)
    acc = CountySummaryAccumulator(TRANSFORM, "EPSG:4326", levels.shape, boundaries,
                                   point_lon=lon, point_lat=lat, point_population=people)
    starts = [(r, c) for r in range(0, 230, 64) for c in range(0, 290, 50)]
    for r, c in reversed(starts):
        acc.add(levels[r:r + 64, c:c + 50], r, c)
    blocks = acc.table()
    assert len(whole) > 5
    exact = ["adcode", "name", "province_adcode", "max_level", "max_level_label",
             "points_at_or_above", "threatened_population"]
    pd.testing.assert_frame_equal(blocks[exact], whole[exact], check_dtype=False)
    assert blocks.threatened_population.sum() > 0
    for column in [*SHARE_COLUMNS, "data_area_m2", "county_area_m2", "data_coverage"]:
        assert_allclose(blocks[column].to_numpy(dtype=float),
                        whole[column].to_numpy(dtype=float), rtol=SUM_RTOL, atol=1e-12)
    assert_array_equal(list(blocks.columns), list(whole.columns))
