"""/subscriptions: officers subscribe their provinces (or, nationally, anything) to warning
notifications; validation, scope, the secret shown once, disabling and the delivery log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from store.notifications import NewDelivery, enqueue_deliveries
from tests.api.seed import bearer

pytestmark = [pytest.mark.kafka]

SICHUAN_HOOK = {"name": "Sichuan duty desk", "adcode": "510000", "min_level": "II",
                "channel": "webhook", "target": "https://ews.sc.example.cn/geowarn"}


def test_a_national_officer_subscribes_and_sees_the_secret_once(api):
    created = api.post("/subscriptions", json=SICHUAN_HOOK, headers=bearer("national"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("gws_") and created.headers["Location"] == (
        f"/subscriptions/{body['id']}")
    assert (body["scope"], body["min_level"], body["enabled"], body["created_by"]) == (
        "province", "orange", True, "national")
    read = api.get(f"/subscriptions/{body['id']}", headers=bearer("sichuan"))
    assert read.status_code == 200 and "secret" not in read.json()
    listed = api.get("/subscriptions", headers=bearer("national")).json()["items"]
    assert [s["id"] for s in listed] == [body["id"]] and "secret" not in listed[0]
    national = api.post("/subscriptions", headers=bearer("national"), json={
        **SICHUAN_HOOK, "adcode": "100000", "channel": "email",
        "target": "duty@ndrcc.example.cn"})
    assert national.status_code == 201 and national.json()["secret"] is None


def test_a_provincial_officer_manages_its_own_provinces_only(api):
    county = api.post("/subscriptions", headers=bearer("sichuan"), json={
        **SICHUAN_HOOK, "adcode": "510411", "channel": "email", "target": "duty@renhe.example.cn"})
    assert county.status_code == 201, county.text
    assert (county.json()["scope"], county.json()["province_adcode"]) == ("county", "510000")

    yunnan = api.post("/subscriptions", headers=bearer("sichuan"),
                      json={**SICHUAN_HOOK, "adcode": "530000"})
    assert yunnan.status_code == 403
    assert yunnan.json()["detail"] == ("provincial officer of 510000 may not manage notification "
                                       "subscriptions of 530000 (province 530000)")
    centre = api.post("/subscriptions", headers=bearer("sichuan"),
                      json={**SICHUAN_HOOK, "adcode": "100000"})
    assert centre.status_code == 403 and "national centre" in centre.json()["detail"]

    subscription = county.json()["id"]
    assert api.get(f"/subscriptions/{subscription}", headers=bearer("yunnan")).status_code == 403
    assert api.delete(f"/subscriptions/{subscription}",
                      headers=bearer("yunnan")).status_code == 403
    assert api.get("/subscriptions", headers=bearer("yunnan")).json()["items"] == []


def test_others_are_refused_with_the_reason(api):
    assert api.get("/subscriptions").status_code == 401
    refused = api.post("/subscriptions", json=SICHUAN_HOOK, headers=bearer("analyst"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("analyst may not manage notification subscriptions "
                                        "(national and provincial officers only)")
    assert api.get("/subscriptions", headers=bearer("responder")).status_code == 403


@pytest.mark.parametrize(("change", "message"), [
    ({"target": "ftp://ews.sc.example.cn/x"}, "must be an http:// or https:// URL"),
    ({"target": "https:///no-host"}, "must be an http:// or https:// URL"),
    ({"channel": "email", "target": "duty at sc"}, "must be one e-mail address"),
    ({"channel": "email", "target": "a@b.cn, c@d.cn"}, "must be one e-mail address"),
    ({"adcode": "990000"}, "990000 is not the adcode of a province or county"),
    ({"adcode": "51"}, "an adcode has six digits"),
    ({"min_level": "none"}, "min_level must be a warning level"),
    ({"min_level": "purple"}, "unknown warning level 'purple'"),
    ({"channel": "sms"}, "Input should be 'webhook' or 'email'"),
])
def test_bad_subscriptions_are_refused_saying_what_is_wrong(client, change, message):
    response = client.post("/subscriptions", json={**SICHUAN_HOOK, **change})
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


def test_disabling_keeps_the_log_and_fails_what_was_pending(client, app):
    subscription = client.post("/subscriptions", json=SICHUAN_HOOK).json()["id"]
    with Session(app.state.engine) as session, session.begin():
        enqueue_deliveries(session, [NewDelivery(subscription, "E1", "W1", "P1", "opened",
                                                 "orange", {"event_id": "E1"})],
                           now=datetime.now(UTC))
    log = client.get(f"/subscriptions/{subscription}/deliveries").json()["items"]
    assert [(d["event_id"], d["status"], d["attempts"]) for d in log] == [("E1", "pending", 0)]

    disabled = client.delete(f"/subscriptions/{subscription}")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    failed = client.get(f"/subscriptions/{subscription}/deliveries",
                        params={"status": "failed"}).json()["items"]
    assert [(d["status"], d["last_error"]) for d in failed] == [("failed", "subscription disabled")]
    assert client.get("/subscriptions", params={"enabled": "true"}).json()["items"] == []
    missing = client.get("/subscriptions/no-such-subscription/deliveries")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no subscription with id 'no-such-subscription'"
