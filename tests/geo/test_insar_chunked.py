"""Active areas block by block equal the in-memory ones: on the real Kirishima product and on a
constructed map whose areas cross block borders (geo.insar_chunked)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import shapely
from affine import Affine
from numpy.testing import assert_allclose, assert_array_equal
from rasterio.crs import CRS

from geo.insar_areas import find_risk_areas, mintpy_georef, sample_velocity
from geo.insar_chunked import (
    BlockGrid,
    DiskArrays,
    find_risk_areas_in_blocks,
    kth_smallest,
    median_in_blocks,
    sample_in_blocks,
)
from tests.conftest import SHARED_DATA
from warning_models.insar import InsarParams

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
SUM_RTOL = 1e-12          # areas and means: the same pixels summed block by block


def blocks_of(shape: tuple[int, int], rows: int, cols: int) -> BlockGrid:
    row_sizes = tuple(min(rows, shape[0] - r) for r in range(0, shape[0], rows))
    col_sizes = tuple(min(cols, shape[1] - c) for c in range(0, shape[1], cols))
    return BlockGrid.of_chunks((row_sizes, col_sizes))


def assert_same(whole, in_blocks) -> None:
    (a, areas_a), (b, areas_b) = whole, in_blocks
    assert_array_equal(np.asarray(b.labels), a.labels)
    assert_array_equal(np.asarray(b.coherent), a.coherent)
    assert_array_equal(np.asarray(b.velocity_mm_yr), a.velocity_mm_yr)
    assert (b.sigma_mm_yr, b.threshold_mm_yr, b.reference_pixel) == \
        (a.sigma_mm_yr, a.threshold_mm_yr, a.reference_pixel)
    for name in ("label", "pixel_count", "peak_row", "peak_col", "peak_velocity_mm_yr"):
        assert_array_equal(getattr(b.clusters, name), getattr(a.clusters, name), err_msg=name)
    assert_allclose(b.clusters.area_m2, a.clusters.area_m2, rtol=SUM_RTOL)
    assert_allclose(b.clusters.mean_velocity_mm_yr, a.clusters.mean_velocity_mm_yr,
                    rtol=SUM_RTOL)
    assert len(areas_b) == len(areas_a)
    for ga, gb in zip(areas_a.geometry, areas_b.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(gb), shapely.normalize(ga), tolerance=0)
    assert list(areas_b.status) == list(areas_a.status)
    assert list(areas_b.risk_point_ids) == list(areas_a.risk_point_ids)
    for ea, eb in zip(areas_a.evidence, areas_b.evidence, strict=True):
        assert eb.keys() == ea.keys()
        assert_allclose([eb["area_m2"], eb["mean_velocity_mm_yr"]],
                        [ea["area_m2"], ea["mean_velocity_mm_yr"]], rtol=SUM_RTOL)
        assert {k: v for k, v in eb.items() if k not in ("area_m2", "mean_velocity_mm_yr")} \
            == {k: v for k, v in ea.items() if k not in ("area_m2", "mean_velocity_mm_yr")}


@pytest.fixture(scope="module")
def kirishima() -> dict:
    with h5py.File(KIRISHIMA / "velocity.h5", "r") as f:
        velocity = f["velocity"][:].astype(float) * 1000.0
        attrs = {k: f.attrs[k] for k in f.attrs}
    with h5py.File(KIRISHIMA / "temporalCoherence.h5", "r") as f:
        coherence = f["temporalCoherence"][:].astype(float)
    return {"velocity": velocity, "coherence": coherence, "georef": mintpy_georef(attrs)}


@pytest.mark.parametrize("sigma_source", ["stable", "coherent"])
def test_kirishima_in_blocks_gives_the_in_memory_areas(kirishima, tmp_path, sigma_source):
    g = kirishima["georef"]
    params = InsarParams(sigma_source=sigma_source)
    rng = np.random.default_rng(0)
    lon = g.transform.c + g.transform.a * rng.uniform(0, kirishima["velocity"].shape[1], 200)
    lat = g.transform.f + g.transform.e * rng.uniform(0, kirishima["velocity"].shape[0], 200)
    ids = [f"P{i}" for i in range(200)]
    args = (g.transform, g.crs, (g.ref_lon, g.ref_lat))
    whole = find_risk_areas(kirishima["velocity"], kirishima["coherence"], *args,
                            point_ids=ids, point_lon=lon, point_lat=lat, insar_params=params)
    blocks = blocks_of(kirishima["velocity"].shape, 37, 41)
    assert blocks.count > 20
    with DiskArrays(tmp_path) as disk:
        in_blocks = find_risk_areas_in_blocks(
            kirishima["velocity"], kirishima["coherence"], *args, blocks, disk,
            point_ids=ids, point_lon=lon, point_lat=lat, insar_params=params)
        assert len(whole[1]) >= 2
        assert_same(whole, in_blocks)
        assert_array_equal(
            sample_in_blocks(in_blocks[0], g.transform, g.crs, lon, lat),
            sample_velocity(kirishima["velocity"], kirishima["coherence"], g.transform, g.crs,
                            whole[0].reference_pixel, lon, lat, params.coherence_threshold))
    assert list(tmp_path.iterdir()) == []          # the memory maps are gone


def test_areas_across_block_borders_and_corners_are_one_area(tmp_path):
    """Subsidence bowls and uplift across borders, a diagonal touch at a block corner, an
    uplift patch touching a subsiding one (two areas), on a projected grid (equal pixel areas,
    so ties in area are broken by scan order as in memory)."""
    rng = np.random.default_rng(11)
    v = rng.normal(0.0, 1.0, (120, 150))
    rows, cols = np.mgrid[0:120, 0:150]
    v -= 30 * np.exp(-(((rows - 40) / 9) ** 2 + ((cols - 50) / 12) ** 2))   # across (40, 50)
    v[78:82, 96:100] = 25.0                  # 4 x 4 uplift across the corner (80, 98)
    v[82:86, 100:104] = 25.0                 # touches it only diagonally: same area
    v[10:14, 120:124] = -20.0                # equal 16-pixel areas: tie broken by scan order
    v[100:104, 10:14] = -20.0
    v[10:14, 124:128] = 20.0                 # uplift beside the subsidence: a separate area
    # distinct values inside the patches: scipy picks among equal peaks by an unstable sort
    v += rng.normal(0.0, 0.01, v.shape)
    coherence = np.where(rng.random(v.shape) < 0.03, 0.2, 0.95)
    coherence[0, 0] = 1.0
    transform = Affine(100.0, 0.0, 500_000.0, 0.0, -100.0, 3_500_000.0)
    crs = CRS.from_epsg(32648)
    ref = transform @ (0.5, 0.5)
    from pyproj import Transformer
    ref_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*ref)
    params = InsarParams(min_pixels=5, min_area_m2=0.0)
    whole = find_risk_areas(v, coherence, transform, crs, ref_lonlat, insar_params=params)
    assert len(whole[1]) >= 5
    with DiskArrays(tmp_path) as disk:
        in_blocks = find_risk_areas_in_blocks(v, coherence, transform, crs, ref_lonlat,
                                              blocks_of(v.shape, 20, 49), disk,
                                              insar_params=params)
        assert_same(whole, in_blocks)


def test_selection_equals_sorting_with_ties_and_narrow_bins():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 5_001), np.full(700, 0.25), rng.normal(5, 1e-9, 300)])
    rng.shuffle(values)
    parts = np.array_split(values, 13)

    def blocks():
        return iter(parts)

    ordered = np.sort(values)
    for k in (0, 17, 2_500, 3_000, values.size // 2, values.size - 1):
        assert kth_smallest(blocks, k, sort_limit=64) == ordered[k]
    assert median_in_blocks(blocks, sort_limit=64) == np.median(values)
    assert median_in_blocks(lambda: iter(parts[:-1]), sort_limit=64) == \
        np.median(np.concatenate(parts[:-1]))
    assert np.isnan(median_in_blocks(lambda: iter([np.zeros(0)])))
