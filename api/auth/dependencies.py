"""From a bearer token to a ``Principal``, and the guard every route passes through.

Authentication (who) happens once per request and is kept on
``request.state``; authorisation (may this role do this, here) is each
route's: it declares ``Reader``, ``Officer``, ... (see ``api.deps``) and
checks the scope of what it touches. A route that declares none of these
still gets ``default_access``, installed on the whole app: it requires
"read" for GET/HEAD and "act" for anything else, so a route added without
thinking of auth is closed, not open. Only ``PUBLIC_PATHS`` (and the
documentation, which is not a route of the API) are open to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, WebSocket, WebSocketException
from fastapi.requests import HTTPConnection, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

from api.auth.credentials import (
    InvalidAccessToken,
    decode_access_token,
    is_api_token,
    token_digest,
)
from api.auth.roles import Permission, Principal, Role
from api.errors import Forbidden, NotAuthenticated
from store.users import get_user, user_by_token_hash

PUBLIC_PATHS = frozenset({"/health", "/auth/token"})
WS_POLICY_VIOLATION = 1008


@dataclass(frozen=True)
class AuthConfig:
    secret_key: SecretStr
    token_lifetime: timedelta


oauth2 = OAuth2PasswordBearer(
    tokenUrl="auth/token", auto_error=False, scheme_name="bearer",
    description="`Authorization: Bearer <token>`: a JWT from POST /auth/token (people) or an "
                "API token `gwt_...` from `geowarn users token NAME` (machines)")


def authenticate(connection: HTTPConnection, token: str | None) -> Principal:
    """The user behind ``token`` (a JWT or an API token), reloaded from the database.

    Kept on ``connection.state`` so that several dependencies of one request
    cost one lookup.
    """
    cached = getattr(connection.state, "principal", None)
    if cached is not None:
        return cached
    if not token:
        raise NotAuthenticated("authentication required: send `Authorization: Bearer <token>` "
                               "with a token from POST /auth/token or an API token")
    state = connection.app.state
    with state.sessions() as session:
        if is_api_token(token):
            via, user = "api_token", user_by_token_hash(session, token_digest(token))
            if user is None:
                raise NotAuthenticated("unknown or revoked API token", invalid_token=True)
        else:
            try:
                name = decode_access_token(token, key=state.auth.secret_key, now=state.clock())
            except InvalidAccessToken as exc:
                raise NotAuthenticated(str(exc), invalid_token=True) from None
            via, user = "jwt", get_user(session, name)
            if user is None:
                raise NotAuthenticated("the token's user no longer exists", invalid_token=True)
    if user.disabled:
        raise NotAuthenticated(f"user {user.name} is disabled", invalid_token=True)
    principal = Principal(user.name, Role(user.role), frozenset(user.provinces), via)
    connection.state.principal = principal
    return principal


def current_principal(request: Request,
                      token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    return authenticate(request, token)


def _requirement(permission: Permission):
    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return principal.require(permission)

    dependency.__name__ = f"require_{permission.name}"
    return dependency


require_read = _requirement(Permission.read)
require_act = _requirement(Permission.act)
require_review = _requirement(Permission.review)
require_reports = _requirement(Permission.reports)
require_publish = _requirement(Permission.publish_readings)


def _header_token(connection: HTTPConnection) -> str | None:
    scheme, token = get_authorization_scheme_param(connection.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def websocket_reader(
    websocket: WebSocket,
    access_token: Annotated[str | None, Query(
        description="the bearer token, for clients (browsers) that cannot set headers on a "
                    "WebSocket; the Authorization header works too")] = None,
) -> Principal:
    """Read access for a WebSocket; a refusal closes the handshake with 1008 and the reason."""
    try:
        return authenticate(websocket, access_token or _header_token(websocket)).require(
            Permission.read)
    except (NotAuthenticated, Forbidden) as exc:
        reason = str(exc).encode()[:123].decode(errors="ignore")
        raise WebSocketException(code=WS_POLICY_VIOLATION, reason=reason) from None


ACCESS_DEPENDENCIES = frozenset({current_principal, require_read, require_act, require_reports,
                                 require_publish, websocket_reader})


def _declares_access(route) -> bool:
    """Whether the route's own dependencies authorise the caller (cached on the route)."""
    declared = getattr(route, "_geowarn_declares_access", None)
    if declared is None:
        pending, declared = [route.dependant], False
        while pending and not declared:
            dependant = pending.pop()
            declared = dependant.call in ACCESS_DEPENDENCIES
            pending.extend(dependant.dependencies)
        route._geowarn_declares_access = declared
    return declared


def default_access(connection: HTTPConnection) -> None:
    """App-wide guard for routes that declare no access of their own (see the module doc)."""
    route = connection.scope.get("route")
    if route is None or route.path_format in PUBLIC_PATHS or _declares_access(route):
        return
    if connection.scope["type"] == "websocket":
        websocket_reader(connection, connection.query_params.get("access_token"))
        return
    principal = authenticate(connection, _header_token(connection))
    method = connection.scope.get("method", "GET")
    principal.require(Permission.read if method in ("GET", "HEAD") else Permission.act)
