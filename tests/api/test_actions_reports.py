"""GET /reports/response-times over HTTP: the hand-computed numbers of
tests/store/test_lifecycle_reports.py, filtered and scoped per caller."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from store.db import make_engine, session_factory
from tests.api.seed import bearer
from tests.store.test_lifecycle_reports import history  # noqa: F401 - the fixture

pytestmark = [pytest.mark.kafka]

WINDOW = {"since": "2026-07-01T07:00:00Z", "until": "2026-07-01T09:00:00Z"}


@pytest.fixture
def sessions(seeded_url: str):
    engine = make_engine(seeded_url)
    yield session_factory(engine)
    engine.dispose()


def report(api: TestClient, user: str, **params) -> list[dict]:
    response = api.get("/reports/response-times", params={**WINDOW, **params},
                       headers=bearer(user))
    assert response.status_code == 200, response.text
    return response.json()["groups"]


def test_the_numbers_per_province_and_level(api: TestClient, history):  # noqa: F811
    [group] = report(api, "analyst", province="510000", level="orange")
    assert (group["province"], group["level"], group["warnings"]) == ("四川省", "orange", 4)
    assert group["durations"] == {
        "detection_to_issue": {"count": 4, "median_s": 150.0, "p90_s": 474.0},
        "issue_to_acknowledgement": {"count": 3, "median_s": 900.0, "p90_s": 1380.0},
        "issue_to_action": {"count": 2, "median_s": 1500.0, "p90_s": 1900.0},
        "detection_to_lift": {"count": 1, "median_s": 7200.0, "p90_s": 7200.0},
    }


def test_each_caller_sees_its_provinces(api: TestClient, history):  # noqa: F811
    assert [(g["province_adcode"], g["level"]) for g in report(api, "national")] == [
        ("510000", "orange"), ("530000", "red")]
    assert [g["province_adcode"] for g in report(api, "yunnan")] == ["530000"]
    assert [g["province_adcode"] for g in report(api, "sichuan", province="四川省")] == ["510000"]
    refused = api.get("/reports/response-times", params={"province": "云南省"},
                      headers=bearer("sichuan"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "provincial officer of 510000 may not read reports of 530000")
