"""Passwords, API tokens, access tokens and what each role may do: no app, no database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from api.auth.credentials import (
    InvalidAccessToken,
    decode_access_token,
    hash_password,
    is_api_token,
    issue_access_token,
    new_api_token,
    token_digest,
    verify_password,
)
from api.auth.roles import Permission, Principal, Role, check_role_scope
from api.errors import OutsideScope, RoleNotAllowed
from api.officers import RedactTokens

KEY = SecretStr("a-test-signing-key-of-at-least-32-bytes")
NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_passwords_are_argon2_hashes_that_verify_only_the_password():
    stored = hash_password("s3cret words")
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    assert verify_password(stored, "s3cret words")
    assert not verify_password(stored, "s3cret word")
    assert not verify_password(None, "s3cret words")  # no such user: same answer, same cost
    assert not verify_password("not a hash", "s3cret words")


def test_api_tokens_are_random_and_only_their_digest_is_kept():
    first, second = new_api_token(), new_api_token()
    assert first != second and is_api_token(first) and len(first) == 4 + 43
    assert token_digest(first) == token_digest(first) != token_digest(second)
    assert first not in token_digest(first) and len(token_digest(first)) == 64


def test_an_access_token_names_its_user_until_it_expires():
    token = issue_access_token("alice", key=KEY, lifetime=timedelta(minutes=30), now=NOW)
    assert token.expires_at == NOW + timedelta(minutes=30)
    assert decode_access_token(token.token, key=KEY, now=NOW + timedelta(minutes=29)) == "alice"
    with pytest.raises(InvalidAccessToken, match="expired"):
        decode_access_token(token.token, key=KEY, now=NOW + timedelta(minutes=30))


@pytest.mark.parametrize("forge", [
    lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
    lambda t: jwt.encode({"sub": "alice", "iss": "geowarn", "iat": 0, "exp": 2**40},
                         "another-key-of-at-least-thirty-two-bytes", algorithm="HS256"),
    lambda t: jwt.encode({"sub": "alice", "iss": "geowarn", "iat": 0, "exp": 2**40}, None,
                         algorithm="none"),
    lambda t: "not.a.jwt",
])
def test_a_forged_or_malformed_access_token_is_refused(forge):
    token = issue_access_token("alice", key=KEY, lifetime=timedelta(minutes=30), now=NOW).token
    with pytest.raises(InvalidAccessToken, match="invalid access token"):
        decode_access_token(forge(token), key=KEY, now=NOW)


@pytest.mark.parametrize(("role", "allowed"), [
    (Role.national_officer, set(Permission)),
    (Role.provincial_officer, {Permission.read, Permission.act, Permission.review,
                               Permission.reports}),
    (Role.analyst, {Permission.read, Permission.review, Permission.reports}),
    (Role.responder, {Permission.read}),
    (Role.sensor_gateway, {Permission.publish_readings}),
])
def test_permissions_per_role(role, allowed):
    provinces = frozenset({"510000"}) if role == Role.provincial_officer else frozenset()
    principal = Principal("someone", role, provinces)
    assert {p for p in Permission if principal.can(p)} == allowed
    for permission in set(Permission) - allowed:
        with pytest.raises(RoleNotAllowed, match=f"may not {permission.value}"):
            principal.require(permission)


def test_the_scope_says_who_may_not_do_what_where():
    officer = Principal("sc", Role.provincial_officer, frozenset({"510000"}))
    officer.check_scope({"510000", "510411"}, "read")
    officer.check_scope({"530000", "532327", "510000"}, "act on")  # near the border
    with pytest.raises(OutsideScope) as refused:
        officer.check_scope({"530000", "530102"}, "read")
    assert str(refused.value) == "provincial officer of 510000 may not read warnings of 530000"
    Principal("n", Role.national_officer).check_scope({"650000"}, "act on")


@pytest.mark.parametrize(("role", "provinces", "message"), [
    (Role.provincial_officer, [], "needs at least one --province"),
    (Role.national_officer, ["510000"], "has no provinces"),
    (Role.sensor_gateway, ["510000"], "has no provinces"),
    (Role.analyst, ["510411"], "not a province adcode"),
])
def test_roles_and_provinces_that_do_not_fit_are_refused(role, provinces, message):
    with pytest.raises(ValueError, match=message):
        check_role_scope(role, provinces)


def test_tokens_in_socket_urls_never_reach_the_access_log():
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("10.0.0.7:51234", "/ws/warnings?province=510000&access_token=gwt_s3cr3t-t0ken"), None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == (
        '10.0.0.7:51234 - "WebSocket /ws/warnings?province=510000&access_token=***" [accepted]')
