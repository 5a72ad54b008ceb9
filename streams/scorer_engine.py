"""The site model over the scorer's state: screen readings, add them, judge series, fuse points.

``SiteEngine`` runs the vectorised models of ``warning_models.site_batch``,
``site_forecast`` and ``site_fusion`` over rows of ``SeriesState`` and
``PointState``. Every step is a numpy operation over all the rows it is
given; the scorer calls ``screen`` and ``fuse`` once per round of readings
(at most one reading per point per round) and ``deadlines`` for sensors
that fall silent.

Readings are screened and added by ``streams.scorer_screening``.

A sensor is offline (silent) at event time T when T - its newest reading
exceeds ``missed_intervals`` times its reporting interval (learned from its
window, ``default_interval_s`` until then) and at least
``min_offline_silence_s``. T is always event time: the time of the point's
own reading, or the newest event time of the partition for points that fell
silent, never the wall clock.
"""

from __future__ import annotations

import numpy as np

from streams.scorer_index import KIND_CODE, KINDS, SeriesIndex
from streams.scorer_points import PointState
from streams.scorer_rain import HOUR_NS, RainSeriesState
from streams.scorer_screening import ReadingScreen, kind_mask
from streams.scorer_state import DAY_NS, EMPTY, NO_LEVEL, SeriesState
from warning_models.levels import Level
from warning_models.rainfall_fusion import RainfallScoringConfig, alone_caps
from warning_models.site_batch import (
    baseline_v_bar,
    confirmed_level,
    fit_rates,
    hysteresis_levels,
    judge_quantile,
    lower_magnitude,
    tangent_angles,
)
from warning_models.site_forecast import cell_centroids, forecast_rows, smoothed_velocities
from warning_models.site_fusion import Members, PointFusion, fuse
from warning_models.site_params import DISPLACEMENT, Columns, ParamTable, SiteModelConfig

VERSION = "site-1"
V_BAR_SOURCES = ("none", "configured", "baseline_window", "first_days")
ABSOLUTE = {"gnss": ("velocity", "mm/d"), "crack": ("velocity", "mm/d"),
            "inclinometer": ("velocity", "mm/d"), "extensometer": ("velocity", "mm/d"),
            "tilt": ("tilt_rate", "degrees/d"), "pore_pressure": ("pore_pressure_rise", "kPa"),
            "mud_level": ("mud_level", "mm")}


class SiteEngine:
    """State and vectorised steps of the site model; see the module docstring."""

    def __init__(self, index: SeriesIndex, config: SiteModelConfig | None = None,
                 rainfall: RainfallScoringConfig | None = None) -> None:
        self.index = index
        self.config = config or SiteModelConfig()
        self.rainfall = rainfall or RainfallScoringConfig()
        self.rain = RainSeriesState(self.rainfall)
        self.rain_code = KIND_CODE["rain_gauge"]
        g = self.config.scorer
        self.params = ParamTable(self.config.site)
        fit_days, smooth = self.config.max_fit_window_days()
        cell_hours = fit_days * 24.0 / max(g.forecast_cells - smooth - 2, 4)
        self.series = SeriesState(depth=g.depth, window_hours=self.config.max_window_hours(),
                                  cells=g.forecast_cells, cell_hours=cell_hours,
                                  recent=g.recent_times, pending=g.spike_confirm - 1)
        self.points = PointState()
        self.version = f"{VERSION}+{self.config.digest()}+rain-{self.rainfall.digest()}"
        self.spike_kind = kind_mask(g.spike_kinds)
        self.stuck_kind = kind_mask(g.stuck_kinds)
        self.displacement = kind_mask(DISPLACEMENT)
        self.rate_kind = kind_mask((*DISPLACEMENT, "tilt"))
        self.pore_kind = kind_mask(("pore_pressure",))
        self.mud_kind = kind_mask(("mud_level",))
        self.hazard_names: list[str] = []
        self._hazard_code: dict[str, int] = {}
        self.bounds = np.zeros((0, len(KINDS), 4))
        self.has_bounds = np.zeros((0, len(KINDS)), dtype=bool)
        self._synced = -1
        self.sync()
        self.screening = ReadingScreen(index, self.series, self.rain, self.config,
                                       self.series_params)

    # -- registry -----------------------------------------------------------------------------

    def hazard_code(self, hazard_type: str) -> int:
        code = self._hazard_code.get(hazard_type)
        if code is None:
            code = len(self.hazard_names)
            self._hazard_code[hazard_type] = code
            self.hazard_names.append(hazard_type)
            th = self.config.thresholds
            bounds = np.zeros((1, len(KINDS), 4))
            has = np.zeros((1, len(KINDS)), dtype=bool)
            for k, kind in enumerate(KINDS):
                found = th.for_kind(kind, hazard_type or None)
                if found is not None:
                    bounds[0, k], has[0, k] = found.as_array(), True
            self.bounds = np.concatenate([self.bounds, bounds])
            self.has_bounds = np.concatenate([self.has_bounds, has])
        return code

    def sync(self) -> None:
        """Size the arrays and resolve every point's parameters after registry changes."""
        index = self.index
        if index.version == self._synced:
            return
        self.series.ensure(index.n_series)
        self.points.ensure(index.n_points)
        profile = self.params.profile
        for p, point_id in enumerate(index.point_ids):
            hazard = index.hazard_types[p]
            self.points.profile[p] = profile(point_id, index.regions[p], hazard or None)
            self.points.hazard[p] = self.hazard_code(hazard)
        self.rain.refresh_models(index)
        self._synced = index.version

    def series_params(self, slots: np.ndarray) -> Columns:
        return self.params.gather(self.points.profile[self.index.series_point[slots]])

    # -- readings -----------------------------------------------------------------------------

    def screen(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, partition: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Screen one reading per series and add the accepted ones (``ReadingScreen.screen``)."""
        return self.screening.screen(s, t, v, partition)

    def bulk(self, s: np.ndarray, t: np.ndarray, v: np.ndarray, partition: np.ndarray
             ) -> np.ndarray:
        """Add history without screening (``ReadingScreen.bulk``); return the touched slots."""
        return self.screening.bulk(s, t, v, partition)

    # -- judging series -----------------------------------------------------------------------

    def evaluate(self, slots: np.ndarray) -> None:
        """Judge these series at their newest sample and store every verdict."""
        if slots.size == 0:
            return
        st, index = self.series, self.index
        P = self.series_params(slots)
        kind = index.series_kind[slots]
        hazard = self.points.hazard[index.series_point[slots]]
        g = self.config.scorer
        conf = g.judge_confidence
        fit = fit_rates(st.window_sums(slots, P["window_days"]), degree=P["degree"],
                        window_days=P["window_days"], min_samples=P["min_samples"],
                        min_span_fraction=P["min_span_fraction"],
                        confidence=g.curvature_confidence)
        q = judge_quantile(conf, fit.dof)
        q_lin = judge_quantile(conf, np.maximum(fit.n - 2, 1))
        rate, pore, mud = self.rate_kind[kind], self.pore_kind[kind], self.mud_kind[kind]
        gauge, gauge_ok = confirmed_level(st.last_value[slots], st.previous_value[slots])
        rise = fit.slope * P["window_days"]
        value = np.where(rate, fit.velocity, np.where(pore, rise, np.where(mud, gauge, 0.0)))
        judged = np.where(rate, lower_magnitude(fit.velocity, fit.velocity_se, q), np.where(
            pore, np.maximum((fit.slope - q_lin * fit.slope_se) * P["window_days"], 0.0),
            np.where(mud, gauge, 0.0)))
        ok = np.where(rate, fit.ok, np.where(pore, fit.ok_linear, mud & gauge_ok))
        bounds = self.bounds[hazard, kind]
        lvl_abs = hysteresis_levels(judged, st.lvl_abs[slots], bounds,
                                    bounds * (1.0 - g.threshold_dead_band),
                                    ok & self.has_bounds[hazard, kind])

        # v̄: configured for the point, or the baseline window of the series
        b_days = (st.b_end[slots] - st.b_start[slots]) / DAY_NS
        complete = st.newest[slots] >= st.b_end[slots]   # a partial window is biased by
        base = baseline_v_bar(st.baseline_sums(slots), window_days=b_days,  # its phase
                              min_samples=P["min_baseline_samples"],
                              min_coverage=P["min_baseline_coverage"], min_v_bar=P["min_v_bar"],
                              quantile=judge_quantile(conf, np.maximum(st.b_n[slots] - 2, 1)))
        configured = np.isfinite(P["v_bar"])
        measured = base.ok & complete
        v_bar = np.where(configured, P["v_bar"], np.where(measured, base.v_bar, 0.0))
        source = np.where(configured, 1, np.where(
            measured, np.where(P["baseline_start_ns"] != EMPTY, 2, 3), 0)).astype(np.int8)
        tan_ok = self.displacement[kind] & fit.ok & (source > 0)
        alpha, alpha_low, alpha_high = tangent_angles(fit.velocity, fit.velocity_se, v_bar, q,
                                                      tan_ok)
        angles = np.stack([P["angle_blue"], P["angle_yellow"], P["angle_orange"],
                           P["angle_red"]], axis=1)
        lvl_tan = hysteresis_levels(alpha_low, st.lvl_tan[slots], angles,
                                    angles - g.angle_dead_band_deg, tan_ok)

        gated = tan_ok & (alpha_low >= P["gate_angle"])
        self._forecast(slots, gated, v_bar, P)
        lvl_iv = np.where(gated, st.lvl_iv[slots], NO_LEVEL).astype(np.int8)

        st.eval_ns[slots] = st.newest[slots]
        st.velocity[slots], st.velocity_se[slots] = fit.velocity, fit.velocity_se
        st.acceleration[slots], st.rate_ok[slots] = fit.acceleration, fit.ok
        st.samples[slots] = fit.n
        st.v_bar[slots], st.v_bar_source[slots] = v_bar, source
        st.v_bar_n[slots] = np.where(configured, 0, base.n)
        st.alpha[slots], st.alpha_low[slots] = alpha, alpha_low
        st.alpha_high[slots] = alpha_high
        st.abs_value[slots], st.abs_judged[slots] = value, judged
        st.lvl_abs[slots], st.lvl_tan[slots], st.lvl_iv[slots] = lvl_abs, lvl_tan, lvl_iv
        st.iv_gated[slots] = gated
        st.level[slots] = np.maximum(np.maximum(lvl_abs, lvl_tan), lvl_iv)
        rain = kind == self.rain_code
        if rain.any():
            rows = self.rain.rows(slots[rain], index, create=True)
            self.rain.evaluate(rows)
            st.level[slots[rain]] = self.rain.level[rows]

        # what screening the next reading needs: the fit, the scale, the interval
        st.fit_t[slots], st.fit_ok[slots], st.fit_n[slots] = st.newest[slots], fit.ok, fit.n
        st.fit_level[slots], st.fit_c1[slots], st.fit_c2[slots] = fit.level, fit.c1, fit.c2
        unset = np.isnan(st.spike_scale[slots]) & fit.ok
        st.spike_scale[slots[unset]] = fit.resid_sd[unset]
        spaced = fit.n >= 3
        st.interval_ns[slots[spaced]] = (fit.span_days[spaced] / (fit.n[spaced] - 1)) * DAY_NS
        run = st.stuck_run[slots]
        lasting = (st.newest[slots] - st.stuck_start[slots]) >= P["stuck_min_span_ns"]
        st.stuck[slots] = self.stuck_kind[kind] & (
            (run >= P["stuck_min_samples"]) | (lasting & (run >= 2)))

    def _forecast(self, slots: np.ndarray, gated: np.ndarray, v_bar: np.ndarray,
                  P: Columns) -> None:
        st = self.series
        st.lvl_iv[slots] = NO_LEVEL
        for name in ("iv_hours", "iv_tf", "iv_lo", "iv_hi", "iv_r2", "iv_sma"):
            getattr(st, name)[slots] = 0.0
        st.iv_n[slots] = 0
        if not gated.any():
            return
        rows = slots[gated]
        G = P.subset(gated)
        start, n, t_sum, y_sum, use = st.forecast_cells(rows)
        cells = cell_centroids(start, n, t_sum, y_sum, use)
        smooth = smoothed_velocities(cells, G["smooth"], G["max_gap_ns"] / DAY_NS)
        fc = forecast_rows(smooth, v_bar=v_bar[gated], fit_window_days=G["fit_window_days"],
                           accelerating_angle=G["accelerating_angle"],
                           min_fit_samples=G["min_fit_samples"], min_velocity=G["min_velocity"],
                           relative_weights=G["relative_weights"],
                           confidence=G["iv_confidence"], lead_from_lower=G["lead_from_lower"],
                           red_lead_hours=G["red_lead_hours"],
                           orange_lead_hours=G["orange_lead_hours"])
        newest_s = st.newest[rows] / 1e9
        st.lvl_iv[rows] = np.where(fc.reported, fc.level, NO_LEVEL)
        st.iv_hours[rows] = fc.hours
        for name, days in (("iv_tf", fc.t_f), ("iv_lo", fc.lower), ("iv_hi", fc.upper)):
            getattr(st, name)[rows] = np.where(fc.reported, newest_s + days * 86_400.0, 0.0)
        st.iv_n[rows], st.iv_r2[rows], st.iv_sma[rows] = fc.n_fit, fc.r2, fc.smoothed_v

    # -- points -------------------------------------------------------------------------------

    def members(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of every series of these points and the row (position in ``points``) of each."""
        index = self.index
        row_of = np.full(index.n_points, -1, dtype=np.int64)
        row_of[points] = np.arange(points.size)
        series_point = index.series_point
        members = np.flatnonzero((row_of[series_point] >= 0)
                                 & (self.series.seen[: series_point.size] != EMPTY))
        return members, row_of[series_point[members]]

    def silence_limit(self, slots: np.ndarray, P: Columns) -> np.ndarray:
        """Silence (ns) after which each series' sensor counts as offline."""
        g = self.config.scorer
        interval = self.series.interval_ns[slots]
        interval = np.where(np.isfinite(interval) & (interval > 0), interval,
                            g.default_interval_s * 1e9)
        return np.maximum(P["missed_intervals"] * interval, g.min_offline_silence_s * 1e9)

    def fuse(self, points: np.ndarray, times: np.ndarray) -> PointFusion:
        """Fuse these points at these event times (ns); store and return their new state."""
        st, index = self.series, self.index
        members, row = self.members(points)
        P = self.series_params(members)
        now = times[row]
        silent = (st.seen[members] == EMPTY) | (
            now - st.seen[members] > self.silence_limit(members, P))
        stuck = st.stuck[members] & ~silent
        bit = index.series_bit[members]
        level = self._rain_levels(points, members, row, now, silent, stuck)
        state = fuse(self.points.fusion(points),
                     Members(row=row, level=level, silent=silent, stuck=stuck,
                             bit=bit, group=index.series_group[members],
                             observed=st.eval_ns[members]),
                     times, **self._fusion_params(points))
        self.points.store(points, state)
        alarms = np.zeros(points.size, dtype=np.uint64)
        np.bitwise_or.at(alarms, row[silent | stuck], bit[silent | stuck])
        self.points.alarms[points] = alarms
        return state

    def _rain_levels(self, points: np.ndarray, members: np.ndarray, row: np.ndarray,
                     now: np.ndarray, silent: np.ndarray, stuck: np.ndarray) -> np.ndarray:
        """The members' levels, rain series standing for what their rain means next to the
        point's deformation (``streams.scorer_rain.RainSeriesState.member_levels``)."""
        level = self.series.level[members].copy()
        rain = self.index.series_kind[members] == self.rain_code
        if not rain.any():
            return level
        caps = alone_caps(self.hazard_names, self.rainfall.fusion)[self.points.hazard[points]]
        level[rain] = self.rain.member_levels(
            self.rain.rows(members[rain], self.index, create=True), row, rain, level,
            valid=~silent & ~stuck & (level >= 0), age_h=(now - self.series.seen[members])
            / HOUR_NS, silent=silent, caps=caps)
        return level

    def _fusion_params(self, points: np.ndarray) -> dict[str, np.ndarray]:
        P = self.params.gather(self.points.profile[points])
        return {"red_hold_ns": P["red_hold_ns"], "downgrade_hold_ns": P["downgrade_hold_ns"],
                "hold_unconfirmed": P["hold_unconfirmed"]}

    def deadlines(self, points: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each point, its earliest sensor deadline before ``bound`` (ns) not yet reported.

        Returns (points that have one, the deadline: first instant of silence) and
        marks those series offline.
        """
        st = self.series
        members, row = self.members(points)
        if members.size == 0:
            return points[:0], bound[:0]
        limit = self.silence_limit(members, self.series_params(members))
        deadline = st.seen[members] + limit.astype(np.int64) + 1
        due = ~st.offline[members] & (st.seen[members] != EMPTY) & (deadline < bound[row])
        if not due.any():
            return points[:0], bound[:0]
        first = np.full(points.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, row[due], deadline[due])
        now = first[row]
        st.offline[members[due & (deadline <= now)]] = True
        has = first != np.iinfo(np.int64).max
        return points[has], first[has]

    def point_level(self, points: np.ndarray) -> np.ndarray:
        return self.points.level[points]

    def levels_of(self, slots: np.ndarray) -> np.ndarray:
        """The per-series verdict (max of valid indicators), ``NO_LEVEL`` when none."""
        return self.series.level[slots]


__all__ = ["ABSOLUTE", "VERSION", "V_BAR_SOURCES", "Level", "SiteEngine"]
