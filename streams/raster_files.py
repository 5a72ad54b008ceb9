"""What one raster announcement changes, and how its files are published after the commit.

Every file the worker writes (the nowcast COG, the rainfall state, the
susceptibility grid) is first written in full to a hidden temporary name
beside its target and fsynced; ``publish`` renames them into place after the
database transaction of the same announcement has committed. A reader
therefore sees either the old file or the new one, never half of one, and a
raster that fails anywhere before the commit leaves no file changed.

A ``Plan`` gathers an announcement's effects so the worker can apply them in
that order: files staged (while planning), database writes in one
transaction, files published, messages produced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from streams.worker import Outbound

log = logging.getLogger(__name__)


class StagedFiles:
    """Files written to temporary names, renamed into place by ``publish``."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def targets(self) -> list[Path]:
        return [target for _, target in self._pending]

    def write_with(self, target: Path, writer: Callable[[Path], None]) -> None:
        """Stage ``target`` by calling ``writer(temporary_path)``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            writer(temporary)
            _fsync(temporary)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._pending.append((temporary, target))

    def save_arrays(self, target: Path, arrays: Mapping[str, np.ndarray]) -> None:
        """Stage an uncompressed ``.npz`` of ``arrays`` (loads without copying through zlib)."""
        def write(path: Path) -> None:
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)

        self.write_with(target, write)

    def publish(self) -> list[Path]:
        """Rename every staged file into place, in staging order; return the targets."""
        published = []
        for temporary, target in self._pending:
            os.replace(temporary, target)
            published.append(target)
        self._pending.clear()
        return published

    def discard(self) -> None:
        """Remove the temporary files (the announcement failed before its commit)."""
        for temporary, _ in self._pending:
            temporary.unlink(missing_ok=True)
        self._pending.clear()


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an ``.npz`` written by ``StagedFiles.save_arrays``; None if absent.

    An unreadable file is logged and treated as absent: the state it held is
    rebuilt by the rasters that follow, which beats stopping the worker.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.error("ignoring unreadable state file %s: %s", path, exc)
        return None


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        os.fsync(handle.fileno())


@dataclass
class Plan:
    """An announcement's effects: staged files, database writes, messages to produce."""

    summary: str
    files: StagedFiles = field(default_factory=StagedFiles)
    writes: list[Callable[[Session], object]] = field(default_factory=list)
    outputs: list[Outbound] = field(default_factory=list)


@dataclass(frozen=True)
class NowcastPaths:
    """Where the nowcast's files live (``<data_dir>/nowcast``); the API reads the COGs."""

    observed_cog: Path
    forecast_cog: Path
    rain_state: Path
    susceptibility: Path

    @classmethod
    def under(cls, directory: Path) -> NowcastPaths:
        from store.rasters import nowcast_cog_path

        return cls(nowcast_cog_path(directory, "observed"), nowcast_cog_path(directory, "forecast"),
                   directory / "state" / "rain.npz", directory / "state" / "susceptibility.npz")
