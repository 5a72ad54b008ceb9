"""The scorer's pure step: state, levels, emissions, checkpoints; and the worker's commit order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment
from streams.scorer import Scorer, ScorerHandler
from streams.topics import Topics
from streams.worker import CheckpointStore, Outbound, Worker

START = datetime(2026, 7, 1, tzinfo=UTC)
KNOWN = {"ACC": "landslide", "STABLE": "landslide", "OTHER": "collapse"}


def reading(point: str, hours: float, mm: float, sensor: str = "G1", kind: str = "gnss") -> bytes:
    observed = (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"schema_version": 1, "point_id": point, "sensor_id": sensor, "kind": kind,
                         "observed_at": observed, "value": mm, "unit": "mm"})


def records(values, partition=0, start_offset=0):
    return [ConsumerRecord("readings", partition, -1, start_offset + i, 0, 0, b"k", value, [],
                           None, 0, 0, 0) for i, value in enumerate(values)]


def accelerating(hours: float) -> float:
    """Cumulative displacement (mm): v = A / (t_f - t), failure at 60 h, 10 mm/day at 0 h."""
    a = 10.0 / 24.0 * 60.0  # A = v(0) t_f, mm
    return float(a * np.log(60.0 / (60.0 - hours)))


def stable(index: int) -> float:
    return 5.0 + 0.3 * ((index * 7) % 5 - 2)  # +-0.6 mm of noise, no trend


def series(hours):
    values = []
    for i, h in enumerate(hours):
        values.append(reading("ACC", h, accelerating(h)))
        values.append(reading("STABLE", h, stable(i)))
    return values


HOURS = [h * 0.5 for h in range(120)]  # 0 .. 59.5 h


def run(scorer, values, batch=10):
    out = []
    for lo in range(0, len(values), batch):
        result = scorer.handle(records(values[lo:lo + batch], start_offset=lo))
        assert result.dead_letters == []
        out.extend(result.assessments)
    return out


def levels_of(assessments, point):
    return [a.level for a in assessments if a.point_id == point]


def test_an_accelerating_slope_escalates_to_red_and_a_stable_one_stays_none():
    assessments = run(Scorer(KNOWN), series(HOURS))
    accel = levels_of(assessments, "ACC")
    assert accel[-1] == "red"
    assert "orange" in accel
    order = ["none", "blue", "yellow", "orange", "red"]
    assert [order.index(level) for level in accel] == sorted(order.index(level) for level in accel)
    assert levels_of(assessments, "STABLE") == ["none"]  # asserted once, never changed
    red = next(a for a in assessments if a.point_id == "ACC" and a.level == "red")
    velocity = next(e for e in red.evidence if e.name == "velocity")
    assert velocity.value > 50 and velocity.level == "red" and velocity.unit == "mm/d"
    assert velocity.thresholds["red"] == 50.0
    assert red.rule == "red_sustained" and red.status == "ok"   # one sensor: red once sustained
    assert red.assessment_id == Assessment.make_id("ACC", red.observed_at, "red", red.model_version)


def test_out_of_order_arrival_within_a_batch_gives_the_same_result():
    values = series(HOURS)
    in_order = run(Scorer(KNOWN), values, batch=20)
    shuffled = []
    rng = np.random.default_rng(3)
    for lo in range(0, len(values), 20):
        chunk = values[lo:lo + 20]
        shuffled.extend(chunk[i] for i in rng.permutation(len(chunk)))
    assert [a.model_dump() for a in run(Scorer(KNOWN), shuffled, batch=20)] == \
        [a.model_dump() for a in in_order]


VERDICTS = ("samples", "velocity", "acceleration", "level", "lvl_abs", "newest")


def assert_same_state(scorer, reference):
    n = reference.index.n_series
    for name in VERDICTS:
        np.testing.assert_allclose(getattr(scorer.engine.series, name)[:n],
                                   getattr(reference.engine.series, name)[:n], err_msg=name)


def test_duplicates_do_not_inflate_the_samples():
    values = series(HOURS[:40])
    once = Scorer(KNOWN)
    run(once, values)
    twice = Scorer(KNOWN)
    run(twice, [v for value in values for v in (value, value)])  # every reading sent twice
    resent = Scorer(KNOWN)
    for lo in range(0, len(values), 10):  # every batch's newest readings arrive again
        resent.handle(records(values[lo:lo + 10]))
        resent.handle(records(values[lo + 8:lo + 10]))
    old = Scorer(KNOWN)
    for lo in range(0, len(values), 10):  # and an older one, already in the window
        old.handle(records(values[lo:lo + 10]))
        old.handle(records(values[max(lo - 6, 0):max(lo - 4, 0)]))
    assert once.engine.series.samples[0] > 20
    for other in (twice, resent, old):
        assert_same_state(other, once)


def test_a_late_reading_lands_in_its_place():
    values = series(HOURS[:30])
    late = values.pop(20)
    scorer = Scorer(KNOWN)
    run(scorer, values + [late])
    reference = Scorer(KNOWN)
    run(reference, series(HOURS[:30]))
    n = reference.index.n_series
    np.testing.assert_allclose(scorer.engine.series.velocity[:n],
                               reference.engine.series.velocity[:n])
    np.testing.assert_array_equal(scorer.engine.series.samples[:n],
                                  reference.engine.series.samples[:n])


def test_bad_readings_become_dead_letters_and_the_rest_is_scored():
    values = [reading("ACC", 0, 0.0), b"{not json", reading("NOPE", 1, 0.0), reading("ACC", 1, 1.0)]
    result = Scorer(KNOWN).handle(records(values, start_offset=100))
    assert [(d.source_offset, d.stage) for d in result.dead_letters] == [(101, "scorer"),
                                                                         (102, "scorer")]
    assert result.dead_letters[1].reason == "unknown risk point 'NOPE'"
    assert result.dead_letters[0].original_value() == b"{not json"
    assert result.accepted == 2


def test_point_level_is_the_maximum_over_its_sensors():
    values = []
    for i, h in enumerate(HOURS[:40]):
        values.append(reading("OTHER", h, stable(i), sensor="G1"))
        values.append(reading("OTHER", h, 4.0 * h, sensor="C1", kind="crack"))  # 96 mm/day
    assessments = run(Scorer(KNOWN), values)
    assert levels_of(assessments, "OTHER")[-1] == "red"
    last = [a for a in assessments if a.point_id == "OTHER"][-1]
    velocity = {e.sensor_id: e.level for e in last.evidence if e.name == "velocity"}
    assert velocity == {"C1": "red", "G1": "none"}
    assert last.evidence[0].sensor_id == "C1"      # the sensor that raised the level comes first
    assert last.rule == "red_sustained"


def test_a_restart_from_a_checkpoint_gives_the_same_assessments(tmp_path):
    values = series(HOURS)
    batches = [values[lo:lo + 12] for lo in range(0, len(values), 12)]
    uninterrupted = Scorer(KNOWN)
    expected = [a for b in batches for a in uninterrupted.handle(records(b)).assessments]

    first = Scorer(KNOWN)
    before = [a for b in batches[:6] for a in first.handle(records(b)).assessments]
    store = CheckpointStore(tmp_path)
    tp = TopicPartition("readings", 0)
    store.save(tp, 72, first.snapshot(0))
    offset, arrays = store.load(tp)
    assert offset == 72

    restarted = Scorer(KNOWN)
    assert restarted.restore(0, arrays) == first.index.n_series
    after = [a for b in batches[6:] for a in restarted.handle(records(b)).assessments]
    # A restarted scorer re-asserts each point's level once; the transitions are the same.
    reasserted = {a.point_id: a for a in after[:2]}
    assert set(reasserted) == {"ACC", "STABLE"}
    transitions = before + [a for a in after if a not in reasserted.values()]
    assert [a.assessment_id for a in transitions] == [a.assessment_id for a in expected]
    last_before = {a.point_id: a.level for a in before}
    assert {p: a.level for p, a in reasserted.items()} == last_before


def test_the_registry_is_refreshed_by_the_handler():
    known = {"ACC": "landslide"}
    handler = ScorerHandler(Scorer(known), Topics.with_prefix("t."), lambda: dict(known),
                            refresh_seconds=0.0)
    out = handler.handle({TopicPartition("readings", 0): records([reading("NEW", 0, 1.0)])})
    assert [o.topic for o in out] == ["t.geowarn.deadletter"]
    known["NEW"] = "collapse"
    handler.maintain()
    out = handler.handle({TopicPartition("readings", 0): records([reading("NEW", 1, 1.0)])})
    assert [(o.topic, o.key) for o in out] == [("t.geowarn.assessments", b"NEW")]
    assert orjson.loads(out[0].value)["level"] == "none"        # asserted from its first reading


def test_the_worker_flushes_before_it_commits():
    calls = []
    consumer = mock.create_autospec(KafkaConsumer, instance=True, spec_set=True)
    producer = mock.create_autospec(KafkaProducer, instance=True, spec_set=True)
    tp = TopicPartition("readings", 0)
    consumer.poll.return_value = {tp: records([b"x", b"y"], start_offset=40)}
    future = mock.Mock(spec_set=["failed", "exception"])
    future.failed.return_value = False
    producer.send.side_effect = lambda *a, **k: calls.append("send") or future
    producer.flush.side_effect = lambda *a, **k: calls.append("flush")
    consumer.commit.side_effect = lambda *a, **k: calls.append("commit")
    handler = mock.Mock(spec_set=["handle", "last_event_at"])
    handler.handle.return_value = [Outbound("out", b"k", b"v"), Outbound("out", b"k", b"w")]
    worker = Worker(name="test", config=KafkaConfig("127.0.0.1:1"), group="g", topics=["readings"],
                    handler=handler, stop=threading.Event())
    worker.consumer, worker.producer = consumer, producer
    worker.step()
    assert calls == ["send", "send", "flush", "commit"]
    (offsets,), _ = consumer.commit.call_args
    assert offsets[tp].offset == 42


def test_a_failed_send_stops_the_worker_before_the_commit():
    consumer = mock.create_autospec(KafkaConsumer, instance=True, spec_set=True)
    producer = mock.create_autospec(KafkaProducer, instance=True, spec_set=True)
    consumer.poll.return_value = {TopicPartition("readings", 0): records([b"x"])}
    future = mock.Mock(spec_set=["failed", "exception"])
    future.failed.return_value = True
    producer.send.return_value = future
    handler = mock.Mock(spec_set=["handle", "last_event_at"])
    handler.handle.return_value = [Outbound("out", b"k", b"v")]
    worker = Worker(name="test", config=KafkaConfig("127.0.0.1:1"), group="g", topics=["readings"],
                    handler=handler)
    worker.consumer, worker.producer = consumer, producer
    with pytest.raises(Exception, match="producing an output failed"):
        worker.step()
    consumer.commit.assert_not_called()


def test_a_checkpoint_of_another_layout_restores_nothing_instead_of_failing():
    first = Scorer(KNOWN)
    run(first, series(HOURS[:20]))
    arrays = first.snapshot(0)
    arrays["bin"] = arrays["bin"][:, :5]                 # written with another depth
    restarted = Scorer(KNOWN)
    assert restarted.restore(0, arrays) == 0
    assert run(restarted, series(HOURS[20:30]))          # and it goes on scoring
