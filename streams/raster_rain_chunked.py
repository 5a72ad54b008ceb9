"""The rain state of a rainfall grid above the memory budget, on disk and updated block by block.

``RainState`` holds its daily grids in memory; for a grid above
``max_read_cells`` the same state lives in two files under the state
directory: ``rain-chunked.npz`` (grid, last day, valid times held, and the
name of the daily file) and ``rain-chunked-<token>.npy``, the daily rain
(days x rows x cols, float32) opened as a read-only memory map. An update
reads the raster one dask chunk at a time, shifts and adds that block of the
state exactly as ``RainState.add`` does, writes it into a new ``.npy`` (a
memory map: the block goes to disk, not to the heap) and hands it to the
nowcast (``streams.raster_nowcast.BlockNowcast``) in the same pass, so the
raster is read once and memory stays at one block.

Publishing: the new daily file has a name of its own and is renamed into
place before the small ``.npz`` that points at it, both after the database
commit (``streams.raster_files.StagedFiles``). A reader that opens the
``.npz`` therefore always finds the daily file it names, and a failure
before the commit leaves the previous pair untouched. Daily files no
``.npz`` names any more are removed when the state is next loaded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.array as da
import numpy as np

from streams.raster_files import NowcastPaths, StagedFiles, load_arrays
from streams.raster_state import NS_PER_DAY, GridRef, RainState

log = logging.getLogger(__name__)

STATE_FILE = "rain-chunked.npz"
DAILY_PREFIX = "rain-chunked-"

BlockSink = Callable[[np.ndarray, np.ndarray, int, int], None]
"""Called with (daily rain of a block (days, rows, cols), has-data mask, row0, col0)."""


def state_file(paths: NowcastPaths) -> Path:
    return paths.rain_state.with_name(STATE_FILE)


def load_chunked_state(paths: NowcastPaths) -> RainState | None:
    """The on-disk state (daily rain memory-mapped read-only); None if absent or unreadable.

    Daily files the state does not name (left by an update that failed or was
    replaced) are removed.
    """
    meta_path = state_file(paths)
    arrays = load_arrays(meta_path)
    named = None if arrays is None else str(arrays.get("daily_file", ""))
    _remove_orphans(meta_path.parent, keep=named)
    if arrays is None:
        return None
    try:
        grid = GridRef.from_arrays(arrays)
        daily = np.load(meta_path.parent / str(named), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        log.error("ignoring unreadable rain state %s: %s", meta_path, exc)
        return None
    if daily.ndim != 3 or daily.shape[1:] != grid.shape or daily.dtype != np.float32:
        log.error("ignoring rain state %s: daily file %s has shape %s, dtype %s", meta_path,
                  named, daily.shape, daily.dtype)
        return None
    return RainState(grid, int(arrays["last_day"]), daily,
                     arrays["stamps_ns"].astype(np.int64, copy=False))


def _remove_orphans(directory: Path, keep: str | None) -> None:
    for path in directory.glob(f"{DAILY_PREFIX}*.npy"):
        if path.name != keep:
            path.unlink(missing_ok=True)


def moved_window(state: RainState, valid_ns: int, day: int) -> tuple[int, int, np.ndarray]:
    """(shift in days, new last day, new valid times) of adding a raster: ``RainState.add``'s
    bookkeeping, without its grids."""
    shift = max(0, day - state.last_day)
    last_day = state.last_day + shift
    stamps = np.union1d(state.stamps_ns, np.asarray([valid_ns], dtype=np.int64))
    oldest = (last_day - state.days + 1) * NS_PER_DAY
    return shift, last_day, stamps[stamps >= oldest - NS_PER_DAY]


def stage_update(files: StagedFiles, paths: NowcastPaths, state: RainState | None,
                 grid: GridRef, days: int, amount: da.Array, valid_ns: int, day: int,
                 sink: BlockSink | None) -> RainState:
    """Stage the state with ``amount`` (mm, NaN = no data) added, block by block.

    ``state`` None starts an empty window ending on ``day``. ``sink`` receives
    every block of the updated state (for the nowcast). Returns the new state
    as its metadata; its ``daily_mm`` is the staged file, not yet in place.
    """
    base = state or RainState(grid, day, np.zeros((days, 0, 0), np.float32),
                              np.zeros(0, np.int64))
    if not base.within(day):
        raise ValueError(f"day {day} is older than the {days}-day window")
    shift, last_day, stamps = moved_window(base, valid_ns, day)
    name = f"{DAILY_PREFIX}{uuid.uuid4().hex}.npy"
    target = state_file(paths).with_name(name)

    def write(path: Path) -> None:
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(days, *grid.shape))
        try:
            for rain, previous, row0, col0 in _blocks(amount, state, days):
                rows, cols = rain.shape
                daily = np.zeros_like(previous)
                if shift < days:
                    daily[shift:] = previous[:days - shift]
                daily[last_day - day] += np.nan_to_num(rain, nan=0.0)
                out[:, row0:row0 + rows, col0:col0 + cols] = daily
                if sink is not None:
                    sink(daily, np.isfinite(rain), row0, col0)
            out.flush()
        finally:
            del out

    files.write_with(target, write)
    files.save_arrays(state_file(paths), {
        **grid.to_arrays(), "last_day": np.asarray(last_day, np.int64), "stamps_ns": stamps,
        "daily_file": np.asarray(name)})
    return RainState(grid, last_day, np.zeros((days, 0, 0), np.float32), stamps)


def pass_blocks(amount: da.Array, state: RainState | None, days: int, sink: BlockSink) -> None:
    """Hand every block of ``state`` as it stands to ``sink`` (the raster gives the mask)."""
    for rain, previous, row0, col0 in _blocks(amount, state, days):
        sink(previous, np.isfinite(rain), row0, col0)


def _blocks(amount: da.Array, state: RainState | None,
            days: int) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
    """(rain (float32), the state's daily rain there, row0, col0) per chunk of ``amount``."""
    row_edges = np.cumsum((0, *amount.chunks[0]))
    col_edges = np.cumsum((0, *amount.chunks[1]))
    for i in range(amount.numblocks[0]):
        for j in range(amount.numblocks[1]):
            rain = np.asarray(amount.blocks[i, j].compute(scheduler="synchronous"),
                              dtype=np.float32)
            row0, col0 = int(row_edges[i]), int(col_edges[j])
            rows, cols = rain.shape
            previous = (np.zeros((days, rows, cols), np.float32) if state is None else
                        np.array(state.daily_mm[:, row0:row0 + rows, col0:col0 + cols],
                                 dtype=np.float32))
            yield rain, previous, row0, col0
