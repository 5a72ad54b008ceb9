"""The notifier's pure parts: webhook signatures, backoff, HTTP statuses, who is told of
which event, and the e-mail text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from store.notifications import DueDelivery, RetryPolicy, SubscriptionView
from streams.notifier import decode_event, plan_deliveries, recipients
from streams.notify_email import compose
from streams.notify_webhook import outcome_of_status, sign, verify_signature
from streams.schemas import WarningEvent

T = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
BODY = b'{"a":1}'
SECRET = "gws_test-secret"


def event(transition: str = "opened", from_level: str = "none", to_level: str = "orange", *,
          jurisdictions: tuple[str, ...] = (), event_id: str = "E1") -> WarningEvent:
    return WarningEvent(
        event_id=event_id, warning_id="W1", point_id="P1", transition=transition,
        from_level=from_level, to_level=to_level, tier=None, hazard_type="landslide",
        point_name="Renhe border slope", province="四川省", county="仁和区", lon=101.5703,
        lat=26.4624, threatened_people=240, households=61, observed_at=T, issued_at=T,
        model="deformation", model_version="1", actor="system:scorer",
        jurisdictions=list(jurisdictions))


def subscription(id_: str, adcode: str, *, min_level: str = "blue", enabled: bool = True,
                 created_at: datetime = T - timedelta(days=1)) -> SubscriptionView:
    scope = "national" if adcode == "100000" else (
        "province" if adcode.endswith("0000") else "county")
    province = None if scope == "national" else adcode[:2] + "0000"
    return SubscriptionView(id_, f"sub {id_}", adcode, scope, province, min_level, "webhook",
                            "http://127.0.0.1/hook", enabled, "national", created_at, None)


SICHUAN = subscription("sichuan", "510000")
RENHE = subscription("renhe", "510411")
YUNNAN = subscription("yunnan", "530000")
NATIONAL = subscription("national", "100000")
ALL = (SICHUAN, RENHE, YUNNAN, NATIONAL)
OWN_PLACES = frozenset({"510000", "510411"})


def names(chosen) -> list[str]:
    return sorted(s.id for s in chosen)


# --- signatures ---------------------------------------------------------------------------

def test_the_signature_matches_an_hmac_computed_by_openssl():
    # printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'gws_test-secret'
    assert sign(SECRET, 1_700_000_000, BODY) == (
        "sha256=58802bbdbc163a24ca05a54c1332c0b38c89cfbc94ee762021475aa0342b47cd")


def test_a_receiver_accepts_the_signed_body_and_refuses_any_change():
    signature = sign(SECRET, 1_700_000_000, BODY)
    now = 1_700_000_060.0
    assert verify_signature(SECRET, "1700000000", signature, BODY, now=now)
    assert not verify_signature(SECRET, "1700000000", signature, b'{"a":2}', now=now)
    assert not verify_signature(SECRET, "1700000001", signature, BODY, now=now)
    assert not verify_signature("gws_other", "1700000000", signature, BODY, now=now)
    assert not verify_signature(SECRET, "1700000000", signature, BODY, now=now + 600)
    assert not verify_signature(SECRET, None, signature, BODY, now=now)
    assert not verify_signature(SECRET, "1700000000", None, BODY, now=now)


def test_a_receiver_refuses_headers_that_are_not_ascii_instead_of_raising():
    now = 1_700_000_000.0
    signature = sign(SECRET, 1_700_000_000, BODY)
    assert not verify_signature(SECRET, "1700000000", signature[:-1] + "é", BODY, now=now)
    assert not verify_signature(SECRET, "17000000０0", signature, BODY, now=now)


# --- backoff and statuses -----------------------------------------------------------------

def test_backoff_doubles_from_the_first_delay_up_to_the_limit():
    policy = RetryPolicy(first_delay_s=30, max_delay_s=300)
    assert [policy.delay(n) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]
    assert RetryPolicy(first_delay_s=1, max_delay_s=1e9).delay(1000) == 1e9


def test_a_backoff_policy_refuses_nonsense():
    with pytest.raises(ValidationError, match="max_delay_s must be at least first_delay_s"):
        RetryPolicy(first_delay_s=60, max_delay_s=30)
    with pytest.raises(ValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        RetryPolicy().delay(0)


@pytest.mark.parametrize(("status", "delivered", "retry"), [
    (200, True, False), (202, True, False), (204, True, False),
    (408, False, True), (429, False, True), (500, False, True), (503, False, True),
    (400, False, False), (401, False, False), (404, False, False), (410, False, False),
    (301, False, False),
])
def test_http_statuses_decide_delivered_retried_or_failed(status, delivered, retry):
    outcome = outcome_of_status(status)
    assert (outcome.delivered, outcome.retry, outcome.status_code) == (delivered, retry, status)


# --- who is told --------------------------------------------------------------------------

def test_a_warning_notifies_its_province_county_and_the_national_centre_not_others():
    assert names(recipients(event(), OWN_PLACES, ALL)) == ["national", "renhe", "sichuan"]


def test_a_warning_near_a_border_notifies_the_neighbouring_province_too():
    near = event(jurisdictions=("510000", "510411", "530000", "532327"))
    assert names(recipients(near, OWN_PLACES, ALL)) == ["national", "renhe", "sichuan", "yunnan"]
    stored = frozenset({*OWN_PLACES, "530000", "532327"})  # from the database, not the event
    assert names(recipients(event(), stored, ALL)) == ["national", "renhe", "sichuan", "yunnan"]


def test_min_level_is_compared_with_the_higher_of_the_two_levels():
    orange_up = [replace(s, min_level="orange") for s in ALL]
    assert names(recipients(event(to_level="yellow"), OWN_PLACES, orange_up)) == []
    lifted = event("lifted", "red", "none")
    assert names(recipients(lifted, OWN_PLACES, orange_up)) == ["national", "renhe", "sichuan"]
    lowered = event("downgraded", "orange", "blue")
    assert names(recipients(lowered, OWN_PLACES, [replace(SICHUAN, min_level="red")])) == []


def test_a_missed_deadline_renotifies_the_jurisdictions_and_escalates_to_the_national_centre():
    assert names(recipients(event("renotified", "red", "red"), OWN_PLACES, ALL)) == [
        "renhe", "sichuan"]
    assert names(recipients(event("escalated_to_national", "red", "red"), OWN_PLACES, ALL)) == [
        "national"]
    assert recipients(event("acknowledged", "red", "red"), OWN_PLACES, ALL) == []


def test_disabled_and_newer_subscriptions_are_not_told():
    late = replace(SICHUAN, created_at=T + timedelta(seconds=1))
    assert recipients(event(), OWN_PLACES, [late, replace(RENHE, enabled=False)]) == []


def test_planning_skips_unissued_openings_and_takes_a_repeated_event_once():
    opened, again, other = event(), event(), event("escalated", "orange", "red", event_id="E2")
    planned = plan_deliveries([opened, again, other], {"W1": OWN_PLACES}, frozenset({"E2"}),
                              [SICHUAN, YUNNAN])
    assert [(d.subscription_id, d.event_id, d.level) for d in planned] == [("sichuan", "E1",
                                                                            "orange")]
    assert planned[0].payload["point_name"] == "Renhe border slope"


def test_a_bad_message_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="invalid JSON"):
        decode_event(b"{not json")
    with pytest.raises(ValueError, match="to_level"):
        decode_event(event().model_dump_json().replace('"orange"', '"purple"').encode())
    with pytest.raises(ValueError, match="tombstone"):
        decode_event(None)


# --- the e-mail ---------------------------------------------------------------------------

def test_the_email_says_level_point_place_people_and_links_the_warning():
    payload = event("escalated", "orange", "red").model_dump(mode="json")
    delivery = DueDelivery("D1", 0, "S1", "Sichuan duty desk", "email", "duty@sc.example.cn",
                           None, payload)
    message = compose(delivery, sender="geowarn@example.cn",
                      link="https://geowarn.example.cn/warnings/W1")
    text = message.get_content()
    assert message["Subject"] == ("[geowarn] RED (tier I) landslide at Renhe border slope "
                                  "(仁和区, 四川省): warning raised")
    assert message["To"] == "duty@sc.example.cn" and message["X-Geowarn-Delivery"] == "D1"
    for expected in ("RED (tier I) (was ORANGE (tier II))", "Renhe border slope (P1)",
                     "26.46240 N, 101.57030 E", "仁和区, 四川省", "240 in 61 households",
                     "https://geowarn.example.cn/warnings/W1"):
        assert expected in text
