"""The scorer: readings in, per-point assessments out.

``Scorer.handle(batch)`` is pure apart from the scorer's own explicit state
(``streams.scorer_state``, ``streams.scorer_points``): no Kafka, no clock.
For one poll() batch it

1. decodes the values in bulk (``streams.codec``); rejects become dead letters;
2. drops readings the batch repeats (same series and event time) and orders
   each point's readings by event time;
3. runs rounds: round j takes the j-th reading of every point in the batch,
   so every reading is judged in event-time order and a point's level
   timeline does not depend on how the stream was cut into batches. Per
   round, vectorised over the round's points (``streams.scorer_engine``):
   sensors that fell silent before the reading are reported offline first;
   the reading is screened (duplicate, spike, stuck) and added to its
   series' state; the series is judged (velocity, acceleration, tangent
   angle, inverse-velocity forecast, absolute thresholds); the point is
   fused (corroboration, hold times, sensor health). Rain readings (gauges and
   the rainfall grid's derived readings) are judged against intensity-duration
   thresholds and antecedent rainfall (``streams.scorer_rain``) and stand in
   the fusion for what rain means next to the point's deformation
   (``warning_models.rainfall_fusion``);
4. after the rounds, points whose sensors all fell silent before the newest
   event time of their partition are fused at the moment they fell silent
   (status ``no_data``: their level is kept, never read as "no hazard");
5. emits an ``Assessment`` (with evidence, ``streams.scorer_evidence``) for
   a point when its level, status or alarmed sensors differ from its last
   assessment, and once per point the first time it is judged after the
   scorer started (with the numbers it has: a sensor without enough data yet
   says so in its evidence) (a restarted worker re-asserts current levels; the ledger
   downstream is idempotent). ``emit="every_reading"`` emits one per reading
   instead (replays).

An assessment's ``observed_at`` is the event time it judges and its id is
``Assessment.make_id(point, observed_at, level, model_version)``: replaying
the same readings yields the same ids, whatever the batch sizes.
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
from typing import Any, Literal, Protocol

import numpy as np
import orjson

from streams.codec import KnownPoints, ReadingDecoder, ns_to_datetime
from streams.deadletter import dead_letter, encode_dead_letter
from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment, DeadLetter
from streams.scorer_engine import SiteEngine
from streams.scorer_evidence import build_assessments
from streams.scorer_state import EMPTY
from streams.topics import Topics
from streams.worker import Outbound, ProgressCallback, Worker
from warning_models.rainfall_fusion import RainfallScoringConfig
from warning_models.site_batch import MODEL_NAME
from warning_models.site_params import SiteModelConfig
from warning_models.thresholds import VelocityParameters, VelocityThresholds

log = logging.getLogger(__name__)

STAGE = "scorer"
Emit = Literal["changes", "every_reading"]


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
        known_points: registry, point id -> hazard type (or
            ``streams.scorer_index.PointProfile`` with the point's regions);
            refresh with ``set_known_points``. Readings of other points are
            dead-lettered.
        config: thresholds, per-point parameters and settings of the site
            model (default: national defaults).
        emit: "changes" (level, status or alarms changed) or "every_reading".
        rainfall: the rainfall model (regional intensity-duration thresholds,
            antecedent rainfall) and how rain fuses with deformation
            (``warning_models.rainfall_fusion``; default: Caine 1980).
    """

    def __init__(self, known_points: Mapping[str, Any] | None = None,
                 config: SiteModelConfig | None = None, *, emit: Emit = "changes",
                 rainfall: RainfallScoringConfig | None = None) -> None:
        self.config = config or SiteModelConfig()
        self.decoder = ReadingDecoder(known_points)
        self.index = self.decoder.index
        self.engine = SiteEngine(self.index, self.config, rainfall)
        self.model_name = MODEL_NAME
        self.model_version = self.engine.version
        self.emit = emit
        self.last_event_ns: int | None = None
        self.partition_clock: dict[int, int] = {}

    # -- registry -----------------------------------------------------------------------------

    def set_known_points(self, known_points: Mapping[str, Any]) -> int:
        """Replace the registry (point id -> hazard type or profile); return how many are known."""
        count = self.decoder.set_known_points(known_points)
        self.engine.sync()
        return count

    @property
    def last_event_at(self) -> datetime | None:
        return None if self.last_event_ns is None else ns_to_datetime(self.last_event_ns)

    def point_levels(self) -> dict[str, str]:
        """Current level label of every point judged so far."""
        ps = self.engine.points
        judged = np.flatnonzero(ps.clock[: self.index.n_points] != EMPTY)
        labels = ("none", "blue", "yellow", "orange", "red")
        return {self.index.point_ids[p]: labels[int(ps.level[p])] for p in judged.tolist()}

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
        decoded, rejects = self.decoder.decode([record.value for record in records])
        letters = [dead_letter(records[r.index], reason=r.reason, stage=STAGE) for r in rejects]
        if not len(decoded):
            return ScorerOutputs(dead_letters=letters)
        self.engine.sync()
        s, t, v = decoded.series, decoded.observed_ns, decoded.value
        part = partitions[decoded.index]
        point = self.index.series_point[s].astype(np.int64)
        s, t, v, part, point = _one_per_time(s, t, v, part, point)
        # rounds: the j-th reading (in event time) of every point
        order = self._event_order(s, t, point)
        s, t, v, part, point = s[order], t[order], v[order], part[order], point[order]
        starts = np.flatnonzero(np.concatenate([[True], point[1:] != point[:-1]]))
        rank = np.arange(point.size) - np.repeat(starts, np.diff(np.append(starts, point.size)))
        assessments: list[Assessment] = []
        for j in range(int(rank.max()) + 1):
            rows = np.flatnonzero(rank == j)
            assessments.extend(self._round(s[rows], t[rows], v[rows], part[rows], point[rows]))
        newest = int(t.max())
        self.last_event_ns = newest if self.last_event_ns is None else max(self.last_event_ns,
                                                                            newest)
        for p in np.unique(part).tolist():
            self.partition_clock[p] = max(self.partition_clock.get(p, newest),
                                          int(t[part == p].max()))
        assessments.extend(self._sweep(np.unique(part)))
        return ScorerOutputs(assessments=assessments, dead_letters=letters,
                             accepted=len(decoded))

    def _event_order(self, s: np.ndarray, t: np.ndarray, point: np.ndarray) -> np.ndarray:
        """Order by point and event time; readings of one point at one time by series key
        (not by slot, which depends on the order the series were first seen)."""
        order = np.lexsort((s, t, point))
        ps, pt = point[order], t[order]
        if not np.any((ps[1:] == ps[:-1]) & (pt[1:] == pt[:-1])):
            return order
        slots = np.unique(s).tolist()
        keys = self.index.keys
        rank = np.empty(max(slots) + 1, dtype=np.int64)
        rank[sorted(slots, key=keys.__getitem__)] = np.arange(len(slots))
        return np.lexsort((rank[s], t, point))

    def _round(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, part: np.ndarray,
               point: np.ndarray) -> list[Assessment]:
        """One reading per point: silences first, then screen, judge, fuse, emit."""
        engine = self.engine
        out = self._silences(point, t)
        fresh, changed = engine.screen(s, t, v, part)
        engine.evaluate(changed)
        points, times = point[fresh], t[fresh]
        if points.size:
            engine.fuse(points, times)
            out.extend(self._emit(points))
        return out

    def _silences(self, points: np.ndarray, bound: np.ndarray) -> list[Assessment]:
        """Fuse points at the moments their sensors fell silent, earliest first."""
        out: list[Assessment] = []
        while points.size:
            due, when = self.engine.deadlines(points, bound)
            if due.size == 0:
                break
            self.engine.fuse(due, when)
            out.extend(self._emit(due))
            keep = np.isin(points, due)
            points, bound = points[keep], bound[keep]
        return out

    def _sweep(self, partitions: np.ndarray) -> list[Assessment]:
        """Points of these partitions whose sensors fell silent before the partition's clock."""
        n = self.index.n_series
        series = np.flatnonzero(np.isin(self.engine.series.partition[:n], partitions)
                                & ~self.engine.series.offline[:n])
        if series.size == 0:
            return []
        flag = np.zeros(self.index.n_points, dtype=bool)
        flag[self.index.series_point[series]] = True
        points = np.flatnonzero(flag)
        clocks = np.full(max(self.partition_clock) + 1, EMPTY, dtype=np.int64)
        clocks[list(self.partition_clock)] = list(self.partition_clock.values())
        clock = clocks[self.engine.series.partition[self._first_series(points)]]
        return self._silences(points, clock + 1)

    def _first_series(self, points: np.ndarray) -> np.ndarray:
        members, row = self.engine.members(points)
        first = np.full(points.size, -1, dtype=np.int64)
        first[row[::-1]] = members[::-1]
        return first

    def _emit(self, points: np.ndarray) -> list[Assessment]:
        ps = self.engine.points
        if self.emit == "every_reading":
            emit = points
        else:
            changed = (~ps.asserted[points] | (ps.level[points] != ps.emitted_level[points])
                       | (ps.status[points] != ps.emitted_status[points])
                       | (ps.alarms[points] != ps.emitted_alarms[points]))
            emit = points[changed]
        if emit.size == 0:
            return []
        ps.asserted[emit] = True
        ps.emitted_level[emit] = ps.level[emit]
        ps.emitted_status[emit] = ps.status[emit]
        ps.emitted_alarms[emit] = ps.alarms[emit]
        return build_assessments(self.engine, emit, model=self.model_name,
                                 model_version=self.model_version)

    def preload(self, point_ids: Sequence[str], sensor_ids: Sequence[str], kinds: Sequence[str],
                observed_ns: np.ndarray, values: np.ndarray, partition: int = 0) -> int:
        """Load history without emitting: the state a running worker would have.

        Values in canonical units; points must be known. The history is trusted
        (not screened for spikes); each series is judged and each point fused
        once, at its newest reading, and counts as already asserted. Returns the
        number of series touched.
        """
        keys = list(zip(point_ids, sensor_ids, kinds))
        for key in set(keys):
            if not self.index.check_key(key):
                raise ValueError(f"invalid or unknown series {key!r}")
        slot_of = self.index.slot_of
        series = np.fromiter((slot_of[k] if k in slot_of else self.index.register(k)
                              for k in keys), dtype=np.int64, count=len(keys))
        engine = self.engine
        engine.sync()
        observed = np.asarray(observed_ns, dtype=np.int64)
        touched = engine.bulk(series, observed, np.asarray(values, dtype=float),
                              np.full(len(keys), partition, dtype=np.int32))
        engine.evaluate(touched)
        points = np.unique(self.index.series_point[touched]).astype(np.int64)
        newest = np.full(self.index.n_points, EMPTY, dtype=np.int64)
        np.maximum.at(newest, self.index.series_point[touched], engine.series.newest[touched])
        engine.fuse(points, newest[points])
        ps = engine.points
        ps.asserted[points] = True
        ps.emitted_level[points] = ps.level[points]
        ps.emitted_status[points] = ps.status[points]
        ps.emitted_alarms[points] = ps.alarms[points]
        if len(observed):
            top = int(observed.max())
            self.last_event_ns = max(self.last_event_ns or top, top)
            self.partition_clock[partition] = max(self.partition_clock.get(partition, top), top)
        return int(touched.size)

    # -- checkpoints --------------------------------------------------------------------------

    def snapshot(self, partition: int) -> dict[str, np.ndarray]:
        """The state of the series fed from one partition and of their points, as plain arrays."""
        engine = self.engine
        slots = engine.series.slots_of_partitions([partition], self.index.n_series)
        arrays = engine.series.export(slots, self.index)
        arrays.update(engine.rain.export(slots, self.index))
        points = np.unique(self.index.series_point[slots]).astype(np.int64)
        arrays.update(engine.points.export(points, self.index.point_ids))
        clock = self.partition_clock.get(partition, EMPTY)
        arrays["partition_clock"] = np.asarray([clock], dtype=np.int64)
        arrays["last_event_ns"] = np.asarray(
            [self.last_event_ns if self.last_event_ns is not None else EMPTY], dtype=np.int64)
        return arrays

    def restore(self, partition: int, arrays: Mapping[str, np.ndarray]) -> int:
        """Load one partition's series and points from a snapshot; return how many series.

        Restored points count as not yet asserted: their level is emitted again
        the first time they are judged. A checkpoint of another layout (another
        model version or window) restores nothing: the state then rebuilds from
        the readings after the checkpoint's offset.
        """
        self.drop([partition])
        engine = self.engine
        try:
            if "p_point_id" not in arrays:
                raise ValueError("no point state")
            slots = engine.series.load(arrays, self.index)
        except ValueError as exc:
            log.warning("checkpoint of partition %d not restored (%s); its state rebuilds from "
                        "the readings that follow", partition, exc)
            return 0
        points = np.fromiter((self.index.point_index(str(p)) for p in arrays["p_point_id"]),
                             dtype=np.int64, count=len(arrays["p_point_id"]))
        engine.sync()
        engine.rain.load(arrays, slots, self.index)
        engine.points.load(arrays, points)
        clock = int(np.asarray(arrays.get("partition_clock", [EMPTY]))[0])
        if clock != EMPTY:
            self.partition_clock[partition] = clock
        last = int(np.asarray(arrays.get("last_event_ns", [EMPTY]))[0])
        if last != EMPTY:
            self.last_event_ns = last if self.last_event_ns is None else max(self.last_event_ns, last)
        return int(slots.size)

    def drop(self, partitions: Collection[int]) -> None:
        """Forget the series fed from these partitions and their points (after a revocation)."""
        engine = self.engine
        slots = engine.series.slots_of_partitions(partitions, self.index.n_series)
        if slots.size:
            points = np.unique(self.index.series_point[slots]).astype(np.int64)
            engine.series.reset(slots)
            engine.rain.reset(slots, self.index)
            engine.points.reset(points)
        for p in partitions:
            self.partition_clock.pop(p, None)


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


def _one_per_time(s: np.ndarray, t: np.ndarray, v: np.ndarray, part: np.ndarray,
                  point: np.ndarray) -> tuple[np.ndarray, ...]:
    """One reading per (series, event time) of a batch: the median of its values, as
    ``quality.prepare_series`` merges duplicates, so the order of arrival does not matter."""
    order = np.lexsort((v, t, s))
    s, t, v, part, point = s[order], t[order], v[order], part[order], point[order]
    first = np.flatnonzero(np.concatenate([[True], (s[1:] != s[:-1]) | (t[1:] != t[:-1])]))
    if first.size == s.size:
        return s, t, v, part, point
    count = np.diff(np.append(first, s.size))
    median = 0.5 * (v[first + (count - 1) // 2] + v[first + count // 2])
    return s[first], t[first], median, part[first + count - 1], point[first]


def scorer_worker(*, config: KafkaConfig, topics: Topics, known_points: KnownPoints,
                  group: str = "geowarn-scorer", stop: threading.Event | None = None,
                  progress_callback: ProgressCallback | None = None,
                  checkpoint_dir: str | Path | None = None,
                  site_config: SiteModelConfig | None = None,
                  thresholds: VelocityThresholds | None = None,
                  parameters: VelocityParameters | None = None,
                  refresh_seconds: float = 30.0, checkpoint_interval_s: float = 30.0,
                  emit: Emit = "changes",
                  rainfall_config: RainfallScoringConfig | None = None) -> Worker:
    """The scorer worker, ready to ``run()`` (blocks until ``stop`` is set).

    Args:
        config: Kafka connection settings.
        topics: topic names (readings in; assessments and dead letters out).
        known_points: ``() -> {point id: hazard type or PointProfile}``, called at
            construction and every ``refresh_seconds``.
        group: consumer group id (settings.scorer_group).
        stop: event that ends the loop after the current batch.
        progress_callback: ``(worker, committed, highwater, last_event_at)``.
        checkpoint_dir: directory for checkpoints (e.g. data_dir/checkpoints/scorer);
            None disables them.
        site_config: the site model's configuration (thresholds, per-point
            parameters); ``thresholds`` and ``parameters`` (the first velocity
            model's arguments) are still accepted: they set the absolute
            thresholds and the default kinematics window.
        rainfall_config: the rainfall model and its fusion with deformation
            (``warning_models.rainfall_fusion``).
    """
    scorer = Scorer(known_points(), config=merge_legacy(site_config, thresholds, parameters),
                    emit=emit, rainfall=rainfall_config)
    handler = ScorerHandler(scorer, topics, known_points, refresh_seconds)
    handler._refreshed = time.monotonic()
    return Worker(name=STAGE, config=config, group=group, topics=[topics.readings],
                  handler=handler, stop=stop, progress_callback=progress_callback,
                  checkpoint_dir=checkpoint_dir, checkpoint_interval_s=checkpoint_interval_s)


def merge_legacy(site_config: SiteModelConfig | None, thresholds: VelocityThresholds | None,
                 parameters: VelocityParameters | None) -> SiteModelConfig:
    """A site configuration that also honours the first model's thresholds and window."""
    config = site_config or SiteModelConfig()
    if thresholds is not None:
        config = config.model_copy(update={"thresholds": thresholds})
    if parameters is not None and parameters.window_hours != config.site.default.kinematics.window_hours:
        default = config.site.default
        kinematics = default.kinematics.model_copy(update={"window_hours": parameters.window_hours})
        site = config.site.model_copy(update={"default": default.model_copy(
            update={"kinematics": kinematics})})
        config = SiteModelConfig.model_validate({**config.model_dump(), "site": site.model_dump()})
    return config
