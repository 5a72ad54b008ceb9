"""Replay one sensor series through Kafka and the scorer, in event time.

``geowarn replay`` reads a CSV of ``observed_at,value`` rows, produces the
readings (in event-time order) to a readings topic under a prefix of its own,
so a replay never mixes with live data, runs the scorer in-process on those
topics (the same ``Worker`` loop and ``ScorerHandler`` as the live worker,
emitting one assessment per reading) and reads the assessments back from the
beginning of their topic with its own consumer. The result is the level
timeline of the point, one row per reading, with the numbers behind it.

Only the loop and the broker are real-time; every judgement is in event
time, so a replay gives the levels the live scorer gave (or would have).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.codec import datetime_to_ns, ns_to_datetime
from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment
from streams.scorer import Scorer, ScorerHandler
from streams.topics import Topics, ensure_topics
from streams.units import unit_factor
from streams.worker import Worker
from warning_models.site_params import SiteModelConfig

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: stage is "producing" or "scoring"."""


class ReplayInputError(ValueError):
    """A replay input that cannot be used; the message names the line."""


@dataclass(frozen=True)
class ReplaySeries:
    """Readings of a CSV in event-time order: ns since the epoch, values, their CSV lines."""

    observed_ns: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.observed_ns.size)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"observed_at {text!r} has no time zone (e.g. 2026-07-01T08:00:00Z)")
    return moment.astimezone(UTC)


def _parse_row(row: Mapping[str, str | None]) -> tuple[datetime, float]:
    text, raw = row.get("observed_at"), row.get("value")
    if text is None or raw is None:
        raise ValueError("the row has fewer columns than the header")
    try:
        moment = _parse_time(text)
    except ValueError as exc:
        raise ValueError(str(exc) if "time zone" in str(exc)
                         else f"observed_at {text!r} is not an ISO 8601 time") from None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"value {raw!r} is not a finite number")
    return moment, value


def read_series_csv(path: str | Path, *, skip_invalid: bool = False) -> ReplaySeries:
    """Read ``observed_at,value`` rows (a header row naming both; other columns ignored).

    A bad row stops the reading with its line number (``ReplayInputError``),
    or is skipped and listed in ``skipped`` with ``skip_invalid``.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ReplayInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    times: list[int] = []
    values: list[float] = []
    lines: list[int] = []
    skipped: list[tuple[int, str]] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = {"observed_at", "value"} - set(reader.fieldnames or ())
        if missing:
            raise ReplayInputError(f"{path}:1: the header must name the columns observed_at and "
                                   f"value (missing: {', '.join(sorted(missing))})")
        for row in reader:
            line = reader.line_num
            try:
                moment, value = _parse_row(row)
            except ValueError as exc:
                if not skip_invalid:
                    raise ReplayInputError(f"{path}:{line}: {exc}") from None
                skipped.append((line, str(exc)))
                continue
            times.append(datetime_to_ns(moment))
            values.append(value)
            lines.append(line)
    if not times:
        raise ReplayInputError(f"{path}: no readings")
    order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
    return ReplaySeries(np.asarray(times, dtype=np.int64)[order],
                        np.asarray(values, dtype=float)[order],
                        np.asarray(lines, dtype=np.int64)[order], skipped)


def reading_messages(series: ReplaySeries, *, point_id: str, sensor_id: str, kind: str,
                     unit: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every reading, in event-time order; raises ValueError for a bad unit."""
    unit_factor(kind, unit)
    key = point_id.encode()
    return [(key, orjson.dumps({"schema_version": 1, "point_id": point_id, "sensor_id": sensor_id,
                                "kind": kind,
                                "observed_at": ns_to_datetime(ns).isoformat().replace(
                                    "+00:00", "Z"),
                                "value": value, "unit": unit}))
            for ns, value in zip(series.observed_ns.tolist(), series.values.tolist(), strict=True)]


@dataclass(frozen=True)
class TimelineRow:
    """The point's judgement after one reading."""

    observed_at: datetime
    level: str
    status: str | None
    rule: str | None
    velocity: float | None
    tangent_angle: float | None
    predicted_failure: datetime | None
    predicted_failure_lower: datetime | None
    predicted_failure_upper: datetime | None

    def as_json(self) -> dict[str, Any]:
        stamp = (lambda d: None if d is None else d.isoformat().replace("+00:00", "Z"))
        return {"observed_at": stamp(self.observed_at), "level": self.level,
                "status": self.status, "velocity": self.velocity,
                "tangent_angle": self.tangent_angle,
                "predicted_failure": stamp(self.predicted_failure)}


def timeline_row(assessment: Assessment, sensor_id: str) -> TimelineRow:
    """The row of one assessment: the replayed sensor's rate and angle, the point's forecast."""
    velocity = angle = None
    for indicator in assessment.evidence:
        if indicator.sensor_id != sensor_id:
            continue
        if indicator.name in ("velocity", "tilt_rate") and indicator.valid is not False:
            velocity = indicator.value
        elif indicator.name == "tangent_angle" and indicator.valid is not False:
            angle = indicator.value
    return TimelineRow(assessment.observed_at, assessment.level, assessment.status,
                       assessment.rule, velocity, angle, assessment.predicted_failure_at,
                       assessment.predicted_failure_lower, assessment.predicted_failure_upper)


@dataclass(frozen=True)
class ReplayResult:
    rows: list[TimelineRow]
    sent: int
    dead_letters: int
    topics: Topics
    model_version: str


def run_replay(*, bootstrap: str, series: ReplaySeries, point_id: str, sensor_id: str,
               kind: str, unit: str, known_points: Mapping[str, Any],
               config: SiteModelConfig | None, prefix: str, progress: Progress | None = None,
               timeout_s: float = 600.0) -> ReplayResult:
    """Produce the series, score it with an in-process scorer worker, read the timeline back."""
    messages = reading_messages(series, point_id=point_id, sensor_id=sensor_id, kind=kind,
                                unit=unit)
    report = progress or (lambda *_: None)
    topics = Topics.with_prefix(prefix)
    ensure_topics(bootstrap, partitions=1, replication=1, retention_ms=24 * 3_600_000,
                  topics=topics, client_id="geowarn-replay")
    kafka = KafkaConfig(bootstrap, client_id="geowarn-replay", session_timeout_ms=6000,
                        heartbeat_interval_ms=1000)
    producer = KafkaProducer(**kafka.producer())
    try:
        for done, (key, value) in enumerate(messages, start=1):
            producer.send(topics.readings, value, key=key)
            if done % 500 == 0 or done == len(messages):
                report("producing", done, len(messages))
        producer.flush()
    finally:
        producer.close(timeout=30)

    scorer = Scorer(known_points, config, emit="every_reading")
    handler = ScorerHandler(scorer, topics)
    worker = Worker(name="replay-scorer", config=kafka, group=f"{prefix}scorer",
                    topics=[topics.readings], handler=handler, checkpoint_dir=None,
                    poll_timeout_ms=200)
    deadline = time.monotonic() + timeout_s
    worker.open()
    try:
        while worker.records < len(messages):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replay scored {worker.records} of {len(messages)} "
                                   f"readings in {timeout_s:.0f} s")
            if worker.step():
                report("scoring", worker.records, len(messages))
    finally:
        worker.close()

    expected = handler.assessments_out
    assessments = read_topic(bootstrap, topics.assessments, expected, deadline)
    rows = [timeline_row(Assessment.model_validate(orjson.loads(v)), sensor_id)
            for v in assessments]
    rows.sort(key=lambda r: r.observed_at)
    return ReplayResult(rows, len(messages), handler.dead_letters_out, topics,
                        scorer.model_version)


def read_topic(bootstrap: str, topic: str, expected: int, deadline: float) -> list[bytes]:
    """The first ``expected`` values of a one-partition topic, read from its beginning."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             fetch_max_wait_ms=100, client_id="geowarn-replay-reader")
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values: list[bytes] = []
    try:
        while len(values) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(values)} of {expected} assessments from {topic}")
            for records in consumer.poll(timeout_ms=200).values():
                values.extend(r.value for r in records)
        return values[:expected]
    finally:
        consumer.close()


def render_text(result: ReplayResult, *, point_id: str, kind: str, unit: str,
                temporary: bool) -> str:
    """The level timeline: every change of level or status, then a summary."""
    rows = result.rows
    out = [f"replay of {point_id} ({kind}, {unit}"
           + (", not in the registry: temporary point with default thresholds)" if temporary
              else ")")
           + f": {result.sent} readings, {len(rows)} judged, model {result.model_version}"]
    if result.dead_letters:
        out.append(f"{result.dead_letters} reading(s) rejected (dead letters)")
    previous = None
    for row in rows:
        if (row.level, row.status) == previous:
            continue
        previous = (row.level, row.status)
        parts = [row.observed_at.isoformat().replace("+00:00", "Z"), f"{row.level:<6}",
                 f"{row.status or '-':<8}", f"{row.rule or '-':<16}"]
        if row.velocity is not None:
            parts.append(f"v={row.velocity:.3g}")
        if row.tangent_angle is not None:
            parts.append(f"alpha={row.tangent_angle:.1f}deg")
        if row.predicted_failure is not None:
            stamp = (lambda d: d.isoformat(timespec="minutes").replace("+00:00", "Z"))
            parts.append(f"failure {stamp(row.predicted_failure)} "
                         f"[{stamp(row.predicted_failure_lower)}, "
                         f"{stamp(row.predicted_failure_upper)}]")
        out.append("  ".join(parts))
    order = ("none", "blue", "yellow", "orange", "red")
    top = max((order.index(r.level) for r in rows), default=0)
    firsts = []
    for level in order[1:top + 1]:
        first = next(r for r in rows if order.index(r.level) >= order.index(level))
        firsts.append(f"{level} from {first.observed_at.isoformat().replace('+00:00', 'Z')}")
    out.append(f"highest level: {order[top]}" + (f" ({'; '.join(firsts)})" if firsts else ""))
    return "\n".join(out)


def render_json_lines(result: ReplayResult) -> str:
    """One JSON object per judged reading."""
    return "\n".join(orjson.dumps(row.as_json()).decode() for row in result.rows)
