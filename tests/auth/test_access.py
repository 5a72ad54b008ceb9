"""401 / 403 / 200 per role and province through the real app, on SQLite and PostgreSQL.

The seed (tests/api/seed.py) has W1 active at P1 and W2 lifted at P2 in Sichuan
(510000), W3 active at P3 in Yunnan (530000), and one user per role.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from fastapi.websockets import WebSocketDisconnect

from api.auth.credentials import issue_access_token
from store.db import make_engine, session_factory, session_scope
from store.users import set_disabled
from tests.api.seed import PASSWORD, TOKENS, bearer

pytestmark = [pytest.mark.kafka]

PUBLIC = {"/health", "/auth/token"}
ACK = {"action": "acknowledge", "reason": "seen on the console", "expected_version": 1}
READING = {"point_id": "P1", "sensor_id": "G1", "kind": "gnss",
           "observed_at": "2026-07-01T08:00:00Z", "value": 1.5, "unit": "mm"}


def features(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [feature["id"] for feature in response.json()["features"]]


def test_every_route_but_health_and_the_token_endpoint_needs_credentials(api: TestClient):
    paths = api.get("/openapi.json").json()["paths"]
    checked = 0
    for path, operations in paths.items():
        if path in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            response = api.request(method.upper(), url)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 10
    assert api.get("/health").status_code == 200
    assert api.get("/docs").status_code == 200


@pytest.mark.parametrize(("user", "method", "url", "body", "status"), [
    ("gateway", "GET", "/warnings", None, 403),
    ("responder", "GET", "/warnings", None, 200),
    ("analyst", "GET", "/warnings/W3", None, 200),
    ("sichuan", "GET", "/warnings/W1", None, 200),
    ("sichuan", "GET", "/warnings/W3", None, 403),
    ("yunnan", "GET", "/warnings/W1", None, 403),
    ("yunnan", "GET", "/risk-points/P3", None, 200),
    ("yunnan", "GET", "/risk-points/P1", None, 403),
    ("yunnan", "GET", "/risk-points/P1/series?kind=gnss", None, 403),
    ("sichuan", "GET", "/risk-points/P1/series?kind=gnss", None, 200),
    ("responder", "POST", "/warnings/W1/actions", ACK, 403),
    ("analyst", "POST", "/warnings/W1/actions", ACK, 403),
    ("gateway", "POST", "/warnings/W1/actions", ACK, 403),
    ("yunnan", "POST", "/warnings/W1/actions", ACK, 403),
    ("sichuan", "POST", "/warnings/W1/actions", ACK, 200),
    ("responder", "GET", "/reports/response-times", None, 403),
    ("analyst", "GET", "/reports/response-times", None, 200),
    ("sichuan", "GET", "/reports/response-times?province=530000", None, 403),
    ("sichuan", "POST", "/readings", READING, 403),
    ("gateway", "POST", "/readings", READING, 202),
    ("national", "POST", "/readings", READING, 202),
])
def test_role_and_province_decide(api: TestClient, user, method, url, body, status):
    headers = {**bearer(user), "Idempotency-Key": f"{user}-{method}-{url}"}
    response = api.request(method, url, json=body, headers=headers)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(("user", "url", "message"), [
    ("sichuan", "/warnings/W3", "provincial officer of 510000 may not read warnings of 530000"),
    ("sichuan", "/warnings?province=530000",
     "provincial officer of 510000 may not read warnings of 530000"),
    ("yunnan", "/risk-points/P1", "provincial officer of 530000 may not read risk points of 510000"),
    ("responder", "/reports/response-times", ("responder may not read reports (the role is "
                                             "read-only)")),
    ("gateway", "/risk-points", ("sensor gateway may not read risk points and warnings (it may "
                                "only publish readings)")),
])
def test_a_refusal_says_why(api: TestClient, user, url, message):
    response = api.get(url, headers=bearer(user))
    assert (response.status_code, response.json()) == (403, {"detail": message})


def test_a_provincial_officer_cannot_act_on_another_provinces_warning(api: TestClient):
    response = api.post("/warnings/W3/actions", json=ACK,
                        headers={**bearer("sichuan"), "Idempotency-Key": "k-w3"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "provincial officer of 510000 may not act on warnings of 530000"}
    assert api.get("/warnings/W3", headers=bearer("yunnan")).json()["properties"]["version"] == 1


def test_lists_keep_the_callers_provinces(api: TestClient):
    assert features(api.get("/warnings", headers=bearer("sichuan"))) == ["W1"]
    assert features(api.get("/warnings?status=all", headers=bearer("sichuan"))) == ["W1", "W2"]
    assert features(api.get("/warnings?status=all", headers=bearer("yunnan"))) == ["W3"]
    assert features(api.get("/warnings", headers=bearer("analyst"))) == ["W3", "W1"]
    assert features(api.get("/risk-points", headers=bearer("sichuan"))) == ["P1", "P2"]
    assert features(api.get("/risk-points?province=四川省", headers=bearer("sichuan"))) == [
        "P1", "P2"]
    report = api.get("/reports/response-times", headers=bearer("sichuan")).json()
    assert {group["province_adcode"] for group in report["groups"]} == {"510000"}


def test_a_password_gives_a_short_lived_access_token(api: TestClient, app):
    response = api.post("/auth/token", data={"username": "sichuan", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 30 * 60)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = api.get("/auth/me", headers=headers).json()
    assert me == {"name": "sichuan", "role": "provincial_officer", "provinces": ["510000"],
                  "permissions": ["act", "read", "reports", "review"], "authenticated_by": "jwt"}
    assert api.get("/warnings/W1", headers=headers).status_code == 200
    app.state.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
    expired = api.get("/warnings/W1", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert expired.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(("username", "password"), [
    ("sichuan", "wrong password"), ("nobody", PASSWORD), ("sichuan", "")])
def test_wrong_credentials_get_no_token(api: TestClient, username, password):
    response = api.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code in (401, 422)
    assert "access_token" not in response.text


def test_a_token_signed_with_another_key_is_refused(api: TestClient):
    forged = issue_access_token("national", key=type(api.app.state.auth.secret_key)("x" * 40),
                                lifetime=timedelta(minutes=5), now=datetime.now(UTC))
    response = api.get("/warnings", headers={"Authorization": f"Bearer {forged.token}"})
    assert response.status_code == 401


def test_a_disabled_users_tokens_stop_working_at_once(api: TestClient, seeded_url: str):
    login = api.post("/auth/token", data={"username": "sichuan", "password": PASSWORD}).json()
    jwt_headers = {"Authorization": f"Bearer {login['access_token']}"}
    assert api.get("/auth/me", headers=bearer("sichuan")).json()["authenticated_by"] == "api_token"
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        set_disabled(session, "sichuan", True, now=datetime.now(UTC))
    engine.dispose()
    for headers in (bearer("sichuan"), jwt_headers):
        response = api.get("/warnings", headers=headers)
        assert (response.status_code, response.json()) == (
            401, {"detail": "user sichuan is disabled"})
    relogin = api.post("/auth/token", data={"username": "sichuan", "password": PASSWORD})
    assert relogin.status_code == 401


def test_an_unknown_api_token_is_refused(api: TestClient):
    response = api.get("/warnings", headers={"Authorization": f"Bearer {TOKENS['sichuan']}x"})
    assert (response.status_code, response.json()) == (
        401, {"detail": "unknown or revoked API token"})


def test_the_push_socket_needs_read_access(api: TestClient):
    with pytest.raises(WebSocketDisconnect) as refused, api.websocket_connect("/ws/warnings"):
        pass
    assert refused.value.code == 1008 and refused.value.reason.startswith("authentication")
    with pytest.raises(WebSocketDisconnect) as refused, api.websocket_connect(
            f"/ws/warnings?access_token={TOKENS['gateway']}"):
        pass
    assert "may only publish readings" in refused.value.reason
    with api.websocket_connect("/ws/warnings?province=530000", headers=bearer("sichuan")
                               ) as socket, pytest.raises(WebSocketDisconnect) as refused:
        socket.receive_json()  # accepted, then closed with the reason
    assert refused.value.reason == "provincial officer of 510000 may not read warnings of 530000"
    with api.websocket_connect(f"/ws/warnings?access_token={TOKENS['responder']}") as socket:
        assert socket.receive_json()["type"] == "hello"
