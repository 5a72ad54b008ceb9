"""GET /reports/response-times: how fast warnings were issued, acknowledged, acted on
and lifted, per province and level, within the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, Field

from api.deps import LevelsDep, ProvinceQuery, ReportReader, SessionDep
from api.models import ErrorMessage
from api.params import check_window, require_aware, restore_plus
from api.responses import OrjsonResponse
from store.jurisdictions import province_adcodes
from store.reports import DURATIONS, response_times

router = APIRouter(prefix="/reports", tags=["reports"])


class DurationStat(BaseModel):
    count: int = Field(description="warnings that have both times")
    median_s: float | None
    p90_s: float | None = Field(description="90th percentile, linear interpolation")


class ResponseTimeGroup(BaseModel):
    province_adcode: str | None
    province: str | None
    level: str = Field(description="the highest level the warnings reached")
    warnings: int
    durations: dict[str, DurationStat] = Field(description=", ".join(
        f"{name}: {start} → {end}" for name, (start, end) in DURATIONS.items()))


class ResponseTimeReport(BaseModel):
    groups: list[ResponseTimeGroup]


TimeQuery = Annotated[datetime | None, BeforeValidator(restore_plus)]


@router.get("/response-times", response_class=OrjsonResponse,
            responses={200: {"model": ResponseTimeReport}, 403: {"model": ErrorMessage}},
            summary="Median and 90th-percentile response times per province and level")
def response_time_report(
    session: SessionDep, user: ReportReader, levels: LevelsDep, province: ProvinceQuery = None,
    since: Annotated[TimeQuery, Query(description="ISO 8601 with a time zone: warnings "
                                                  "detected at or after it")] = None,
    until: Annotated[TimeQuery, Query(description="ISO 8601 with a time zone: warnings "
                                                  "detected at or before it")] = None,
) -> OrjsonResponse:
    """Warnings detected in [since, until], grouped by their point's province and the
    highest level they reached; a scoped caller sees its provinces only."""
    since, until = require_aware("since", since), require_aware("until", until)
    check_window(since, until)
    wanted = None
    if province is not None:
        wanted = province_adcodes(session, province)
        user.check_scope(wanted or [province], "read", "reports")
    groups = response_times(session, scope=user.scope, provinces=wanted, levels=levels,
                            since=since, until=until)
    return OrjsonResponse({"groups": [
        {"province_adcode": g.province_adcode, "province": g.province, "level": g.level,
         "warnings": g.warnings,
         "durations": {name: {"count": s.count, "median_s": s.median_s, "p90_s": s.p90_s}
                       for name, s in g.durations.items()}}
        for g in groups]})
