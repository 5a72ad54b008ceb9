"""A generic consume-handle-produce-flush-commit loop, with checkpoints.

Commit order, for every batch (at-least-once, nothing lost, nothing doubled
downstream because every output has a deterministic id):

1. ``consumer.poll()`` a batch (up to ``max_poll_records``);
2. ``handler.handle(batch)`` computes the outputs (pure, no I/O);
3. ``producer.send()`` every output, then ``producer.flush()`` and check
   that every send succeeded;
4. only then ``consumer.commit()`` the offsets after the batch.

A crash before 4 redelivers the batch; its outputs are produced again with
the same ids and the idempotent consumers downstream ignore them.

Checkpoints. A handler that also implements ``Checkpointable`` has its state
saved per partition, with the offset up to which that state has consumed,
every ``checkpoint_interval_s`` seconds (after a commit) and on a clean
shutdown or partition revocation. When a partition is assigned (at start or
in a rebalance) and a checkpoint of it exists, the state is restored and the
consumer seeks to the checkpoint's offset; without a checkpoint the consumer
starts from the group's committed offset. Only those two offsets are ever
used: never end offsets or time lookups (the embedded broker misreports them).
Files: ``<dir>/<topic>/<partition>.json`` names the offset and the npz file
holding the arrays; both are written to a temporary name and renamed, the
json last, so a crash leaves the previous checkpoint intact.

Error policy: the handler never raises on bad input (it returns dead letters,
and the dead-letter helper logs topic, partition and offset of each). A
failed send or flush raises and stops the worker without committing; a
failed commit (e.g. during a rebalance) is logged and the loop goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from streams.kafka_config import KafkaConfig, safe_bootstrap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outbound:
    """One message to produce."""

    topic: str
    key: bytes | None
    value: bytes


class Handler(Protocol):
    """The pure step of a worker."""

    def handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> Sequence[Outbound]: ...

    def maintain(self) -> None:
        """Called before every poll (e.g. to refresh a registry); must be cheap."""

    @property
    def last_event_at(self) -> datetime | None: ...


@runtime_checkable
class Checkpointable(Protocol):
    """A handler whose state can be saved and restored per partition."""

    def snapshot(self, partition: int) -> dict[str, np.ndarray]: ...

    def restore(self, partition: int, arrays: Mapping[str, np.ndarray]) -> int: ...

    def drop(self, partitions: Collection[int]) -> None: ...


ProgressCallback = Callable[[str, dict[TopicPartition, int], dict[TopicPartition, int | None],
                             datetime | None], None]
"""``(worker, committed offsets, highwater offsets, last event time)``, after commits."""


class CheckpointStore:
    """Per-partition checkpoints under one directory (npz arrays + json offset, renamed into place)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _json(self, tp: TopicPartition) -> Path:
        return self.directory / tp.topic / f"{tp.partition}.json"

    def save(self, tp: TopicPartition, offset: int, arrays: Mapping[str, np.ndarray],
             meta: Mapping[str, Any] | None = None) -> Path:
        folder = self.directory / tp.topic
        folder.mkdir(parents=True, exist_ok=True)
        npz_name = f"{tp.partition}.{uuid.uuid4().hex[:12]}.npz"
        tmp_npz = folder / f".{npz_name}.tmp"
        with open(tmp_npz, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_npz, folder / npz_name)
        target = self._json(tp)
        previous = self._read_json(target)
        document = {"format": 1, "topic": tp.topic, "partition": tp.partition, "offset": int(offset),
                    "arrays": npz_name, "saved_at": datetime.now(UTC).isoformat(),
                    "meta": dict(meta or {})}
        tmp_json = folder / f".{tp.partition}.json.tmp"
        with open(tmp_json, "wb") as handle:
            handle.write(json.dumps(document).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_json, target)
        if previous and previous.get("arrays") != npz_name:
            with contextlib.suppress(OSError):
                (folder / previous["arrays"]).unlink()
        return target

    def load(self, tp: TopicPartition) -> tuple[int, dict[str, np.ndarray]] | None:
        document = self._read_json(self._json(tp))
        if document is None:
            return None
        try:
            with np.load(self.directory / tp.topic / document["arrays"], allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError) as exc:
            log.warning("checkpoint of %s[%d] unreadable (%s); starting from the committed offset",
                        tp.topic, tp.partition, exc)
            return None
        return int(document["offset"]), arrays

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            return None


class Worker:
    """A consumer-group member that runs ``handler`` over batches; see the module docstring.

    Args:
        name: the worker's name in logs and progress reports (e.g. "scorer").
        config: connection settings; the consumer uses ``config.consumer(group)``.
        group: consumer group id.
        topics: topics to subscribe to.
        handler: the pure step (``Handler``; ``Checkpointable`` for checkpoints).
        stop: set it to finish the current batch, commit, checkpoint and return.
        progress_callback: called after commits, at most every
            ``progress_interval_s`` (and after the first and the last commit).
        checkpoint_dir: where checkpoints live; None disables them.
        checkpoint_interval_s: seconds between periodic checkpoints.
    """

    def __init__(self, *, name: str, config: KafkaConfig, group: str, topics: Sequence[str],
                 handler: Handler, stop: threading.Event | None = None,
                 progress_callback: ProgressCallback | None = None,
                 checkpoint_dir: str | Path | None = None, checkpoint_interval_s: float = 30.0,
                 progress_interval_s: float = 2.0, poll_timeout_ms: int = 500) -> None:
        self.name = name
        self.config = config
        self.group = group
        self.topics = list(topics)
        self.handler = handler
        self.stop = stop or threading.Event()
        self.progress_callback = progress_callback
        self.checkpoints = CheckpointStore(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_interval_s = checkpoint_interval_s
        self.progress_interval_s = progress_interval_s
        self.poll_timeout_ms = poll_timeout_ms
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self.processed: dict[TopicPartition, int] = {}   # next offset after what state holds
        self.committed: dict[TopicPartition, int] = {}
        self._saved: dict[TopicPartition, int] = {}
        self._last_checkpoint = time.monotonic()
        self._last_progress = 0.0
        self.batches = 0
        self.records = 0

    # -- life cycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``stop`` is set; then commit, checkpoint and close."""
        self.open()
        try:
            while not self.stop.is_set():
                self.step()
            self.save_checkpoints(force=True)
            self._report(force=True)
        finally:
            self.close()

    def open(self) -> None:
        """Create the producer and the consumer and subscribe (``run`` does this)."""
        log.info("%s: consuming %s from %s as group %s", self.name, ", ".join(self.topics),
                 safe_bootstrap(self.config.bootstrap), self.group)
        self.producer = KafkaProducer(**self.config.producer())
        self.consumer = KafkaConsumer(**self.config.consumer(self.group))
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
        if self.producer is not None:
            self.producer.close()

    def step(self) -> int:
        """One poll-handle-produce-flush-commit round; return the number of records."""
        consumer, producer = self.consumer, self.producer
        assert consumer is not None and producer is not None, "call run()"
        maintain = getattr(self.handler, "maintain", None)
        if maintain is not None:
            maintain()
        batch = consumer.poll(timeout_ms=self.poll_timeout_ms,
                              max_records=self.config.max_poll_records)
        batch = {tp: records for tp, records in batch.items() if records}
        if batch:
            outputs = self.handler.handle(batch)
            futures = [producer.send(out.topic, out.value, key=out.key) for out in outputs]
            producer.flush()
            for future in futures:
                if future.failed():
                    raise KafkaError(f"{self.name}: producing an output failed: {future.exception}")
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            self.processed.update(offsets)
            try:
                consumer.commit({tp: OffsetAndMetadata(offset, "", -1)
                                 for tp, offset in offsets.items()})
                self.committed.update(offsets)
            except (CommitFailedError, KafkaError) as exc:
                log.warning("%s: commit failed (%s); the batch will be redelivered to the "
                            "partitions' next owner", self.name, exc)
            self.batches += 1
            self.records += sum(len(records) for records in batch.values())
            self._report()
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s:
            self.save_checkpoints()
        return sum(len(records) for records in batch.values())

    # -- checkpoints --------------------------------------------------------------------------

    def save_checkpoints(self, partitions: Collection[TopicPartition] | None = None,
                         force: bool = False) -> int:
        """Save the state of these (default: all processed) partitions; return how many."""
        self._last_checkpoint = time.monotonic()
        if self.checkpoints is None or not isinstance(self.handler, Checkpointable):
            return 0
        saved = 0
        for tp in list(partitions if partitions is not None else self.processed):
            offset = self.processed.get(tp)
            if offset is None or (not force and self._saved.get(tp) == offset):
                continue
            self.checkpoints.save(tp, offset, self.handler.snapshot(tp.partition),
                                  meta={"worker": self.name, "group": self.group})
            self._saved[tp] = offset
            saved += 1
        if saved:
            log.info("%s: checkpointed %d partition(s)", self.name, saved)
        return saved

    def _assigned(self, partitions: Collection[TopicPartition]) -> None:
        if self.checkpoints is None or not isinstance(self.handler, Checkpointable):
            return
        for tp in partitions:
            found = self.checkpoints.load(tp)
            if found is None:
                log.info("%s: no checkpoint for %s[%d]; starting from the committed offset",
                         self.name, tp.topic, tp.partition)
                continue
            offset, arrays = found
            restored = self.handler.restore(tp.partition, arrays)
            self.consumer.seek(tp, offset)
            self.processed[tp] = offset
            self._saved[tp] = offset
            log.info("%s: restored %d series of %s[%d]; resuming at offset %d", self.name,
                     restored, tp.topic, tp.partition, offset)

    def _revoked(self, partitions: Collection[TopicPartition]) -> None:
        partitions = [tp for tp in partitions if tp in self.processed]
        if not partitions:
            return
        self.save_checkpoints(partitions, force=False)
        if isinstance(self.handler, Checkpointable):
            self.handler.drop([tp.partition for tp in partitions])
        for tp in partitions:
            self.processed.pop(tp, None)
            self._saved.pop(tp, None)

    # -- progress -----------------------------------------------------------------------------

    def _report(self, force: bool = False) -> None:
        if self.progress_callback is None or not self.committed:
            return
        now = time.monotonic()
        if not force and self._last_progress and now - self._last_progress < self.progress_interval_s:
            return
        self._last_progress = now
        highwater = {tp: self.consumer.highwater(tp) for tp in self.committed}
        try:
            self.progress_callback(self.name, dict(self.committed), highwater,
                                   self.handler.last_event_at)
        except Exception:
            log.exception("%s: progress callback failed", self.name)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked):
        self.worker._revoked(list(revoked))

    def on_partitions_assigned(self, assigned):
        self.worker._assigned(list(assigned))
