"""The array fusion gives, step by step, the reference fusion's level, rule and status.

Random sequences of sensor verdicts and health (hypothesis) are folded both
by ``fusion.step`` (one point, Python objects) and by ``site_fusion.fuse``
(state arrays, here one row); they must agree exactly at every step. A
second test fuses many points at once and compares each with its own
reference run.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warning_models.fusion import FusionParams, FusionState, Indicator, step
from warning_models.levels import Level
from warning_models.quality import SensorHealth
from warning_models.site_fusion import RULES, STATUSES, Members, PointFusion, empty_state, fuse

HOUR = 3_600.0
T0 = 1_780_000_000.0
SENSORS = ("a", "b", "c")
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

verdict = st.one_of(st.none(), st.tuples(st.integers(0, 4), st.booleans()))
health = st.sampled_from(["online", "online", "online", "offline", "stuck"])
# a series has one verdict per event time (the scorer drops repeated readings), so every
# step is at a later time; at equal times the reference breaks ties by level instead
step_spec = st.tuples(st.integers(1, 12), st.tuples(*[verdict] * 3), st.tuples(*[health] * 3))
sequences = st.lists(step_spec, min_size=1, max_size=25)


def reference_run(steps, params: FusionParams) -> list[tuple[int, str, str]]:
    state, out, hour = FusionState(), [], 0
    for dt, verdicts, statuses in steps:
        hour += dt
        now = T0 + hour * HOUR
        indicators = [Indicator("m", s, Level(v[0]), now, valid=v[1])
                      for s, v in zip(SENSORS, verdicts, strict=True) if v is not None]
        sensors = [SensorHealth(s, h, now, 0.0, HOUR, h) for s, h in
                   zip(SENSORS, statuses, strict=True)]
        state, fused = step(state, indicators, now, health=sensors, params=params)
        out.append((int(fused.level), fused.rule_fired, fused.status))
    return out


def array_run(steps, params: FusionParams) -> list[tuple[int, str, str]]:
    state: PointFusion = empty_state(1)
    level = np.full(3, -1, dtype=np.int8)
    observed = np.zeros(3, dtype=np.int64)
    out, hour = [], 0
    hold = {"red_hold_ns": np.array([int(params.red_hold_hours * HOUR * 1e9)]),
            "downgrade_hold_ns": np.array([int(params.downgrade_hold_hours * HOUR * 1e9)]),
            "hold_unconfirmed": np.array([params.hold_while_unconfirmed])}
    for dt, verdicts, statuses in steps:
        hour += dt
        now = int((T0 + hour * HOUR) * 1e9)
        for i, v in enumerate(verdicts):
            if v is not None:
                level[i] = v[0] if v[1] else -1
                observed[i] = now
        members = Members(row=np.zeros(3, np.int64), level=level.copy(),
                          silent=np.array([h == "offline" for h in statuses]),
                          stuck=np.array([h == "stuck" for h in statuses]),
                          bit=np.array([1, 2, 4], np.uint64), group=np.arange(3),
                          observed=observed.copy())
        state = fuse(state, members, np.array([now]), **hold)
        out.append((int(state.level[0]), RULES[state.rule[0]], STATUSES[state.status[0]]))
    return out


quarter_hours = st.integers(0, 120).map(lambda q: q / 4.0)   # holds are whole nanoseconds


@PROPERTY
@given(sequences, quarter_hours, quarter_hours, st.booleans())
def test_array_fusion_equals_the_reference_at_every_step(steps, red_hold: float, down: float,
                                                         unconfirmed: bool) -> None:
    params = FusionParams(red_hold_hours=red_hold, downgrade_hold_hours=down,
                          hold_while_unconfirmed=unconfirmed)
    assert array_run(steps, params) == reference_run(steps, params)


@settings(max_examples=20, deadline=None)
@given(st.lists(sequences, min_size=2, max_size=6))
def test_many_points_at_once_equal_one_reference_run_each(runs) -> None:
    params = FusionParams()
    length = min(len(r) for r in runs)
    runs = [r[:length] for r in runs]
    rows = len(runs)
    state = empty_state(rows)
    level = np.full((rows, 3), -1, dtype=np.int8)
    observed = np.zeros((rows, 3), dtype=np.int64)
    hours = np.zeros(rows, dtype=np.int64)
    hold = {"red_hold_ns": np.full(rows, int(6 * HOUR * 1e9)),
            "downgrade_hold_ns": np.full(rows, int(24 * HOUR * 1e9)),
            "hold_unconfirmed": np.ones(rows, bool)}
    got: list[list] = [[] for _ in range(rows)]
    for k in range(length):
        now = np.zeros(rows, dtype=np.int64)
        silent, stuck = np.zeros((rows, 3), bool), np.zeros((rows, 3), bool)
        for r, run in enumerate(runs):
            dt, verdicts, statuses = run[k]
            hours[r] += dt
            now[r] = int((T0 + hours[r] * HOUR) * 1e9)
            for i, v in enumerate(verdicts):
                if v is not None:
                    level[r, i] = v[0] if v[1] else -1
                    observed[r, i] = now[r]
            silent[r] = [h == "offline" for h in statuses]
            stuck[r] = [h == "stuck" for h in statuses]
        members = Members(row=np.repeat(np.arange(rows), 3), level=level.ravel().copy(),
                          silent=silent.ravel(), stuck=stuck.ravel(),
                          bit=np.tile(np.array([1, 2, 4], np.uint64), rows),
                          group=np.arange(3 * rows), observed=observed.ravel().copy())
        state = fuse(state, members, now, **hold)
        for r in range(rows):
            got[r].append((int(state.level[r]), RULES[state.rule[r]], STATUSES[state.status[r]]))
    for r, run in enumerate(runs):
        assert got[r] == reference_run(run, params)
