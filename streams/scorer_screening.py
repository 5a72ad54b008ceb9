"""Screening readings and adding them to the scorer's series state.

Screening a reading (in event-time order per series):

- duplicates: a reading whose event time the series has already seen (the
  newest one or one of the last ``recent_times``) is dropped;
- spikes: a reading farther from the prediction of the series' current fit
  than ``k`` times its robust residual scale is held back; ``spike_confirm``
  consecutive readings off on the same side are a real step and are all
  accepted, otherwise the held readings are discarded (Hampel's identifier
  needs later readings, which a live scorer does not have; this is its
  causal counterpart). The scale is an exponentially weighted mean of
  clipped absolute residuals (a Huber-type M-estimate), times 1.2533 so that
  it estimates a normal standard deviation;
- stuck: the run of consecutive readings within ``stuck_epsilon`` of the one
  before; a long enough run excludes the sensor and raises a sensor alarm;
- a reading more than ``max_gap_hours`` after the previous one starts a new
  segment: no fit spans a gap.

``bulk`` adds trusted history (a preload) without screening. Rain gauge
readings also go to the rain state's hourly and daily totals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from streams.scorer_index import KIND_CODE, KINDS, SeriesIndex
from streams.scorer_rain import RainSeriesState
from streams.scorer_state import DAY_NS, EMPTY, SeriesState
from warning_models.site_params import Columns, SiteModelConfig

NORMAL_FROM_MEAN_ABS = 1.2533        # σ = sqrt(π/2) E|r| for a normal distribution
SCALE_WEIGHT = 1.0 / 16.0            # weight of a new residual in the robust scale
SCALE_CLIP = 3.0                     # residuals are clipped at this many scales


def kind_mask(kinds: tuple[str, ...] | frozenset[str]) -> np.ndarray:
    """True at the codes (``scorer_index.KINDS``) of ``kinds``."""
    return np.array([k in kinds for k in KINDS])


class ReadingScreen:
    """The screening steps over one ``SeriesState`` (shared with ``SiteEngine``)."""

    def __init__(self, index: SeriesIndex, series: SeriesState, rain: RainSeriesState,
                 config: SiteModelConfig, series_params: Callable[[np.ndarray], Columns]) -> None:
        self.index, self.series, self.rain, self.config = index, series, rain, config
        self.series_params = series_params
        self.rain_code = KIND_CODE["rain_gauge"]
        self.spike_kind = kind_mask(config.scorer.spike_kinds)

    def screen(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, partition: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Screen one reading per series and add the accepted ones.

        Returns (mask of readings that are not duplicates, slots whose state
        changed and need evaluating).
        """
        st, K = self.series, self.series.widths["recent"]
        st.ensure(int(s.max()) + 1 if s.size else 0)
        fresh = ~((t == st.seen[s]) | (st.recent[s] == t[:, None]).any(axis=1))
        s, t, v, partition = s[fresh], t[fresh], v[fresh], partition[fresh]
        if s.size == 0:
            return fresh, s
        st.recent[s, st.recent_n[s] % K] = t
        st.recent_n[s] += 1
        P = self.series_params(s)
        self._start_series(s, t, v, P)
        st.partition[s] = partition
        st.seen[s] = np.maximum(st.seen[s], t)
        st.offline[s] = False

        y = v - st.y_ref[s]
        newer = t > st.newest[s]
        gap = newer & (st.newest[s] != EMPTY) & (t - st.newest[s] > P["max_gap_ns"])
        dt = (t - st.fit_t[s]) / DAY_NS
        resid = y - (st.fit_level[s] + st.fit_c1[s] * dt + st.fit_c2[s] * dt * dt)
        scale = st.spike_scale[s]
        kind = self.index.series_kind[s]
        judged = (self.spike_kind[kind] & st.fit_ok[s] & (st.fit_n[s] >= P["spike_min_samples"])
                  & ~gap & np.isfinite(scale) & np.isfinite(resid))
        limit = np.maximum(P["spike_k"] * np.where(np.isfinite(scale), scale, 0.0),
                           np.maximum(P["spike_min_deviation"], 1e-9 * np.abs(v)))
        off = judged & (np.abs(resid) > limit)
        sign = np.sign(resid).astype(np.int8)
        cont = off & (st.pend_n[s] > 0) & (st.pend_sign[s] == sign)
        run = np.where(cont, st.pend_n[s] + 1, 1)
        confirmed = off & (run >= self.config.scorer.spike_confirm)
        held = off & ~confirmed

        # readings accepted as they are: the previous held ones were spikes after all
        plain = ~off
        st.spikes[s[plain]] += st.pend_n[s[plain]]
        st.pend_n[s[plain]] = 0
        upd = plain & judged
        clipped = np.minimum(np.abs(resid[upd]), SCALE_CLIP * scale[upd])
        st.spike_scale[s[upd]] = scale[upd] + SCALE_WEIGHT * (
            NORMAL_FROM_MEAN_ABS * clipped - scale[upd])
        # held back: a new run (or a change of side) discards what was held before
        new_run = held & ~cont
        st.spikes[s[new_run]] += st.pend_n[s[new_run]]
        st.pend_n[s[new_run]] = 0
        hs = s[held]
        slot = st.pend_n[hs].astype(np.int64)
        st.pend_t[hs, slot] = t[held]
        st.pend_y[hs, slot] = y[held]
        st.pend_n[hs] += 1
        st.pend_sign[hs] = sign[held]
        # a confirmed step: the held readings and this one are real
        cs = s[confirmed]
        st.spike_scale[cs] = np.maximum(st.spike_scale[cs], 1.5 * np.abs(resid[confirmed])
                                        / P["spike_k"][confirmed])
        held_n = st.pend_n[cs].astype(np.int64)
        extra_rows = np.repeat(cs, held_n)
        extra_pos = np.arange(held_n.sum()) - np.repeat(np.cumsum(held_n) - held_n, held_n)
        extra_t = st.pend_t[extra_rows, extra_pos]
        extra_v = st.pend_y[extra_rows, extra_pos] + st.y_ref[extra_rows]
        st.pend_n[cs] = 0
        st.stuck_run[cs] = 0

        accept = ~held
        a_s, a_t, a_v = s[accept], t[accept], v[accept]
        a_newer, a_gap = newer[accept], gap[accept]
        self._advance(a_s, a_t, a_v, a_newer, a_gap, P, accept, extra_rows, extra_v)
        st.accumulate(np.concatenate([a_s, extra_rows]), np.concatenate([a_t, extra_t]),
                      np.concatenate([a_v, extra_v]))
        self._add_rain(a_s, a_t, a_v)
        return fresh, np.unique(a_s)

    def _add_rain(self, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        """Rain readings (mm/h) into the rain state's hourly and daily totals."""
        rain = self.index.series_kind[s] == self.rain_code
        if rain.any():
            self.rain.add(self.rain.rows(s[rain], self.index, create=True), t[rain], v[rain])

    def _start_series(self, s: np.ndarray, t: np.ndarray, v: np.ndarray,
                      P: Columns) -> None:
        """First reading of a series: value reference, origin and baseline window."""
        st = self.series
        first = np.isnan(st.y_ref[s])
        if not first.any():
            return
        fs, ft = s[first], t[first]
        st.y_ref[fs] = v[first]
        st.origin[fs] = ft
        explicit = P["baseline_start_ns"][first] != EMPTY
        st.b_start[fs] = np.where(explicit, P["baseline_start_ns"][first], ft)
        span = np.round(P["baseline_days"][first] * DAY_NS).astype(np.int64)
        st.b_end[fs] = np.where(explicit, P["baseline_end_ns"][first], ft + span)

    def _advance(self, s, t, v, newer, gap, P, accept, extra_rows, extra_v) -> None:
        """Newest sample, last two values, segment start and stuck run of accepted readings."""
        st = self.series
        ns = s[newer]
        start_segment = gap[newer] | (st.newest[ns] == EMPTY)
        st.seg_start[ns[start_segment]] = t[newer][start_segment]
        eps = P["stuck_epsilon"][accept][newer]
        same = np.abs(v[newer] - st.last_value[ns]) <= eps
        st.stuck_run[ns] = np.where(same, st.stuck_run[ns] + 1, 1)
        st.stuck_start[ns] = np.where(same & (st.stuck_start[ns] != EMPTY), st.stuck_start[ns],
                                      t[newer])
        previous = st.last_value[ns].copy()
        # a confirmed step: the last held reading comes right before this one
        if extra_rows.size:
            last_extra = np.r_[extra_rows[1:] != extra_rows[:-1], True]
            before = dict(zip(extra_rows[last_extra].tolist(), extra_v[last_extra].tolist()))
            previous = np.array([before.get(x, p) for x, p in zip(ns.tolist(), previous.tolist())])
        st.previous_value[ns] = previous
        st.last_value[ns] = v[newer]
        st.newest[ns] = t[newer]

    def bulk(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, partition: np.ndarray
             ) -> np.ndarray:
        """Add history without screening (trusted, e.g. a preload); return the touched slots."""
        st = self.series
        if s.size == 0:
            return s
        st.ensure(int(s.max()) + 1)
        order = np.lexsort((t, s))
        s, t, v, partition = s[order], t[order], v[order], partition[order]
        keep = np.r_[(s[1:] != s[:-1]) | (t[1:] != t[:-1]), True] & (t != st.seen[s])
        s, t, v, partition = s[keep], t[keep], v[keep], partition[keep]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        ends = np.r_[starts[1:], s.size] - 1
        slots = s[starts]
        P = self.series_params(slots)
        self._start_series(slots, t[starts], v[starts], P)
        st.accumulate(s, t, v)
        self._add_rain(s, t, v)
        st.partition[slots] = partition[ends]
        st.seen[slots] = np.maximum(st.seen[slots], t[ends])
        st.newest[slots] = np.maximum(st.newest[slots], t[ends])
        st.seg_start[slots] = np.where(st.seg_start[slots] == EMPTY, t[starts], st.seg_start[slots])
        st.last_value[slots] = v[ends]
        st.previous_value[slots] = np.where(ends > starts, v[np.maximum(ends - 1, 0)], np.nan)
        # the run of unchanged values at the end of each series
        eps = np.repeat(P["stuck_epsilon"], ends - starts + 1)
        changed = np.r_[True, (np.abs(np.diff(v)) > eps[1:]) | (s[1:] != s[:-1])]
        run_start = np.maximum.accumulate(np.where(changed, np.arange(s.size), 0))
        st.stuck_run[slots] = ends - run_start[ends] + 1
        st.stuck_start[slots] = t[run_start[ends]]
        return slots
