"""Active deformation areas: on the real Kirishima ALOS-2 velocity map and on constructed grids."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError
from scipy import ndimage

from tests.conftest import SHARED_DATA
from warning_models.insar import (
    MAD_TO_SIGMA,
    InsarParams,
    coherence_mask,
    detect_active_areas,
    rereference,
    robust_sigma,
)

KIRISHIMA = SHARED_DATA / "insar" / "kirishima"
VELOCITY_TOL_MM_YR = 1e-6     # float32 m/yr scaled to mm/yr is exact to far below this
PIXEL_AREA_M2 = 400.0          # constructed grids: 20 m x 20 m


@pytest.fixture(scope="module")
def kirishima() -> dict:
    with h5py.File(KIRISHIMA / "velocity.h5", "r") as f:
        velocity = f["velocity"][:].astype(float) * 1000.0     # m/yr -> mm/yr
        attrs = {k: f.attrs[k] for k in f.attrs}
    with h5py.File(KIRISHIMA / "temporalCoherence.h5", "r") as f:
        coherence = f["temporalCoherence"][:].astype(float)
    ref = (int(attrs["REF_Y"]), int(attrs["REF_X"]))
    lat = float(attrs["Y_FIRST"]) + float(attrs["Y_STEP"]) * (np.arange(velocity.shape[0]) + 0.5)
    side = np.deg2rad(float(attrs["X_STEP"])) * 6_371_000.0
    area = (side * side * np.cos(np.deg2rad(lat)))[:, None]   # spherical cell area, m^2
    return {"velocity": velocity, "coherence": coherence, "ref": ref, "area": area}


@pytest.fixture(scope="module")
def found(kirishima: dict):
    return detect_active_areas(kirishima["velocity"], kirishima["coherence"], kirishima["ref"],
                               kirishima["area"], InsarParams())


def test_rereference_makes_the_reference_pixel_zero(kirishima: dict) -> None:
    shifted = kirishima["velocity"] + 7.25        # a product referenced elsewhere
    v = rereference(shifted, *kirishima["ref"])
    assert v[kirishima["ref"]] == 0.0
    assert_allclose(v, kirishima["velocity"] - kirishima["velocity"][kirishima["ref"]],
                    atol=VELOCITY_TOL_MM_YR)


def test_rereference_refuses_a_reference_without_data() -> None:
    v = np.zeros((4, 4))
    v[1, 2] = np.nan
    with pytest.raises(ValueError, match="no velocity"):
        rereference(v, 1, 2)
    with pytest.raises(ValueError, match="outside"):
        rereference(v, 4, 0)


def test_inputs_are_not_mutated(kirishima: dict) -> None:
    velocity = kirishima["velocity"][:60, :60].copy()
    coherence = kirishima["coherence"][:60, :60].copy()
    before_v, before_c = velocity.copy(), coherence.copy()
    detect_active_areas(velocity, coherence, (30, 30), PIXEL_AREA_M2)
    assert_array_equal(velocity, before_v)
    assert_array_equal(coherence, before_c)


def test_the_strongest_area_peaks_at_the_fields_largest_coherent_velocity(
        kirishima: dict, found) -> None:
    v = kirishima["velocity"] - kirishima["velocity"][kirishima["ref"]]
    coherent = kirishima["coherence"] >= 0.7
    field_max = np.max(np.abs(v[coherent]))
    peaks = found.clusters.peak_velocity_mm_yr
    strongest = int(np.argmax(np.abs(peaks)))
    assert abs(abs(peaks[strongest]) - field_max) <= VELOCITY_TOL_MM_YR
    row, col = found.clusters.peak_row[strongest], found.clusters.peak_col[strongest]
    assert found.labels[row, col] == found.clusters.label[strongest]


def test_every_pixel_of_every_area_exceeds_k_sigma(found) -> None:
    params = found.params
    inside = found.labels > 0
    assert inside.sum() > 0
    assert found.threshold_mm_yr == pytest.approx(params.k_sigma * found.sigma_mm_yr, rel=1e-12)
    assert np.all(np.abs(found.velocity_mm_yr[inside]) > found.threshold_mm_yr)
    assert np.all(found.coherent[inside])


def test_areas_below_the_minimum_size_are_absent_and_the_others_present(
        kirishima: dict, found) -> None:
    params = found.params
    v = np.nan_to_num(found.velocity_mm_yr)
    active = found.coherent & (np.abs(v) > found.threshold_mm_yr)
    area = np.broadcast_to(kirishima["area"], v.shape)
    kept = 0
    for sign_mask in (active & (v > 0), active & (v < 0)):
        comps, n = ndimage.label(sign_mask, structure=np.ones((3, 3)))
        counts = np.bincount(comps.ravel(), minlength=n + 1)[1:]
        areas = ndimage.sum_labels(area, comps, np.arange(1, n + 1))
        big = (counts >= params.min_pixels) & (areas >= params.min_area_m2)
        small_pixels = np.isin(comps, np.flatnonzero(~big) + 1)
        big_pixels = np.isin(comps, np.flatnonzero(big) + 1)
        assert not (found.labels[small_pixels] > 0).any()
        assert (found.labels[big_pixels] > 0).all()
        kept += int(big.sum())
    assert len(found.clusters) == kept
    assert found.clusters.area_m2.min() >= params.min_area_m2
    assert found.clusters.pixel_count.min() >= params.min_pixels


def test_cluster_numbers_match_their_pixels(found) -> None:
    for i, label in enumerate(found.clusters.label):
        pixels = found.velocity_mm_yr[found.labels == label]
        assert found.clusters.pixel_count[i] == pixels.size
        assert_allclose(found.clusters.mean_velocity_mm_yr[i], pixels.mean(), rtol=1e-12)
        peak = pixels[np.argmax(np.abs(pixels))]
        assert found.clusters.peak_velocity_mm_yr[i] == peak
    assert np.all(np.diff(found.clusters.area_m2) <= 0)      # largest first


def test_sigma_from_all_coherent_pixels_is_their_mad(kirishima: dict) -> None:
    params = InsarParams(sigma_source="coherent")
    result = detect_active_areas(kirishima["velocity"], kirishima["coherence"], kirishima["ref"],
                                 kirishima["area"], params)
    v = kirishima["velocity"] - kirishima["velocity"][kirishima["ref"]]
    x = v[kirishima["coherence"] >= params.coherence_threshold]
    expected = MAD_TO_SIGMA * np.median(np.abs(x - np.median(x)))
    assert result.sigma_mm_yr == pytest.approx(expected, rel=1e-12)


def test_stable_ground_sigma_leaves_the_moving_areas_out(kirishima: dict, found) -> None:
    everything = detect_active_areas(kirishima["velocity"], kirishima["coherence"],
                                     kirishima["ref"], kirishima["area"],
                                     InsarParams(sigma_source="coherent"))
    assert found.sigma_mm_yr < everything.sigma_mm_yr
    assert len(found.clusters) > len(everything.clusters)


# ------------------------------------------------------------ constructed grids


def _constructed() -> tuple[np.ndarray, np.ndarray]:
    """Noise within +-1 mm/yr plus known blocks (mm/yr); coherence 1 except a strip."""
    rng = np.random.default_rng(7)
    v = rng.uniform(-1.0, 1.0, (80, 80))
    v[0, 0] = 0.0                  # the reference pixel
    v[10:16, 10:16] = 10.0         # 36 px uplift
    v[10:16, 16:22] = -10.0        # 36 px subsidence, touching the uplift
    v[40:43, 40:43] = 12.0         # two 3x3 blocks touching at one corner only
    v[43:46, 43:46] = 12.0
    v[60:62, 60:62] = 15.0         # 4 px: below min_pixels = 5
    v[70:76, 5:11] = 20.0          # 36 px, but incoherent
    coherence = np.ones_like(v)
    coherence[70:76, :] = 0.3
    return v, coherence


def test_constructed_areas_are_exactly_the_blocks() -> None:
    v, coherence = _constructed()
    params = InsarParams(min_pixels=5, min_area_m2=0.0)
    result = detect_active_areas(v, coherence, (0, 0), PIXEL_AREA_M2, params)
    # sigma of uniform noise on +-1 is 1.4826 * 0.5, so k * sigma = 1.48 clears all noise
    assert result.threshold_mm_yr > 1.0
    table = result.clusters
    assert sorted(table.pixel_count.tolist()) == [18, 36, 36]
    assert_allclose(np.sort(table.area_m2), np.array([18, 36, 36]) * PIXEL_AREA_M2)
    expected = {36: {10.0, -10.0}, 18: {12.0}}
    for n, peak in zip(table.pixel_count, table.peak_velocity_mm_yr, strict=True):
        assert any(abs(peak - e) < VELOCITY_TOL_MM_YR for e in expected[int(n)])
    assert result.labels[60:62, 60:62].max() == 0          # too small
    assert result.labels[70:76, 5:11].max() == 0          # incoherent
    assert result.labels[41, 41] == result.labels[44, 44]  # 8-connected
    assert result.labels[12, 12] != result.labels[12, 18]  # uplift and subsidence apart


def test_the_minimum_area_in_square_metres_drops_smaller_areas() -> None:
    v, coherence = _constructed()
    params = InsarParams(min_pixels=1, min_area_m2=20 * PIXEL_AREA_M2)
    result = detect_active_areas(v, coherence, (0, 0), PIXEL_AREA_M2, params)
    assert sorted(result.clusters.pixel_count.tolist()) == [36, 36]


def test_a_coherence_threshold_above_the_data_leaves_nothing() -> None:
    v, coherence = _constructed()
    coherence = coherence * 0.8
    coherence[0, 0] = 1.0
    result = detect_active_areas(v, coherence, (0, 0), PIXEL_AREA_M2,
                                 InsarParams(coherence_threshold=0.9))
    assert len(result.clusters) == 0
    assert result.coherent.sum() == 1


def test_an_incoherent_reference_is_refused() -> None:
    v, coherence = _constructed()
    with pytest.raises(ValueError, match="not coherent"):
        detect_active_areas(v, coherence, (72, 40), PIXEL_AREA_M2)


def test_coherence_mask_and_robust_sigma() -> None:
    mask = coherence_mask(np.array([0.2, 0.7, np.nan, 0.9]), 0.7, np.array([1.0, 1.0, 1.0, np.nan]))
    assert mask.tolist() == [False, True, False, False]
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    assert robust_sigma(x) == pytest.approx(MAD_TO_SIGMA * 1.0)
    assert np.isnan(robust_sigma(x, np.zeros(5, dtype=bool)))


@pytest.mark.parametrize("bad", [{"coherence_threshold": 1.5}, {"k_sigma": 0},
                                 {"min_pixels": 0}, {"min_area_m2": -1},
                                 {"sigma_source": "median"}, {"k": 2}])
def test_bad_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        InsarParams(**bad)
