"""Properties of the scorer's site model, through ``Scorer.handle`` (hypothesis).

- levels never decrease when only velocity grows (displacement scaled by a
  power of two, which is exact in floating point, so no tolerance is needed);
- no NaN or infinity leaves the scorer, whatever finite readings arrive
  (duplicates, unsorted, extreme values, tiny series);
- the order of arrival within a batch does not matter;
- the batch boundaries do not matter: the same readings cut differently give
  the same assessments.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.scorer import Scorer
from tests.streams.site_scenarios import HOUR, LEVELS, T0, readings, records
from warning_models.site_params import site_model_from_mapping

PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Short windows and a configured v̄ so that short series exercise every model.
SMALL = site_model_from_mapping({"site": {"default": {
    "kinematics": {"window_hours": 12, "min_samples": 4, "max_gap_hours": 8},
    "tangent_angle": {"v_bar_mm_per_day": 2.0},
    "inverse_velocity": {"gate_angle_deg": 50, "accelerating_angle_deg": 45,
                         "min_fit_samples": 3, "sma_samples": 2, "lma_samples": 3,
                         "fit_window_days": 1}}}})

increments = st.lists(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0, 3.0, 10.0, 40.0]),
                      min_size=0, max_size=60)


def timeline(values: list[bytes], batch: int = 16, config=SMALL) -> list:
    scorer = Scorer({"P": "landslide", "Q": "debris_flow"}, config, emit="every_reading")
    out = []
    for lo in range(0, len(values), batch):
        out.extend(scorer.handle(records(values[lo:lo + batch], start_offset=lo)).assessments)
    return out


@PROPERTY
@given(increments, st.sampled_from([2.0, 4.0, 16.0]))
def test_levels_never_decrease_when_only_velocity_grows(steps: list[float],
                                                        factor: float) -> None:
    t = T0 + HOUR * np.arange(len(steps))
    x = np.cumsum(steps)
    slow = timeline(readings("P", "G1", "gnss", t, x))
    fast = timeline(readings("P", "G1", "gnss", t, factor * x))
    assert [a.observed_at for a in slow] == [a.observed_at for a in fast]
    for a, b in zip(slow, fast, strict=True):
        assert LEVELS.index(b.level) >= LEVELS.index(a.level), (a.observed_at, a.rule, b.rule)


hours = st.integers(0, 72).map(lambda h: T0 + h * HOUR)               # many duplicate times
anytime = st.floats(T0, T0 + 3 * 86_400.0, allow_nan=False).map(lambda s: round(s, 3))
value = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1e-9, 5e5]))
sensor = st.sampled_from([("P", "G1", "gnss"), ("P", "C1", "crack"), ("P", "T1", "tilt"),
                          ("Q", "M1", "mud_level"), ("Q", "W1", "pore_pressure")])
messy = st.lists(st.tuples(sensor, st.one_of(hours, anytime), value), max_size=90)


def encode(items) -> list[bytes]:
    unit = {"gnss": "mm", "crack": "mm", "tilt": "degrees", "mud_level": "mm",
            "pore_pressure": "kPa"}
    return [readings(p, s, k, [t], [x], unit=unit[k])[0] for (p, s, k), t, x in items]


def numbers_of(assessment) -> list[float]:
    out = []
    for e in assessment.evidence:
        out.append(e.value)
        out.extend(e.numbers.values())
        out.extend(e.thresholds.values())
    return out


@PROPERTY
@given(messy)
def test_no_nan_ever_leaves_the_scorer(items) -> None:
    for config in (SMALL, None):
        for a in timeline(encode(items), config=config):
            assert all(math.isfinite(x) for x in numbers_of(a)), a
            assert a.level in LEVELS and a.status in ("ok", "degraded", "no_data")


@PROPERTY
@given(messy, st.randoms(use_true_random=False), st.integers(1, 40))
def test_order_of_arrival_within_a_batch_does_not_matter(items, rnd, batch: int) -> None:
    values = encode(sorted(items, key=lambda item: item[1]))
    shuffled = []
    for lo in range(0, len(values), batch):
        chunk = values[lo:lo + batch]
        rnd.shuffle(chunk)
        shuffled.extend(chunk)
    first = [a.model_dump() for a in timeline(values, batch)]
    second = [a.model_dump() for a in timeline(shuffled, batch)]
    key = (lambda a: (a["point_id"], a["observed_at"]))
    assert sorted(first, key=key) == sorted(second, key=key)


@PROPERTY
@given(increments, st.lists(st.integers(1, 30), min_size=1, max_size=8))
def test_batch_boundaries_do_not_matter(steps: list[float], cuts: list[int]) -> None:
    t = T0 + HOUR * np.arange(len(steps))
    x = np.cumsum(steps)
    # the second sensor reports 10 minutes later: readings of one point at exactly the same
    # time are judged in key order within a batch but in arrival order across batches
    values = readings("P", "G1", "gnss", t, x) + readings("P", "C1", "crack", t + 600, 0.5 * x)
    values = [values[i] for i in np.argsort(np.r_[t, t + 600], kind="stable")]
    whole = timeline(values, batch=max(len(values), 1))
    scorer = Scorer({"P": "landslide", "Q": "debris_flow"}, SMALL, emit="every_reading")
    pieces, lo, k = [], 0, 0
    while lo < len(values):
        size = cuts[k % len(cuts)]
        pieces.extend(scorer.handle(records(values[lo:lo + size], start_offset=lo)).assessments)
        lo, k = lo + size, k + 1
    assert [a.model_dump() for a in pieces] == [a.model_dump() for a in whole]
