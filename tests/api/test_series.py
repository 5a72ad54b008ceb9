"""GET /risk-points/{id}/series on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose

from api.routes.series import SeriesResponse
from store.db import make_engine, session_factory, session_scope
from store.history import record_levels, upsert_aggregates
from streams.codec import datetime_to_ns
from streams.history import aggregate_readings
from tests.store.conftest import assess

pytestmark = [pytest.mark.kafka]

D0 = datetime(2026, 7, 1, tzinfo=UTC)
SLOPE = 2.0  # mm/day
STEP = timedelta(minutes=2)
RATE_TOLERANCE = 1e-6
"""mm/day and degrees: a least-squares fit of an exact line is exact up to rounding."""


@pytest.fixture
def history(seeded_url: str) -> None:
    """Three days of G1 at P1 on the line 10 mm + 2 mm/day, every 2 minutes; R1 rain; levels."""
    times = np.array([datetime_to_ns(D0 + k * STEP) for k in range(3 * 720)])
    days = (times - times[0]) / 86_400e9
    keys = [("P1", "G1", "gnss"), ("P1", "R1", "rain_gauge")]
    rows = aggregate_readings(keys, np.zeros(times.size, np.int64), times, 10.0 + SLOPE * days,
                              np.arange(times.size), 600)
    rows += aggregate_readings(keys, np.ones(3, np.int64), times[:3], np.array([1.0, 3.0, 2.0]),
                               np.arange(3), 600)
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        upsert_aggregates(session, rows)
        # conftest's assess() counts minutes from 2026-07-01T08:00Z
        record_levels(session, [assess("P1", "yellow", -9 * 60), assess("P1", "blue", -2 * 60),
                                assess("P1", "orange", 40 * 60), assess("P2", "red", 0)])
    engine.dispose()


def get(client: TestClient, **params) -> dict:
    response = client.get("/risk-points/P1/series", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_shape_samples_and_level_timeline(client: TestClient, history) -> None:
    body = get(client, kind="gnss", **{"from": "2026-07-01T00:00:00Z", "to": "2026-07-04T00:00:00Z"},
               max_samples=50)
    assert (body["point_id"], body["kind"], body["unit"]) == ("P1", "gnss", "mm")
    assert (body["velocity_unit"], body["tangent_angle_unit"]) == ("mm/day", "degrees")
    assert (body["from"], body["to"]) == ("2026-07-01T00:00:00+00:00", "2026-07-04T00:00:00+00:00")
    assert (body["max_samples"], body["sample_seconds"]) == (50, 7200)
    (g1,) = body["sensors"]
    assert g1["sensor_id"] == "G1"
    columns = ("t", "n", "mean", "min", "max", "last", "last_at", "velocity", "tangent_angle")
    assert {len(g1[name]) for name in columns} == {36}
    assert g1["t"][:2] == ["2026-07-01T00:00:00+00:00", "2026-07-01T02:00:00+00:00"]
    assert g1["n"][0] == 60 and sum(g1["n"]) == 3 * 720
    assert g1["last_at"][0] == "2026-07-01T01:58:00+00:00"
    assert [(e["observed_at"], e["level"], e["tier"]) for e in body["levels"]] == [
        ("2026-07-01T06:00:00+00:00", "blue", "IV"), ("2026-07-03T00:00:00+00:00", "orange", "II")]
    assert body["level_at_from"]["level"] == "yellow"
    SeriesResponse.model_validate(body)  # the documented shape is the served one


def test_velocity_and_tangent_angle_of_a_line_match_its_slope(client: TestClient, history) -> None:
    for max_samples in (50, 500):
        body = get(client, kind="gnss", max_samples=max_samples,
                   **{"from": "2026-07-01T00:00:00Z", "to": "2026-07-03T23:59:00Z"})
        (g1,) = body["sensors"]
        velocity = [v for v in g1["velocity"] if v is not None]
        angle = [a for a in g1["tangent_angle"] if a is not None]
        assert len(velocity) > len(g1["t"]) // 2  # all but the first day's warm-up
        assert_allclose(velocity, SLOPE, atol=RATE_TOLERANCE)
        assert_allclose(g1["v_bar"], SLOPE, atol=RATE_TOLERANCE)
        assert g1["v_bar_source"] == "first_days"
        assert_allclose(angle, 45.0, atol=RATE_TOLERANCE)  # steady creep: v = v̄


def test_at_most_max_samples_per_sensor(client: TestClient, history) -> None:
    window = {"from": "2026-07-01T00:00:00Z", "to": "2026-07-04T00:00:00Z"}
    for max_samples in (1, 2, 3, 100, 5000):
        (g1,) = get(client, kind="gnss", max_samples=max_samples, **window)["sensors"]
        assert 1 <= len(g1["t"]) <= max_samples
        assert sum(g1["n"]) == 3 * 720


def test_non_displacement_kinds_have_no_rates_and_registered_sensors_are_listed(
        client: TestClient, history) -> None:
    body = get(client, kind="rain_gauge", **{"from": "2026-07-01T00:00:00Z",
                                             "to": "2026-07-01T09:00:00+08:00"})
    (r1,) = body["sensors"]
    assert (body["unit"], r1["n"], r1["mean"], r1["max"]) == ("mm/h", [3], [2.0], [3.0])
    assert r1["velocity"] is None and r1["tangent_angle"] is None
    empty = get(client, kind="gnss", **{"from": "2026-08-01T00:00:00Z", "to": "2026-08-02T00:00:00Z"})
    assert [(s["sensor_id"], s["t"], s["velocity"]) for s in empty["sensors"]] == [("G1", [], None)]


def test_unknown_point_is_404(client: TestClient) -> None:
    response = client.get("/risk-points/NOPE/series", params={"kind": "gnss"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no risk point with id 'NOPE'"}


def error(client: TestClient, **params) -> tuple[list, str]:
    response = client.get("/risk-points/P1/series", params=params)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    return detail["loc"], detail["msg"]


def test_bad_queries_are_422_with_a_message(client: TestClient) -> None:
    loc, msg = error(client, kind="gnss", **{"from": "2026-07-01T00:00:00"})
    assert loc == ["query", "from"] and "no time zone" in msg
    loc, msg = error(client, kind="gnss", **{"from": "2026-07-02T00:00:00Z",
                                             "to": "2026-07-01T00:00:00Z"})
    assert loc == ["query", "to"] and "is before from" in msg
    loc, msg = error(client, kind="radar")
    assert loc == ["query", "kind"] and "gnss" in msg
    loc, _ = error(client)
    assert loc == ["query", "kind"]
    for bad in (0, 5001):
        loc, msg = error(client, kind="gnss", max_samples=bad)
        assert loc == ["query", "max_samples"]
    loc, _ = error(client, kind="gnss", to="yesterday")
    assert loc == ["query", "to"]


def test_default_range_is_the_last_day(client: TestClient) -> None:
    body = get(client, kind="gnss")
    start, end = (datetime.fromisoformat(body[key]) for key in ("from", "to"))
    assert end - start == timedelta(days=1)
    assert abs(end - datetime.now(UTC)) < timedelta(hours=1)
