"""The fusion rules of ``fusion.step`` over arrays: one level per point for many points.

``fuse`` applies, for every evaluated point at once, the rules of the
reference (``warning_models.fusion``), which the module docstring there
explains; here they run over explicit state arrays instead of per-point
Python objects:

1. each series contributes its newest verdict (one level per series, -1
   when no model could tell); series of offline (silent) or stuck sensors do
   not count;
2. red needs two independence groups at orange or above (``group``; by
   default the sensor: two models of one sensor are not independent), or red
   sustained for ``red_hold_ns``; otherwise it is capped at orange;
3. upgrades are immediate; the fused level is the highest candidate in
   effect at any moment of the last ``downgrade_hold_ns``;
4. a level is not lowered while a series that raised it is silent, stuck or
   has no valid estimate (``hold_unconfirmed``);
5. when every series of a point is silent the status is ``no_data`` and the
   level is kept.

The reference keeps a stack of hold entries per point; here each level L
(blue .. red) has ``until[L]``: ``ACTIVE`` while the candidate is at L or
above, the event time it fell below L, or ``REMOVED`` once that is longer
ago than the hold (and nothing blocks it); ``contrib[L]`` is a bit mask of
the point's series that raised it. The fused level is the highest L not
removed, which is the reference's first kept entry. Times are int64
nanoseconds of event time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from warning_models.levels import Level

ACTIVE = np.iinfo(np.int64).max
REMOVED = np.iinfo(np.int64).min
NEVER = REMOVED

RULES: tuple[str, ...] = ("max_indicator", "red_corroborated", "red_sustained", "red_capped",
                          "downgrade_hold", "held_unconfirmed", "no_data")
RULE_CODE = {name: code for code, name in enumerate(RULES)}
STATUSES: tuple[str, ...] = ("ok", "degraded", "no_data")
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}


@dataclass
class PointFusion:
    """Fusion state of the evaluated points (rows), updated by ``fuse``.

    level, candidate, raw: int8 levels; rule, status: codes of ``RULES`` and
    ``STATUSES``; clock, red_since: int64 ns (``NEVER`` if unset); until,
    since: (rows, 4) int64 ns for blue..red; contrib: (rows, 4) uint64.
    """

    level: np.ndarray
    clock: np.ndarray
    red_since: np.ndarray
    until: np.ndarray
    since: np.ndarray
    contrib: np.ndarray
    candidate: np.ndarray
    raw: np.ndarray
    rule: np.ndarray
    status: np.ndarray


@dataclass(frozen=True)
class Members:
    """The series of the evaluated points: ``row`` is the point's row in ``PointFusion``.

    level: the series' verdict (int8, -1 = no valid estimate); silent, stuck:
    sensor health at the evaluation time; bit: the series' bit in its point
    (uint64); group: independence key (unique per point and group);
    observed: event time (ns) of the series' verdict.
    """

    row: np.ndarray
    level: np.ndarray
    silent: np.ndarray
    stuck: np.ndarray
    bit: np.ndarray
    group: np.ndarray
    observed: np.ndarray


def fuse(state: PointFusion, members: Members, now: np.ndarray, *, red_hold_ns: np.ndarray,
         downgrade_hold_ns: np.ndarray, hold_unconfirmed: np.ndarray) -> PointFusion:
    """Fold the members' verdicts at event times ``now`` (per row) into ``state``.

    Pure: returns new arrays. Rows whose series are all silent keep their level
    and holds (status ``no_data``); the clock never runs backwards.
    """
    rows = state.level.size
    row = members.row
    clock = np.maximum(state.clock, np.asarray(now, dtype=np.int64))
    online = ~members.silent
    active = online & ~members.stuck
    valid = active & (members.level >= 0)

    n_members = np.bincount(row, minlength=rows)
    n_online = np.bincount(row, weights=online, minlength=rows)
    n_excluded = np.bincount(row, weights=~active, minlength=rows)
    no_data = n_online == 0
    status = np.where(no_data, STATUS_CODE["no_data"],
                      np.where(n_excluded > 0, STATUS_CODE["degraded"], STATUS_CODE["ok"]))
    status = np.where(n_members == 0, STATUS_CODE["no_data"], status).astype(np.int8)

    raw = np.zeros(rows, dtype=np.int8)
    np.maximum.at(raw, row[valid], members.level[valid])
    strong = valid & (members.level >= Level.ORANGE)
    groups = np.zeros(rows, np.int64)
    if strong.any():
        pairs = np.unique(np.stack([row[strong], members.group[strong]]), axis=1)
        groups = np.bincount(pairs[0], minlength=rows)
    first_red = np.full(rows, ACTIVE, dtype=np.int64)
    red = valid & (members.level == Level.RED)
    np.minimum.at(first_red, row[red], members.observed[red])
    is_red = raw == Level.RED
    red_since = np.where(is_red, np.where(state.red_since != NEVER, state.red_since, first_red),
                         NEVER)
    corroborated = is_red & (groups >= 2)
    sustained = is_red & ~corroborated & (clock - red_since >= red_hold_ns)
    capped = is_red & ~corroborated & ~sustained
    candidate = np.where(capped, Level.ORANGE, raw).astype(np.int8)
    rule = np.where(corroborated, RULE_CODE["red_corroborated"], np.where(
        sustained, RULE_CODE["red_sustained"], np.where(
            capped, RULE_CODE["red_capped"], RULE_CODE["max_indicator"]))).astype(np.int8)

    raised = valid & (members.level >= candidate[row])
    mask = np.zeros(rows, dtype=np.uint64)
    np.bitwise_or.at(mask, row[raised], members.bit[raised])
    confirmed = np.zeros(rows, dtype=np.uint64)
    np.bitwise_or.at(confirmed, row[valid], members.bit[valid])

    levels = np.arange(1, 5)[None, :]
    at_or_above = candidate[:, None] >= levels
    was_active = state.until == ACTIVE
    until = np.where(at_or_above, ACTIVE, np.where(was_active, clock[:, None], state.until))
    since = np.where(at_or_above, np.where(was_active, state.since, clock[:, None]), state.since)
    contrib = np.where(at_or_above, mask[:, None], state.contrib)
    horizon = clock - downgrade_hold_ns
    expired = (until != ACTIVE) & (until != REMOVED) & (until <= horizon[:, None])
    unconfirmed = (contrib & ~confirmed[:, None]) != 0
    blocked = expired & hold_unconfirmed[:, None] & unconfirmed
    until = np.where(expired & ~blocked, REMOVED, until)
    kept = until != REMOVED
    level = np.max(np.where(kept, levels, 0), axis=1).astype(np.int8)
    top = np.clip(level.astype(np.int64) - 1, 0, 3)[:, None]
    held = level > candidate
    top_blocked = np.take_along_axis(blocked, top, axis=1)[:, 0]
    rule = np.where(held, np.where(top_blocked, RULE_CODE["held_unconfirmed"],
                                   RULE_CODE["downgrade_hold"]), rule).astype(np.int8)

    # rule 5: a point whose sensors are all silent keeps level and holds
    keep = no_data[:, None]
    return PointFusion(
        level=np.where(no_data, state.level, level).astype(np.int8), clock=clock,
        red_since=np.where(no_data, state.red_since, red_since),
        until=np.where(keep, state.until, until), since=np.where(keep, state.since, since),
        contrib=np.where(keep, state.contrib, contrib),
        candidate=np.where(no_data, state.candidate, candidate).astype(np.int8),
        raw=np.where(no_data, state.raw, raw).astype(np.int8),
        rule=np.where(no_data, RULE_CODE["no_data"], rule).astype(np.int8), status=status)


def empty_state(rows: int) -> PointFusion:
    """The state of points never evaluated (level none, no holds)."""
    return PointFusion(
        level=np.zeros(rows, np.int8), clock=np.full(rows, NEVER, np.int64),
        red_since=np.full(rows, NEVER, np.int64), until=np.full((rows, 4), REMOVED, np.int64),
        since=np.full((rows, 4), NEVER, np.int64), contrib=np.zeros((rows, 4), np.uint64),
        candidate=np.zeros(rows, np.int8), raw=np.zeros(rows, np.int8),
        rule=np.zeros(rows, np.int8), status=np.full(rows, STATUS_CODE["no_data"], np.int8))
