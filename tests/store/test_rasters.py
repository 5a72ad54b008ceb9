"""The raster repositories on SQLite and PostgreSQL: nowcast runs replaced by id, county
filters, candidate areas inserted once and decided once, velocity samples upserted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.rasters import (
    ACCEPTED,
    CANDIDATE,
    REJECTED,
    CandidateArea,
    CandidateAreaDecidedError,
    CandidateAreaNotFoundError,
    CountySummary,
    InsarSample,
    NowcastRun,
    add_candidate_areas,
    decide_candidate_area,
    get_candidate_area,
    insar_samples,
    latest_nowcast_run,
    list_candidate_areas,
    nowcast_cog_path,
    nowcast_counties,
    save_insar_samples,
    save_nowcast_run,
)
from store.tables import NowcastCountyRow
from tests.store.conftest import T0

SQUARE = {"type": "Polygon", "coordinates": [[[103.0, 31.0], [103.01, 31.0], [103.01, 31.01],
                                              [103.0, 31.01], [103.0, 31.0]]]}


def run(run_id: str, hours: float = 0.0, kind: str = "observed") -> NowcastRun:
    return NowcastRun(id=run_id, kind=kind, product="rainfall_observed", location=f"/r/{run_id}",
                      valid_at=T0 + timedelta(hours=hours), created_at=T0,
                      model_version="nowcast-lhasa-1.0", evidence={"cells_by_level": {"red": 3}})


def county(adcode: str, max_level: int, province: str = "四川省", people: int = 0) -> CountySummary:
    shares = {"none": 0.5, "blue": 0.0, "yellow": 0.0, "orange": 0.0, "red": 0.5}
    return CountySummary(adcode=adcode, name=f"C{adcode}", province=province,
                         province_adcode="510000" if province == "四川省" else "530000",
                         max_level=max_level, shares=shares, data_coverage=1.0,
                         data_area_m2=1e8, county_area_m2=1e8, points_at_or_above=1,
                         threatened_population=people)


def area(area_id: str, peak: float = -20.0, hours: float = 0.0) -> CandidateArea:
    return CandidateArea(id=area_id, status=CANDIDATE, product="insar_velocity",
                         location="/r/velocity.h5", valid_at=T0 + timedelta(hours=hours),
                         geometry=SQUARE, lon=103.005, lat=31.005, area_m2=1e6, pixel_count=40,
                         mean_velocity_mm_yr=peak / 2, peak_velocity_mm_yr=peak,
                         evidence={"indicator": "insar_los_velocity"}, created_at=T0)


def test_a_run_is_replaced_by_id_with_its_counties_and_the_newest_is_latest(sessions):
    with session_scope(sessions) as session:
        save_nowcast_run(session, run("A"), [county("510101", 4), county("510102", 0)])
        save_nowcast_run(session, run("B", hours=1), [county("510101", 2, people=30)])
        save_nowcast_run(session, run("F", hours=5, kind="forecast"), [])
    with session_scope(sessions) as session:
        save_nowcast_run(session, run("B", hours=1), [county("510101", 3, people=40),
                                                       county("530101", 1, province="云南省")])
    with sessions() as session:
        latest = latest_nowcast_run(session)
        assert latest.id == "B" and latest.evidence == {"cells_by_level": {"red": 3}}
        assert [(c.adcode, c.max_level, c.threatened_population)
                for c in nowcast_counties(session, "B")] == [("510101", 3, 40), ("530101", 1, 0)]
        assert [c.adcode for c in nowcast_counties(session, "B", province="510000")] == ["510101"]
        assert [c.adcode for c in nowcast_counties(session, "B", province="云南省")] == ["530101"]
        assert [c.adcode for c in nowcast_counties(session, "B", min_level=2)] == ["510101"]
        assert latest_nowcast_run(session, "forecast").id == "F"
        assert session.scalar(select(func.count()).select_from(NowcastCountyRow)) == 4


def test_candidate_areas_are_inserted_once_and_a_decision_survives_reingestion(sessions):
    with session_scope(sessions) as session:
        assert add_candidate_areas(session, [area("a1"), area("a2", hours=1)]) == 2
    with session_scope(sessions) as session:
        decide_candidate_area(session, "a1", status=REJECTED, reason="road cut, known")
    with session_scope(sessions) as session:
        assert add_candidate_areas(session, [area("a1"), area("a2", hours=1), area("a3")]) == 1
    with sessions() as session:
        pending, total = list_candidate_areas(session)
        assert [a.id for a in pending] == ["a2", "a3"] and total == 2
        rejected = get_candidate_area(session, "a1")
        assert (rejected.status, rejected.decision_reason) == (REJECTED, "road cut, known")
        assert rejected.geometry == SQUARE
        assert list_candidate_areas(session, status="all", limit=1, offset=1)[1] == 3


def test_a_decision_is_final_and_an_unknown_area_is_named(sessions):
    with session_scope(sessions) as session:
        add_candidate_areas(session, [area("a1")])
    with session_scope(sessions) as session:
        decided = decide_candidate_area(session, "a1", status=ACCEPTED, point_id="insar-a1")
    assert (decided.status, decided.point_id) == (ACCEPTED, "insar-a1") and decided.decided_at
    with (pytest.raises(CandidateAreaDecidedError, match="already accepted as risk point insar-a1"),
          session_scope(sessions) as session):
        decide_candidate_area(session, "a1", status=REJECTED, reason="changed my mind")
    with (pytest.raises(CandidateAreaNotFoundError, match="nope"),
          session_scope(sessions) as session):
        decide_candidate_area(session, "nope", status=REJECTED, reason="x")


def test_velocity_samples_are_upserted_per_point_and_product(sessions):
    first = InsarSample("P1", "prod-1", "/r/v.h5", T0, -12.5)
    with session_scope(sessions) as session:
        save_insar_samples(session, [first, InsarSample("P1", "prod-2", "/r/w.h5",
                                                        T0 + timedelta(days=12), -14.0)])
    with session_scope(sessions) as session:
        save_insar_samples(session, [InsarSample("P1", "prod-1", "/r/v.h5", T0, -12.0)])
    with sessions() as session:
        assert [(s.product_id, s.velocity_mm_yr) for s in insar_samples(session, "P1")] == [
            ("prod-1", -12.0), ("prod-2", -14.0)]


def test_nowcast_files_are_named_by_kind(tmp_path):
    assert nowcast_cog_path(tmp_path, "observed") == tmp_path / "latest.tif"
    assert nowcast_cog_path(tmp_path, "forecast") == tmp_path / "forecast.tif"
    with pytest.raises(ValueError, match="observed, forecast"):
        nowcast_cog_path(tmp_path, "hindcast")
