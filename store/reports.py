"""Response times: from detection to issue, acknowledgement, action and lifting.

Per warning the lifecycle records when it was detected (event time of the
opening assessment, or the time an officer raised it), issued, first
acknowledged, first acted on by an officer (a level change or the lift) and
lifted. This module groups warnings by the province of their point and the
highest level they reached, and gives the median and the 90th percentile of
each duration, in seconds.

Percentiles interpolate linearly between the closest ranks (numpy's default,
PostgreSQL's ``percentile_cont``): for 1, 2, 3, 4 the median is 2.5 and the
90th percentile 3.7. They are computed here rather than in SQL because
SQLite has no percentile function and the groups are small.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.tables import RiskPointRow, WarningRow

DURATIONS: dict[str, tuple[str, str]] = {
    "detection_to_issue": ("detected", "issued"),
    "issue_to_acknowledgement": ("issued", "acknowledged"),
    "issue_to_action": ("issued", "acted"),
    "detection_to_lift": ("detected", "lifted"),
}
"""Reported durations: name -> (from, to) lifecycle times."""


@dataclass(frozen=True, slots=True)
class Stat:
    count: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> Stat:
        if not seconds:
            return cls(0, None, None)
        values = np.asarray(seconds, dtype=float)
        median, p90 = np.percentile(values, [50, 90])
        return cls(len(seconds), round(float(median), 3), round(float(p90), 3))  # to the ms


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    province_adcode: str | None
    province: str | None
    level: str
    warnings: int
    durations: dict[str, Stat]


def response_times(session: Session, *, scope: Collection[str] | None = None,
                   provinces: Collection[str] | None = None,
                   levels: Collection[str] | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> list[ResponseTimes]:
    """Durations per (province of the point, peak level) of the warnings detected in
    [since, until]; ``scope`` and ``provinces`` are province adcodes (None: all)."""
    detected = func.coalesce(WarningRow.detected_at, WarningRow.opened_at)
    level = func.coalesce(WarningRow.peak_level, WarningRow.level)
    query = (select(RiskPointRow.province_adcode, RiskPointRow.province, level.label("level"),
                    detected.label("detected"), WarningRow.issued_at.label("issued"),
                    WarningRow.acknowledged_at.label("acknowledged"),
                    WarningRow.acted_at.label("acted"), WarningRow.lifted_at.label("lifted"))
             .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id))
    for adcodes in (scope, provinces):
        if adcodes is not None:
            query = query.where(RiskPointRow.province_adcode.in_(sorted(adcodes)))
    if levels:
        query = query.where(level.in_(sorted(levels)))
    if since is not None:
        query = query.where(detected >= since)
    if until is not None:
        query = query.where(detected <= until)
    groups: dict[tuple[str | None, str], list] = defaultdict(list)
    names: dict[str | None, str | None] = {}
    for row in session.execute(query):
        groups[(row.province_adcode, row.level)].append(row)
        names.setdefault(row.province_adcode, row.province)
    return [_group(adcode, names[adcode], level_name, rows)
            for (adcode, level_name), rows in sorted(groups.items(), key=_order)]


def _order(item) -> tuple[str, int]:
    (adcode, level), _ = item
    rank = ("blue", "yellow", "orange", "red")
    return adcode or "", rank.index(level) if level in rank else len(rank)


def _group(adcode: str | None, name: str | None, level: str, rows: list) -> ResponseTimes:
    durations = {}
    for metric, (start, end) in DURATIONS.items():
        seconds = [(getattr(row, end) - getattr(row, start)).total_seconds() for row in rows
                   if getattr(row, start) is not None and getattr(row, end) is not None]
        durations[metric] = Stat.of(seconds)
    return ResponseTimes(adcode, name, level, len(rows), durations)
