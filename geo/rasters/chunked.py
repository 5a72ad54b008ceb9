"""Rasters larger than the memory budget as dask arrays, read chunk by chunk.

``lazy_grid`` wraps an open ``RasterSource`` in a ``RasterGrid`` whose data
is a dask array: nothing is read until a chunk is computed, and each chunk
is a window of whole storage blocks (``sampling.chunk_shape``), so a chunk
decodes each of its blocks once. Elementwise steps (unit conversion, masks)
stay lazy; ``sample_points`` on such a grid computes only the chunks that
hold points, one at a time, so memory stays at one chunk. The source must
stay open while the grid is used; reads are serialised with a lock because
a GDAL or HDF5 handle is not safe across threads.
"""

from __future__ import annotations

import threading
from typing import Any

import dask.array as da
import numpy as np
from rasterio.windows import Window

from geo.rasters.base import RasterSource
from geo.rasters.grid import RasterGrid
from geo.rasters.sampling import DEFAULT_CHUNK_CELLS, chunk_shape

__all__ = ["is_lazy", "lazy_grid", "sample_lazy"]


class _Windows:
    """The array protocol dask's ``from_array`` needs, reading windows of a source."""

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, source: RasterSource) -> None:
        self.source = source
        self.shape = source.meta.shape

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = (k.indices(n) for k, n in zip(key, self.shape, strict=True))
        if rows[2] != 1 or cols[2] != 1:
            raise ValueError("only contiguous windows are read")
        height, width = rows[1] - rows[0], cols[1] - cols[0]
        if height <= 0 or width <= 0:
            return np.empty((max(height, 0), max(width, 0)))
        return self.source.read_window(Window(cols[0], rows[0], width, height))


def lazy_grid(source: RasterSource, chunk_cells: int = DEFAULT_CHUNK_CELLS) -> RasterGrid:
    """The whole raster as a lazily read dask array (float64, NaN = no data)."""
    chunks = chunk_shape(source.meta.block_shape, source.meta.shape, chunk_cells)
    data = da.from_array(_Windows(source), chunks=chunks, lock=threading.Lock(),
                         asarray=False, fancy=False, meta=np.empty((0, 0)))
    return RasterGrid.from_meta(source.meta, data)


def is_lazy(data: Any) -> bool:
    return isinstance(data, da.Array)


def sample_lazy(data: da.Array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values at (rows, cols) (in the grid), computing only the chunks that hold points."""
    out = np.full(rows.size, np.nan)
    if rows.size == 0:
        return out
    row_edges = np.cumsum((0, *data.chunks[0]))
    col_edges = np.cumsum((0, *data.chunks[1]))
    block_row = np.searchsorted(row_edges, rows, side="right") - 1
    block_col = np.searchsorted(col_edges, cols, side="right") - 1
    key = block_row * len(data.chunks[1]) + block_col
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
    for group in np.split(order, starts[1:]):
        i, j = int(block_row[group[0]]), int(block_col[group[0]])
        block = np.asarray(data.blocks[i, j].compute(scheduler="synchronous"))
        out[group] = block[rows[group] - row_edges[i], cols[group] - col_edges[j]]
    return out
