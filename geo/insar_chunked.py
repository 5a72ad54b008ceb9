"""Active deformation areas of a velocity map larger than memory, block by block.

``geo.insar_areas.find_risk_areas`` holds the whole map (and several masks
of it) in memory. Here the map and everything derived from it live in
memory-mapped ``.npy`` files in a working folder (``DiskArrays``), and every
step walks them one block at a time, so memory stays at a few blocks plus
one entry per connected component:

- re-referencing and the coherence mask: elementwise, per block;
- robust sigma, ``1.4826 * median(|x - median(x)|)`` (Hampel 1974), on the
  stable or coherent pixels: exact medians by selection (``kth_smallest``:
  histograms narrow the value range pass by pass until the wanted order
  statistic's bin is small enough to sort), equal to ``np.median``;
- connected components (8-connected, uplift and subsidence apart, as
  ``warning_models.insar.label_clusters``): each block is labelled on its
  own, labels touching across a block border (a row or column of the label
  file on each side, diagonal neighbours included) are merged as a graph
  (scipy's ``connected_components``), and the components are numbered as a
  whole-grid scan would have numbered them (by first pixel in row-major
  order), so ties in area are broken the same way;
- per-area numbers (pixel count, area, mean and peak velocity, bounding box)
  are sums, minima and maxima accumulated over blocks; each polygon is traced
  from its own bounding box of the label file.

The result is the in-memory one: the same labels, areas and polygons
(compared in the tests), areas and means up to floating-point summation
order (relative 1e-12). The peak of an area is its first pixel of largest
|v| in row-major order; where several pixels share exactly that |v|, scipy's
``maximum_position`` (an unstable sort) may name another of them. An area's
polygon needs its bounding box of labels in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.insar_areas import (
    AreaMatchParams,
    areas_frame,
    classify_areas,
    label_polygon,
    pixel_areas_m2,
    pixel_index,
    reference_pixel,
)
from warning_models.insar import (
    EIGHT_CONNECTED,
    MAD_TO_SIGMA,
    ActiveAreas,
    ClusterTable,
    InsarParams,
    coherence_mask,
)

__all__ = ["BlockGrid", "DiskArrays", "find_risk_areas_in_blocks", "kth_smallest",
           "median_in_blocks", "sample_in_blocks"]

SELECT_BINS = 4096
SELECT_SORT_LIMIT = 1 << 16
"""Values (512 KiB) sorted in memory at most; a larger bin is split again by a histogram."""


@dataclass(frozen=True)
class BlockGrid:
    """A grid's shape cut into blocks: row and column edges."""

    row_edges: tuple[int, ...]
    col_edges: tuple[int, ...]

    @classmethod
    def of_chunks(cls, chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> BlockGrid:
        """From dask chunks (row sizes, column sizes)."""
        return cls(tuple(np.cumsum((0, *chunks[0])).tolist()),
                   tuple(np.cumsum((0, *chunks[1])).tolist()))

    @property
    def shape(self) -> tuple[int, int]:
        return self.row_edges[-1], self.col_edges[-1]

    @property
    def count(self) -> int:
        return (len(self.row_edges) - 1) * (len(self.col_edges) - 1)

    def __iter__(self) -> Iterator[tuple[slice, slice]]:
        for r0, r1 in zip(self.row_edges[:-1], self.row_edges[1:], strict=True):
            for c0, c1 in zip(self.col_edges[:-1], self.col_edges[1:], strict=True):
                yield slice(r0, r1), slice(c0, c1)


class DiskArrays:
    """Memory-mapped ``.npy`` arrays in a temporary folder, removed on exit."""

    def __init__(self, parent: Path | None = None) -> None:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self._folder = tempfile.TemporaryDirectory(prefix=".insar-blocks-", dir=parent)
        self.path = Path(self._folder.name)

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.memmap:
        return np.lib.format.open_memmap(self.path / f"{name}.npy", mode="w+", dtype=dtype,
                                         shape=shape)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._folder.cleanup()


ValueBlocks = Callable[[], Iterator[np.ndarray]]
"""Yields the values (1-D, finite) of a set block by block; called once per pass."""


def kth_smallest(values: ValueBlocks, k: int, *, sort_limit: int = SELECT_SORT_LIMIT) -> float:
    """The ``k``-th smallest (0-based) of all values, exactly, holding one bin at a time."""
    lo, hi, below = -np.inf, np.inf, 0
    while True:
        n, vmin, vmax = 0, np.inf, -np.inf
        for block in values():
            inside = block[(block >= lo) & (block <= hi)]
            if inside.size:
                n += inside.size
                vmin, vmax = min(vmin, float(inside.min())), max(vmax, float(inside.max()))
        if not 0 <= k - below < n:
            raise ValueError(f"order statistic {k} outside the {below + n} values")
        if vmin == vmax:
            return vmin
        if n <= sort_limit:
            kept = np.concatenate([b[(b >= lo) & (b <= hi)] for b in values()])
            return float(np.partition(kept, k - below)[k - below])
        edges = np.linspace(vmin, vmax, SELECT_BINS + 1)
        counts = np.zeros(SELECT_BINS, dtype=np.int64)
        for block in values():
            inside = block[(block >= vmin) & (block <= vmax)]
            bins = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, SELECT_BINS - 1)
            counts += np.bincount(bins, minlength=SELECT_BINS)
        cumulative = np.cumsum(counts)
        i = int(np.searchsorted(cumulative, k - below, side="right"))
        below += int(cumulative[i - 1]) if i else 0
        # bin i holds edges[i] <= x < edges[i+1] (the last bin includes vmax)
        lo = float(edges[i])
        hi = float(vmax) if i == SELECT_BINS - 1 else float(np.nextafter(edges[i + 1], -np.inf))


def median_in_blocks(values: ValueBlocks, *, sort_limit: int = SELECT_SORT_LIMIT) -> float:
    """``np.median`` of the values (NaN when there are none), by selection."""
    n = sum(int(b.size) for b in values())
    if n == 0:
        return float("nan")
    low = kth_smallest(values, (n - 1) // 2, sort_limit=sort_limit)
    high = low if n % 2 else kth_smallest(values, n // 2, sort_limit=sort_limit)
    return float(np.mean([low, high]))


def robust_sigma_in_blocks(values: ValueBlocks) -> float:
    """``warning_models.insar.robust_sigma`` of the values, block by block."""
    centre = median_in_blocks(values)
    if not np.isfinite(centre):
        return float("nan")
    return float(MAD_TO_SIGMA * median_in_blocks(lambda: (np.abs(b - centre) for b in values())))


@dataclass
class _Components:
    """Per component large enough to be an area (index 1..k; 0 = background or too small):
    the numbers the areas are made of. ``compact`` maps a component to its index here."""

    compact: np.ndarray
    count: np.ndarray
    area: np.ndarray
    vsum: np.ndarray
    first: np.ndarray          # flat index of the first pixel in row-major order
    up: np.ndarray             # bool: uplift (v > 0)
    peak: np.ndarray           # |v| at the peak
    peak_flat: np.ndarray
    bbox: np.ndarray           # (m+1, 4): row min, row max, col min, col max


class _Detector:
    """The blockwise steps of ``warning_models.insar.detect_active_areas``."""

    def __init__(self, disk: DiskArrays, blocks: BlockGrid, pixel_area: np.ndarray) -> None:
        self.disk, self.blocks = disk, blocks
        self.shape = blocks.shape
        self.pixel_area = pixel_area             # scalar or (rows, 1)

    def area_of(self, rows: slice, cols: slice) -> np.ndarray:
        height, width = rows.stop - rows.start, cols.stop - cols.start
        area = self.pixel_area
        if np.ndim(area):
            area = area[rows]
        return np.broadcast_to(np.asarray(area, dtype=float), (height, width))

    def components(self, active: Callable[[slice, slice], np.ndarray], v: np.ndarray,
                   name: str, min_pixels: int) -> tuple[np.ndarray, np.ndarray, _Components]:
        """(block-wise raw label file, raw label -> component, the numbers of the components
        of at least ``min_pixels`` pixels)."""
        raw = self.disk.array(f"{name}-raw", self.shape, np.int64)
        signs: list[np.ndarray] = [np.zeros(1, dtype=np.int8)]
        offset = 0
        for rows, cols in self.blocks:
            act = active(rows, cols)
            vb = np.asarray(v[rows, cols])
            with np.errstate(invalid="ignore"):
                up, n_up = ndimage.label(act & (vb > 0), structure=EIGHT_CONNECTED)
                down, n_down = ndimage.label(act & (vb < 0), structure=EIGHT_CONNECTED)
            local = np.where(down > 0, down + n_up, up)
            # a component too small to be an area that does not reach the block's edge is
            # whole and can never count: dropped here, so noise does not fill the graph
            keep = np.bincount(local.ravel(), minlength=n_up + n_down + 1) >= min_pixels
            keep[np.concatenate((local[0], local[-1], local[:, 0], local[:, -1]))] = True
            keep[0] = False
            renumber = np.where(keep, np.cumsum(keep) + offset, 0)
            raw[rows, cols] = renumber[local]
            sign = np.r_[np.zeros(1, np.int8), np.ones(n_up, np.int8), -np.ones(n_down, np.int8)]
            signs.append(sign[keep])
            offset += int(keep.sum())
        sign = np.concatenate(signs)
        a, b = self._border_pairs(raw, sign)
        graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(offset + 1,) * 2)
        _, component = connected_components(graph, directed=False)
        if component[0] != 0:
            raise AssertionError("the background label joined a component")
        component = component.astype(np.int64)
        return raw, component, self._numbers(raw, component, v, int(component.max()),
                                             min_pixels)

    def _border_pairs(self, raw: np.ndarray, sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels touching across block borders (8-connected, same sign)."""
        firsts: list[np.ndarray] = []
        seconds: list[np.ndarray] = []

        def pair(a: np.ndarray, b: np.ndarray) -> None:
            both = (a > 0) & (b > 0)
            both[both] &= sign[a[both]] == sign[b[both]]
            firsts.append(a[both])
            seconds.append(b[both])

        for r in self.blocks.row_edges[1:-1]:
            above, below = np.asarray(raw[r - 1, :]), np.asarray(raw[r, :])
            pair(above, below)
            pair(above[:-1], below[1:])
            pair(above[1:], below[:-1])
        for c in self.blocks.col_edges[1:-1]:
            left, right = np.asarray(raw[:, c - 1]), np.asarray(raw[:, c])
            pair(left, right)
            pair(left[:-1], right[1:])
            pair(left[1:], right[:-1])
        if not firsts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(firsts), np.concatenate(seconds)

    def _numbers(self, raw: np.ndarray, component: np.ndarray, v: np.ndarray,
                 m: int, min_pixels: int) -> _Components:
        height, width = self.shape
        # noise makes many tiny components: count them all, keep numbers only of the others
        sizes = np.zeros(m + 1, np.int64)
        for rows, cols in self.blocks:
            sizes += np.bincount(component[np.asarray(raw[rows, cols])].ravel(),
                                 minlength=m + 1)
        sizes[0] = 0
        large = np.flatnonzero(sizes >= min_pixels)
        compact = np.zeros(m + 1, np.int64)
        compact[large] = np.arange(1, large.size + 1)
        m = int(large.size)
        c = _Components(compact=compact, count=np.zeros(m + 1, np.int64), area=np.zeros(m + 1),
                        vsum=np.zeros(m + 1), first=np.full(m + 1, np.iinfo(np.int64).max),
                        up=np.zeros(m + 1, bool), peak=np.full(m + 1, -np.inf),
                        peak_flat=np.full(m + 1, np.iinfo(np.int64).max),
                        bbox=np.array([[height, -1, width, -1]] * (m + 1), dtype=np.int64))
        for rows, cols in self.blocks:
            comp = compact[component[np.asarray(raw[rows, cols])]]
            at = np.flatnonzero(comp)
            if at.size == 0:
                continue
            ids = comp.ravel()[at]
            vb = np.asarray(v[rows, cols], dtype=float).ravel()[at]
            block_width = cols.stop - cols.start
            r = rows.start + at // block_width
            col = cols.start + at % block_width
            flat = r * width + col
            c.count += np.bincount(ids, minlength=m + 1)
            c.area += np.bincount(ids, weights=self.area_of(rows, cols).ravel()[at],
                                  minlength=m + 1)
            c.vsum += np.bincount(ids, weights=np.nan_to_num(vb), minlength=m + 1)
            np.minimum.at(c.first, ids, flat)
            c.up[ids] = vb > 0
            np.minimum.at(c.bbox[:, 0], ids, r)
            np.maximum.at(c.bbox[:, 1], ids, r)
            np.minimum.at(c.bbox[:, 2], ids, col)
            np.maximum.at(c.bbox[:, 3], ids, col)
            magnitude = np.abs(np.nan_to_num(vb))
            order = np.lexsort((flat, -magnitude, ids))     # per id: largest |v|, then first
            lead = order[np.r_[True, ids[order][1:] != ids[order][:-1]]]
            best, where = ids[lead], flat[lead]
            better = (magnitude[lead] > c.peak[best]) | (
                (magnitude[lead] == c.peak[best]) & (where < c.peak_flat[best]))
            c.peak[best[better]] = magnitude[lead][better]
            c.peak_flat[best[better]] = where[better]
        return c

    def areas(self, active: Callable[[slice, slice], np.ndarray], v: np.ndarray,
              params: InsarParams, name: str) -> tuple[np.ndarray, ClusterTable, np.ndarray]:
        """``warning_models.insar._areas`` block by block.

        Returns the final label file (int32, 1..n by area), the table and the
        bounding boxes (n, 4) of the areas.
        """
        raw, component, c = self.components(active, v, name, params.min_pixels)
        m = c.count.size - 1
        ids = np.arange(1, m + 1)
        # whole-grid numbering: uplift components by first pixel, then subsidence ones
        scan = ids[np.lexsort((c.first[1:], ~c.up[1:]))]
        raw_label = np.zeros(m + 1, dtype=np.int64)
        raw_label[scan] = np.arange(1, m + 1)
        keep = ids[(c.count[1:] >= params.min_pixels) & (c.area[1:] >= params.min_area_m2)]
        order = keep[np.lexsort((raw_label[keep], -c.area[keep]))]
        final = np.zeros(m + 1, dtype=np.int32)
        final[order] = np.arange(1, order.size + 1, dtype=np.int32)
        labels = self.disk.array(f"{name}-labels", self.shape, np.int32)
        for rows, cols in self.blocks:
            labels[rows, cols] = final[c.compact[component[np.asarray(raw[rows, cols])]]]
        width = self.shape[1]
        peak_row, peak_col = c.peak_flat[order] // width, c.peak_flat[order] % width
        table = ClusterTable(
            label=np.arange(1, order.size + 1, dtype=np.int32), pixel_count=c.count[order],
            area_m2=c.area[order], mean_velocity_mm_yr=c.vsum[order] / c.count[order],
            peak_velocity_mm_yr=np.asarray(v[peak_row, peak_col], dtype=float),
            peak_row=peak_row.astype(np.int64), peak_col=peak_col.astype(np.int64))
        return labels, table, c.bbox[order]


def detect_in_blocks(velocity_mm_yr: np.ndarray, coherence: np.ndarray,
                     reference: tuple[int, int], pixel_area_m2: np.ndarray | float,
                     blocks: BlockGrid, disk: DiskArrays, params: InsarParams | None = None
                     ) -> tuple[ActiveAreas, np.ndarray]:
    """``warning_models.insar.detect_active_areas`` on disk arrays; also the areas' boxes.

    The returned ``ActiveAreas`` holds memory maps (valid while ``disk`` is).
    """
    params = params or InsarParams()
    shape = blocks.shape
    ref_value = float(velocity_mm_yr[reference])
    if not np.isfinite(ref_value):
        raise ValueError(f"reference pixel ({reference[0]}, {reference[1]}) has no velocity")
    v = disk.array("velocity", shape, np.float64)
    coherent = disk.array("coherent", shape, np.bool_)
    for rows, cols in blocks:
        vb = np.asarray(velocity_mm_yr[rows, cols], dtype=float) - ref_value
        ok = coherence_mask(np.asarray(coherence[rows, cols]), params.coherence_threshold, vb)
        coherent[rows, cols] = ok
        v[rows, cols] = np.where(ok, vb, np.nan)
    if not coherent[reference]:
        raise ValueError(f"reference pixel {tuple(reference)} is not coherent "
                         f"(threshold {params.coherence_threshold})")
    detector = _Detector(disk, blocks, np.asarray(pixel_area_m2, dtype=float))

    def values(mask: Callable[[slice, slice], np.ndarray]) -> ValueBlocks:
        return lambda: (np.asarray(v[r, c])[mask(r, c)] for r, c in blocks)

    def absv(r: slice, c: slice) -> np.ndarray:
        return np.abs(np.nan_to_num(np.asarray(v[r, c])))

    def is_coherent(r: slice, c: slice) -> np.ndarray:
        return np.asarray(coherent[r, c])

    sigma = max(robust_sigma_in_blocks(values(is_coherent)), params.min_sigma_mm_yr)
    if params.sigma_source == "stable":
        first_threshold = params.k_sigma * sigma
        first, _, _ = detector.areas(
            lambda r, c: is_coherent(r, c) & (absv(r, c) > first_threshold), v, params, "first")
        stable = values(lambda r, c: is_coherent(r, c) & (np.asarray(first[r, c]) == 0))
        sigma = max(robust_sigma_in_blocks(stable), params.min_sigma_mm_yr)
    threshold = params.k_sigma * sigma
    active = disk.array("active", shape, np.bool_)
    for rows, cols in blocks:
        active[rows, cols] = is_coherent(rows, cols) & (absv(rows, cols) > threshold)
    labels, table, boxes = detector.areas(lambda r, c: np.asarray(active[r, c]), v, params,
                                          "areas")
    result = ActiveAreas(velocity_mm_yr=v, coherent=coherent, active=active, labels=labels,
                         clusters=table, sigma_mm_yr=float(sigma),
                         threshold_mm_yr=float(threshold),
                         reference_pixel=(int(reference[0]), int(reference[1])), params=params)
    return result, boxes


def find_risk_areas_in_blocks(velocity_mm_yr: np.ndarray, coherence: np.ndarray,
                              transform: Affine, crs: CRS,
                              reference_lonlat: tuple[float, float], blocks: BlockGrid,
                              disk: DiskArrays, *, point_ids: Sequence[str] = (),
                              point_lon: np.ndarray | None = None,
                              point_lat: np.ndarray | None = None,
                              insar_params: InsarParams | None = None,
                              match_params: AreaMatchParams | None = None,
                              source: Mapping[str, Any] | None = None,
                              ) -> tuple[ActiveAreas, gpd.GeoDataFrame]:
    """``geo.insar_areas.find_risk_areas`` on (memory-mapped) grids, block by block."""
    shape = blocks.shape
    ref = reference_pixel(transform, crs, *reference_lonlat, shape)
    result, boxes = detect_in_blocks(velocity_mm_yr, coherence, ref,
                                     pixel_areas_m2(transform, crs, shape), blocks, disk,
                                     insar_params)
    geoms = []
    for label, (r0, r1, c0, c1) in zip(result.clusters.label.tolist(), boxes.tolist(),
                                       strict=True):
        window = np.asarray(result.labels[r0:r1 + 1, c0:c1 + 1])
        geoms.append(label_polygon(window, label, r0, c0, transform))
    areas = areas_frame(geoms, result.clusters, transform, crs, shape)
    lon = np.zeros(0) if point_lon is None else point_lon
    lat = np.zeros(0) if point_lat is None else point_lat
    return result, classify_areas(areas, result, point_ids, lon, lat, params=match_params,
                                  reference_lonlat=reference_lonlat, source=source)


def sample_in_blocks(result: ActiveAreas, transform: Affine, crs: CRS, lon: np.ndarray,
                     lat: np.ndarray) -> np.ndarray:
    """``geo.insar_areas.sample_velocity`` from a blockwise result: the re-referenced,
    coherence-masked velocity at each point (NaN outside or incoherent)."""
    v = result.velocity_mm_yr
    row, col, inside = pixel_index(transform, crs, lon, lat, v.shape)
    out = np.full(np.shape(lon), np.nan)
    out[inside] = np.asarray(v[row[inside], col[inside]], dtype=float)
    return out
