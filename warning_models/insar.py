"""Active deformation areas from an InSAR line-of-sight (LOS) velocity map.

An InSAR velocity product says how fast the ground moves towards or away from
the satellite, relative to one reference pixel. A regional service wants the
places that move clearly more than the noise: clusters of coherent pixels
whose velocity exceeds a multiple of the scatter of stable ground. Those
clusters are compared with the risk-point registry (geo.insar_areas) to find
ground that moves where nobody monitors it.

Method (Barra et al. 2017, "ADA finder"):

1. Re-reference: ``v' = v - v[ref]`` (mm/yr), so the reference pixel is 0 by
   definition, as in MintPy's convention (Yunjun et al. 2019). A reference
   pixel that is not finite or not coherent makes the whole map meaningless
   and is refused.
2. Coherence mask: pixels with temporal coherence >= ``coherence_threshold``
   (Pepe & Lanari 2006 temporal coherence; MintPy's default mask is 0.7).
3. Noise of stable ground: ``sigma = 1.4826 * MAD`` of the velocity of
   coherent pixels (Hampel 1974). With ``sigma_source="stable"`` the areas
   found with that first estimate are left out and sigma is estimated once
   more on what remains, so a large deforming volcano does not inflate the
   noise and hide smaller areas. Barra et al. use twice the standard deviation
   of the whole data set as their "stability threshold"; the MAD is the robust
   counterpart.
4. Active pixels: coherent and ``|v'| > k_sigma * sigma`` (default k = 2).
5. Clusters: 8-connected components of active pixels (scipy.ndimage.label),
   uplift and subsidence labelled separately (a moving-away area touching a
   moving-towards area is two processes), kept when they reach both
   ``min_pixels`` and ``min_area_m2`` (Barra et al. keep clusters of at least
   5 measurement points).

Units: velocity in mm/yr along the LOS (positive towards the satellite in
MintPy), pixel areas in m^2. Labels are renumbered by area, largest first.

References:
    Barra, A., Solari, L., Bejar-Pizarro, M., Monserrat, O., Bianchini, S.,
        Herrera, G., Crosetto, M., Sarro, R., Gonzalez-Alonso, E., Mateos,
        R.M., Ligüerzana, S., Lopez, C., Moretti, S. (2017). A methodology to
        detect and update active deformation areas based on Sentinel-1 SAR
        images. Remote Sensing 9(10), 1002.
    Yunjun, Z., Fattahi, H., Amelung, F. (2019). Small baseline InSAR time
        series analysis: unwrapping error correction and noise reduction.
        Computers & Geosciences 133, 104331.
    Pepe, A., Lanari, R. (2006). On the extension of the minimum cost flow
        algorithm for phase unwrapping of multitemporal differential SAR
        interferograms. IEEE TGRS 44(9), 2374-2383.
    Hampel, F.R. (1974). The influence curve and its role in robust
        estimation. J. Am. Stat. Assoc. 69(346), 383-393.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

MODEL_NAME = "insar_active_areas"
MODEL_VERSION = "insar-ada-1.0"
REQUIRES_INPUTS = ("velocity_mm_yr", "coherence", "reference_pixel", "pixel_area_m2")
CITATION = ("Barra et al. (2017) Remote Sens. 9(10):1002; "
            "Yunjun et al. (2019) Comput. Geosci. 133:104331")

MAD_TO_SIGMA = 1.4826
"""Scale factor from the MAD to the standard deviation of a normal distribution."""

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class InsarParams(BaseModel):
    """Detection thresholds; validated when loaded, not during a storm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coherence_threshold: float = Field(
        0.7, ge=0, le=1, description="temporal coherence a pixel needs to be used")
    k_sigma: float = Field(
        2.0, gt=0, le=20, description="a pixel is active when |v| > k_sigma * sigma")
    sigma_source: Literal["stable", "coherent"] = Field(
        "stable", description="MAD of coherent pixels outside the first areas, or of all")
    min_sigma_mm_yr: float = Field(
        0.5, ge=0, le=100,
        description="floor on sigma (mm/yr): a nearly noiseless map must not call mm/decade 'active'")
    min_pixels: int = Field(5, ge=1, le=1_000_000, description="pixels an area needs")
    min_area_m2: float = Field(
        10_000.0, ge=0, le=1e10, description="ground area an area needs (m^2); 1 ha by default")


@dataclass(frozen=True)
class ClusterTable:
    """One row per area, ordered by area (label 1 = largest).

    ``peak_velocity_mm_yr`` is the signed velocity of the pixel with the
    largest ``|v|``; ``peak_row``/``peak_col`` locate it.
    """

    label: np.ndarray                 # int32, 1..n
    pixel_count: np.ndarray           # int64
    area_m2: np.ndarray               # float64, sum of pixel areas
    mean_velocity_mm_yr: np.ndarray   # float64, mean over the area's pixels
    peak_velocity_mm_yr: np.ndarray   # float64
    peak_row: np.ndarray              # int64
    peak_col: np.ndarray              # int64

    def __len__(self) -> int:
        return int(self.label.size)


@dataclass(frozen=True)
class ActiveAreas:
    """What ``detect_active_areas`` found, with everything needed to explain it."""

    velocity_mm_yr: np.ndarray   # re-referenced LOS velocity, NaN where not coherent
    coherent: np.ndarray         # bool mask of usable pixels
    active: np.ndarray           # bool: coherent and |v| > threshold
    labels: np.ndarray           # int32, 0 outside areas, else the area's label
    clusters: ClusterTable
    sigma_mm_yr: float
    threshold_mm_yr: float
    reference_pixel: tuple[int, int]
    params: InsarParams

    def evidence(self) -> dict[str, Any]:
        """Map-wide numbers and parameters, for every area's evidence."""
        return {
            "model": MODEL_NAME,
            "model_version": MODEL_VERSION,
            "citation": CITATION,
            "params": self.params.model_dump(),
            "sigma_mm_yr": self.sigma_mm_yr,
            "threshold_mm_yr": self.threshold_mm_yr,
            "reference_pixel": list(self.reference_pixel),
            "coherent_pixels": int(self.coherent.sum()),
        }


def rereference(velocity: np.ndarray, ref_row: int, ref_col: int) -> np.ndarray:
    """Velocity relative to the reference pixel: ``v - v[ref_row, ref_col]`` (same unit).

    Yunjun et al. (2019): InSAR measures relative motion; the reference pixel
    is the one defined as not moving.
    """
    v = np.asarray(velocity, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"velocity must be a 2-D grid, got shape {v.shape}")
    rows, cols = v.shape
    if not (0 <= ref_row < rows and 0 <= ref_col < cols):
        raise ValueError(f"reference pixel ({ref_row}, {ref_col}) lies outside the "
                         f"{rows} x {cols} grid")
    ref_value = v[ref_row, ref_col]
    if not np.isfinite(ref_value):
        raise ValueError(f"reference pixel ({ref_row}, {ref_col}) has no velocity")
    return v - ref_value


def coherence_mask(coherence: np.ndarray, threshold: float,
                   velocity: np.ndarray | None = None) -> np.ndarray:
    """True where temporal coherence >= ``threshold`` (0..1) and the velocity is finite."""
    c = np.asarray(coherence, dtype=float)
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(c) & (c >= threshold)
    if velocity is not None:
        mask &= np.isfinite(np.asarray(velocity, dtype=float))
    return mask


def robust_sigma(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``1.4826 * median(|x - median(x)|)`` over ``mask`` (Hampel 1974); NaN when empty."""
    x = np.asarray(values, dtype=float)
    x = x[mask] if mask is not None else x.ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(x - np.median(x))))


def label_clusters(active: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of ``active``, uplift and subsidence labelled apart."""
    act = np.asarray(active, dtype=bool)
    v = np.asarray(velocity, dtype=float)
    with np.errstate(invalid="ignore"):
        up, n_up = ndimage.label(act & (v > 0), structure=EIGHT_CONNECTED)
        down, n_down = ndimage.label(act & (v < 0), structure=EIGHT_CONNECTED)
    labels = np.where(down > 0, down + n_up, up).astype(np.int32)
    return labels, n_up + n_down


def cluster_table(labels: np.ndarray, velocity_mm_yr: np.ndarray,
                  pixel_area_m2: np.ndarray | float, n: int | None = None) -> ClusterTable:
    """Pixel count, area (m^2), mean and peak velocity (mm/yr) of labels 1..n."""
    lab = np.asarray(labels)
    v = np.asarray(velocity_mm_yr, dtype=float)
    area = np.broadcast_to(np.asarray(pixel_area_m2, dtype=float), lab.shape)
    n = int(lab.max(initial=0)) if n is None else n
    index = np.arange(1, n + 1)
    if n == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, float)
        return ClusterTable(index.astype(np.int32), empty_i, empty_f, empty_f, empty_f,
                            empty_i, empty_i)
    counts = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.int64)
    areas = np.asarray(ndimage.sum_labels(area, lab, index), dtype=float)
    means = np.asarray(ndimage.mean(np.nan_to_num(v), lab, index), dtype=float)
    peaks = np.asarray(ndimage.maximum_position(np.abs(np.nan_to_num(v)), lab, index))
    peaks = peaks.reshape(n, 2).astype(np.int64)
    return ClusterTable(
        label=index.astype(np.int32), pixel_count=counts, area_m2=areas,
        mean_velocity_mm_yr=means, peak_velocity_mm_yr=v[peaks[:, 0], peaks[:, 1]],
        peak_row=peaks[:, 0], peak_col=peaks[:, 1])


def _areas(active: np.ndarray, v: np.ndarray, pixel_area: np.ndarray,
           params: InsarParams) -> tuple[np.ndarray, ClusterTable]:
    """Clusters that reach the minimum size, renumbered 1..n by area (largest first)."""
    raw, n = label_clusters(active, v)
    table = cluster_table(raw, v, pixel_area, n)
    keep = (table.pixel_count >= params.min_pixels) & (table.area_m2 >= params.min_area_m2)
    kept = table.label[keep]
    order = kept[np.lexsort((kept, -table.area_m2[keep]))]   # by area, ties by label
    lookup = np.zeros(n + 1, dtype=np.int32)
    lookup[order] = np.arange(1, order.size + 1, dtype=np.int32)
    labels = lookup[raw]
    return labels, cluster_table(labels, v, pixel_area, int(order.size))


def detect_active_areas(velocity_mm_yr: np.ndarray, coherence: np.ndarray,
                        reference_pixel: tuple[int, int], pixel_area_m2: np.ndarray | float,
                        params: InsarParams | None = None) -> ActiveAreas:
    """Active deformation areas of one LOS velocity map (Barra et al. 2017).

    ``velocity_mm_yr`` and ``coherence`` (0..1) share one grid;
    ``reference_pixel`` is (row, col); ``pixel_area_m2`` is a scalar or an
    array broadcastable to the grid (one value per row on a geographic grid).
    """
    params = params or InsarParams()
    v = rereference(velocity_mm_yr, *reference_pixel)
    coherent = coherence_mask(coherence, params.coherence_threshold, v)
    if not coherent[reference_pixel]:
        raise ValueError(f"reference pixel {tuple(reference_pixel)} is not coherent "
                         f"(threshold {params.coherence_threshold})")
    v = np.where(coherent, v, np.nan)
    pixel_area = np.broadcast_to(np.asarray(pixel_area_m2, dtype=float), v.shape)
    absv = np.abs(np.nan_to_num(v))

    sigma = max(robust_sigma(v, coherent), params.min_sigma_mm_yr)
    if params.sigma_source == "stable":
        first, _ = _areas(coherent & (absv > params.k_sigma * sigma), v, pixel_area, params)
        sigma = max(robust_sigma(v, coherent & (first == 0)), params.min_sigma_mm_yr)
    threshold = params.k_sigma * sigma
    active = coherent & (absv > threshold)
    labels, table = _areas(active, v, pixel_area, params)
    return ActiveAreas(velocity_mm_yr=v, coherent=coherent, active=active, labels=labels,
                       clusters=table, sigma_mm_yr=float(sigma),
                       threshold_mm_yr=float(threshold),
                       reference_pixel=(int(reference_pixel[0]), int(reference_pixel[1])),
                       params=params)
