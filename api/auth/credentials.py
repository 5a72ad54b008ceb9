"""Passwords, API tokens and access tokens.

- Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106's second
  recommended set): slow on purpose, since people choose guessable ones.
- API tokens are 256 random bits shown once; only their SHA-256 is stored. A
  fast hash is enough there: nobody can guess 256 bits, and every request
  with a token looks it up, which a slow hash would make expensive.
- Access tokens are short-lived JWTs (HS256, signed with the settings'
  ``secret_key``) naming the user. They carry no role: each request reloads
  the user, so disabling it or changing its role takes effect at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr

API_TOKEN_PREFIX = "gwt_"
ISSUER = "geowarn"
ALGORITHM = "HS256"


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("the password is empty")
    return _hasher().hash(password)


@cache
def _decoy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash costs the same time as a wrong password,
    so that the answer does not tell which user names exist."""
    try:
        return _hasher().verify(password_hash or _decoy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def new_api_token() -> str:
    """A fresh API token, ``gwt_`` + 43 URL-safe characters (256 bits)."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database stores of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)


class InvalidAccessToken(ValueError):
    """A JWT that is malformed, forged or expired; the message is safe to show."""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    lifetime: timedelta


def issue_access_token(user: str, *, key: SecretStr, lifetime: timedelta,
                       now: datetime) -> AccessToken:
    expires = now + lifetime
    claims = {"sub": user, "iss": ISSUER, "iat": int(now.timestamp()),
              "exp": int(expires.timestamp()), "jti": secrets.token_hex(8)}
    return AccessToken(jwt.encode(claims, key.get_secret_value(), algorithm=ALGORITHM),
                       expires, lifetime)


def decode_access_token(token: str, *, key: SecretStr, now: datetime) -> str:
    """The user name of a valid token at ``now``.

    Expiry is checked against ``now`` (the app's clock), not inside PyJWT,
    so that tests can move time.
    """
    try:
        claims = jwt.decode(token, key.get_secret_value(), algorithms=[ALGORITHM],
                            issuer=ISSUER, options={"require": ["sub", "exp", "iat"],
                                                    "verify_exp": False, "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidAccessToken(f"invalid access token: {exc}") from None
    if now.timestamp() >= claims["exp"]:
        raise InvalidAccessToken("the access token has expired; get a new one at /auth/token")
    return str(claims["sub"])
