"""The scorer: readings in, per-point assessments out.

``Scorer.handle(batch)`` is pure apart from the scorer's own explicit state
(``streams.scorer_state``): no Kafka, no clock. For one poll() batch it

1. decodes the values in bulk (``streams.codec``); rejects become dead letters;
2. adds the samples to per-series windows of time bins (event time only: a
   sample's place is its ``observed_at``, never its arrival time);
3. runs the deformation model (``warning_models.velocity`` by default; any
   ``DeformationModel``) over the touched series, one kind at a time;
4. takes each touched point's level as the maximum over its sensors;
5. emits an ``Assessment`` for a point when its level differs from the last
   level emitted for it, and once for every point the first time it has a
   level after the scorer started (so a restarted worker re-asserts current
   levels; the ledger downstream is idempotent).

Levels are judged once per batch, at each touched series' newest sample. An
assessment's ``observed_at`` is the newest event time among the point's
series and its id is ``Assessment.make_id(point, observed_at, level,
model_version)``: replaying the same batches yields the same ids.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from streams.codec import KnownPoints, ReadingDecoder, ns_to_datetime
from streams.deadletter import dead_letter, encode_dead_letter
from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment, DeadLetter, Indicator
from streams.scorer_state import EMPTY, KINDS, NO_LEVEL, SeriesState
from streams.topics import Topics
from streams.worker import Outbound, ProgressCallback, Worker
from warning_models.levels import LEVEL_LABELS
from warning_models.thresholds import VelocityParameters, VelocityThresholds
from warning_models.velocity import DeformationModel, VelocityModel, series_window

log = logging.getLogger(__name__)

STAGE = "scorer"


class Record(Protocol):
    """What the scorer needs of a consumed message (kafka-python's ConsumerRecord fits)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class ScorerOutputs:
    """What one batch produced: assessments (keyed by point id) and dead letters."""

    assessments: list[Assessment] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    accepted: int = 0


class Scorer:
    """Scores readings per point with explicit, checkpointable state.

    Args:
        known_points: registry, point id -> hazard type; refresh with
            ``set_known_points``. Readings of other points are dead-lettered.
        model: the deformation model (default: ``VelocityModel()`` with the
            default thresholds).
        depth: time bins per series window (see ``streams.scorer_state.SeriesState``).
    """

    def __init__(self, known_points: Mapping[str, str] | None = None,
                 model: DeformationModel | None = None, depth: int = 32) -> None:
        self.model: DeformationModel = model or VelocityModel()
        self.decoder = ReadingDecoder(known_points)
        self.index = self.decoder.index
        self.state = SeriesState(depth=depth, window_hours=self.model.window_hours)
        self._asserted = np.zeros(0, dtype=bool)      # per point: emitted since start
        self._last_emitted = np.zeros(0, dtype=np.int8)
        self.last_event_ns: int | None = None
        self._scored_kinds = np.array([kind in self.model.KINDS for kind in KINDS])
        self._params = _evidence_params(self.model)

    # -- registry -----------------------------------------------------------------------------

    def set_known_points(self, known_points: Mapping[str, str]) -> int:
        """Replace the registry (point id -> hazard type); return how many points are known."""
        return self.decoder.set_known_points(known_points)

    @property
    def last_event_at(self) -> datetime | None:
        return None if self.last_event_ns is None else ns_to_datetime(self.last_event_ns)

    # -- the pure step ------------------------------------------------------------------------

    def handle(self, batch: Mapping[Any, Sequence[Record]] | Sequence[Record]) -> ScorerOutputs:
        """Score one poll() batch: a mapping of partition -> records, or a list of records."""
        if isinstance(batch, Mapping):
            groups = [group for group in batch.values() if group]
            records = [record for group in groups for record in group]
            partitions = np.repeat(np.asarray([g[0].partition for g in groups], dtype=np.int32),
                                   [len(g) for g in groups])
        else:
            records = list(batch)
            partitions = np.fromiter((r.partition for r in records), dtype=np.int32,
                                     count=len(records))
        if not records:
            return ScorerOutputs()
        values = [record.value for record in records]
        decoded, rejects = self.decoder.decode(values)
        letters = [dead_letter(records[r.index], reason=r.reason, stage=STAGE) for r in rejects]
        if not len(decoded):
            return ScorerOutputs(dead_letters=letters)
        touched = self.state.insert(decoded.series, decoded.observed_ns, decoded.value,
                                    partitions[decoded.index])
        newest = int(decoded.observed_ns.max())
        self.last_event_ns = newest if self.last_event_ns is None else max(self.last_event_ns, newest)
        self._evaluate(touched)
        assessments = self._assess(np.unique(self.index.series_point[touched]))
        return ScorerOutputs(assessments=assessments, dead_letters=letters, accepted=len(decoded))

    def preload(self, point_ids: Sequence[str], sensor_ids: Sequence[str], kinds: Sequence[str],
                observed_ns: np.ndarray, values: np.ndarray, partition: int = 0) -> int:
        """Load history without emitting: the state a running worker would have.

        Values in canonical units; points must be known. Points that get a
        level count as already asserted at that level. Returns the number of
        series touched.
        """
        keys = list(zip(point_ids, sensor_ids, kinds))
        for key in set(keys):
            if not self.index.check_key(key):
                raise ValueError(f"invalid or unknown series {key!r}")
        slot_of = self.index.slot_of
        series = np.fromiter((slot_of.get(k, -1) if k in slot_of else self.index.register(k)
                              for k in keys), dtype=np.int64, count=len(keys))
        touched = self.state.insert(series, np.asarray(observed_ns, dtype=np.int64),
                                    np.asarray(values, dtype=float),
                                    np.full(len(keys), partition, dtype=np.int32))
        self._evaluate(touched)
        points = np.unique(self.index.series_point[touched])
        self._grow_points(self.index.n_points)
        flag = np.zeros(self.index.n_points, dtype=bool)
        flag[points] = True
        members = np.flatnonzero(flag[self.index.series_point])
        level = np.full(self.index.n_points, NO_LEVEL, dtype=np.int8)
        np.maximum.at(level, self.index.series_point[members], self.state.level[members])
        has = points[level[points] != NO_LEVEL]
        self._asserted[has] = True
        self._last_emitted[has] = level[has]
        if len(observed_ns):
            newest = int(np.max(observed_ns))
            self.last_event_ns = max(self.last_event_ns or newest, newest)
        return int(touched.size)

    def _evaluate(self, slots: np.ndarray) -> None:
        """Run the model over these series and store each one's verdict."""
        state = self.state
        kinds = self.index.series_kind[slots]
        scored = self._scored_kinds[kinds]
        state.level[slots[~scored]] = NO_LEVEL
        for code in np.unique(kinds[scored]).tolist():
            rows = slots[kinds == code]
            result = self.model.evaluate(KINDS[code], state.window(rows))
            state.level[rows] = result.levels
            state.indicator[rows] = result.value
            state.samples[rows] = result.samples

    def _assess(self, points: np.ndarray) -> list[Assessment]:
        """Point levels of these points; assessments where they must be emitted."""
        index, state = self.index, self.state
        self._grow_points(index.n_points)
        flag = np.zeros(index.n_points, dtype=bool)
        flag[points] = True
        series_point = index.series_point
        members = np.flatnonzero(flag[series_point])
        level = np.full(index.n_points, NO_LEVEL, dtype=np.int8)
        np.maximum.at(level, series_point[members], state.level[members])
        point_level = level[points]
        emit = (point_level != NO_LEVEL) & (
            ~self._asserted[points] | (point_level != self._last_emitted[points]))
        emitted = points[emit]
        if emitted.size == 0:
            return []
        self._asserted[emitted] = True
        self._last_emitted[emitted] = point_level[emit]
        newest = np.full(index.n_points, EMPTY, dtype=np.int64)
        np.maximum.at(newest, series_point[members], state.newest[members])
        return self._build(emitted, level, newest, members)

    def _build(self, emitted: np.ndarray, level: np.ndarray, newest: np.ndarray,
               members: np.ndarray) -> list[Assessment]:
        """Assessments with evidence: every sensor of the point that has a verdict."""
        index, state = self.index, self.state
        wanted = np.zeros(index.n_points, dtype=bool)
        wanted[emitted] = True
        rows = members[wanted[index.series_point[members]] & (state.level[members] != NO_LEVEL)]
        by_point: dict[int, list[int]] = {}
        for slot, point in zip(rows.tolist(), index.series_point[rows].tolist()):
            by_point.setdefault(point, []).append(slot)
        params = self._params
        out = []
        for point in emitted.tolist():
            point_id = index.point_ids[point]
            label = LEVEL_LABELS[int(level[point])]
            observed_at = ns_to_datetime(int(newest[point]))
            slots = sorted(by_point.get(point, []),
                           key=lambda s: (-int(state.level[s]), -abs(float(state.indicator[s]))))
            evidence = []
            for slot in slots:
                _, sensor_id, kind = index.keys[slot]
                name, unit, thresholds, window = params[kind]
                evidence.append(Indicator(
                    sensor_id=sensor_id, kind=kind, name=name, value=float(state.indicator[slot]),
                    unit=unit, level=LEVEL_LABELS[int(state.level[slot])], thresholds=thresholds,
                    window_hours=window, samples=int(state.samples[slot])))
            out.append(Assessment(
                assessment_id=Assessment.make_id(point_id, observed_at, label, self.model.version),
                point_id=point_id, level=label, observed_at=observed_at, model=self.model.name,
                model_version=self.model.version, evidence=evidence))
        return out

    def _grow_points(self, n_points: int) -> None:
        if n_points > self._asserted.size:
            capacity = max(n_points, 2 * self._asserted.size, 1024)
            for name, dtype in (("_asserted", bool), ("_last_emitted", np.int8)):
                old = getattr(self, name)
                new = np.zeros(capacity, dtype=dtype)
                new[: old.size] = old
                setattr(self, name, new)

    # -- checkpoints --------------------------------------------------------------------------

    def snapshot(self, partition: int) -> dict[str, np.ndarray]:
        """The state of the series fed from one partition, as plain arrays."""
        slots = self.state.slots_of_partitions([partition], self.index.n_series)
        arrays = self.state.export(slots, self.index)
        arrays["last_event_ns"] = np.asarray(
            [self.last_event_ns if self.last_event_ns is not None else EMPTY], dtype=np.int64)
        return arrays

    def restore(self, partition: int, arrays: Mapping[str, np.ndarray]) -> int:
        """Load one partition's series from a snapshot; return how many series.

        Restored points count as not yet asserted: their level is emitted again
        the first time they are scored.
        """
        self.drop([partition])
        slots = self.state.load(arrays, self.index)
        self._grow_points(self.index.n_points)
        last = int(np.asarray(arrays.get("last_event_ns", [EMPTY]))[0])
        if last != EMPTY:
            self.last_event_ns = last if self.last_event_ns is None else max(self.last_event_ns, last)
        return int(slots.size)

    def drop(self, partitions: Collection[int]) -> None:
        """Forget the series fed from these partitions (after a revocation)."""
        slots = self.state.slots_of_partitions(partitions, self.index.n_series)
        if slots.size:
            self.state.reset(slots)


def _evidence_params(model: DeformationModel) -> dict[str, tuple[str, str, dict[str, float], float]]:
    """Name, unit, thresholds and window of each kind's indicator, from the model."""
    params = {}
    empty = np.zeros((0, 3))
    window = series_window(empty, empty, empty.astype(bool), window_hours=model.window_hours)
    for kind in KINDS:
        if kind in model.KINDS:
            result = model.evaluate(kind, window)
            params[kind] = (result.name, result.unit, result.thresholds, result.window_hours)
    return params


class ScorerHandler:
    """The scorer as a worker handler: encodes outputs, refreshes the registry.

    Assessments go to ``topics.assessments`` keyed by point id; dead letters
    to ``topics.deadletter`` keyed by the original message key. The registry
    is reloaded from ``known_points()`` every ``refresh_seconds`` (wall-clock
    scheduling only; scoring never reads the clock), so readings of points
    imported later are accepted; a failing reload keeps the previous registry.
    """

    def __init__(self, scorer: Scorer, topics: Topics, known_points: KnownPoints | None = None,
                 refresh_seconds: float = 30.0) -> None:
        self.scorer = scorer
        self.topics = topics
        self.known_points = known_points
        self.refresh_seconds = refresh_seconds
        self._refreshed = -float("inf")
        self.assessments_out = 0
        self.dead_letters_out = 0

    def maintain(self) -> None:
        if self.known_points is None or time.monotonic() - self._refreshed < self.refresh_seconds:
            return
        self._refreshed = time.monotonic()
        try:
            count = self.scorer.set_known_points(self.known_points())
        except Exception:
            log.exception("reloading the risk-point registry failed; keeping the previous one")
            return
        log.debug("registry: %d known risk points", count)

    def handle(self, batch: Mapping[Any, Sequence[Record]]) -> list[Outbound]:
        outputs = self.scorer.handle(batch)
        self.assessments_out += len(outputs.assessments)
        self.dead_letters_out += len(outputs.dead_letters)
        out = [Outbound(self.topics.assessments, a.point_id.encode(),
                        orjson.dumps(a.model_dump(mode="json"))) for a in outputs.assessments]
        out.extend(Outbound(self.topics.deadletter,
                            None if d.key_b64 is None else base64.b64decode(d.key_b64),
                            encode_dead_letter(d)) for d in outputs.dead_letters)
        return out

    @property
    def last_event_at(self) -> datetime | None:
        return self.scorer.last_event_at

    def snapshot(self, partition: int) -> dict[str, np.ndarray]:
        return self.scorer.snapshot(partition)

    def restore(self, partition: int, arrays: Mapping[str, np.ndarray]) -> int:
        return self.scorer.restore(partition, arrays)

    def drop(self, partitions: Collection[int]) -> None:
        self.scorer.drop(partitions)


def scorer_worker(*, config: KafkaConfig, topics: Topics, known_points: KnownPoints,
                  group: str = "geowarn-scorer", stop: threading.Event | None = None,
                  progress_callback: ProgressCallback | None = None,
                  checkpoint_dir: str | Path | None = None,
                  thresholds: VelocityThresholds | None = None,
                  parameters: VelocityParameters | None = None,
                  refresh_seconds: float = 30.0, checkpoint_interval_s: float = 30.0,
                  depth: int = 32) -> Worker:
    """The scorer worker, ready to ``run()`` (blocks until ``stop`` is set).

    Args:
        config: Kafka connection settings.
        topics: topic names (readings in; assessments and dead letters out).
        known_points: ``() -> {point id: hazard type}``, called at construction
            and every ``refresh_seconds``.
        group: consumer group id (settings.scorer_group).
        stop: event that ends the loop after the current batch.
        progress_callback: ``(worker, committed, highwater, last_event_at)``.
        checkpoint_dir: directory for checkpoints (e.g. data_dir/checkpoints/scorer);
            None disables them.
        thresholds, parameters: the velocity model's configuration
            (``geowarn.config_files.load_thresholds`` and the window).
    """
    scorer = Scorer(known_points(), model=VelocityModel(thresholds, parameters), depth=depth)
    handler = ScorerHandler(scorer, topics, known_points, refresh_seconds)
    handler._refreshed = time.monotonic()
    return Worker(name=STAGE, config=config, group=group, topics=[topics.readings],
                  handler=handler, stop=stop, progress_callback=progress_callback,
                  checkpoint_dir=checkpoint_dir, checkpoint_interval_s=checkpoint_interval_s)
