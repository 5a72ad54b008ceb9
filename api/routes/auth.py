"""POST /auth/token (the OAuth2 password flow, for people) and GET /auth/me.

Machines use API tokens instead (``geowarn users token NAME``): they never
hold a password and their token is revoked by disabling the user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.auth.credentials import (
    hash_password,
    issue_access_token,
    needs_rehash,
    verify_password,
)
from api.auth.dependencies import AuthConfig
from api.auth.roles import PERMISSIONS
from api.deps import ClockDep, CurrentUser, SessionFactoryDep
from api.errors import NotAuthenticated
from api.models import ErrorMessage
from store.db import session_scope
from store.users import get_user, set_password_hash

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class Me(BaseModel):
    name: str
    role: str
    provinces: list[str] = Field(description="adcodes of the scope; empty: the whole country")
    permissions: list[str]
    authenticated_by: str = Field(description="jwt or api_token")


def _auth_config(request: Request) -> AuthConfig:
    return request.app.state.auth


@router.post("/token", response_model=TokenResponse,
             responses={401: {"model": ErrorMessage, "description": "wrong name or password"}},
             summary="Exchange a user name and password for a short-lived access token")
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()],
                config: Annotated[AuthConfig, Depends(_auth_config)],
                sessions: SessionFactoryDep, clock: ClockDep) -> TokenResponse:
    with session_scope(sessions) as session:
        user = get_user(session, form.username)
        valid = verify_password(None if user is None else user.password_hash, form.password)
        if not valid or user is None or user.disabled:
            raise NotAuthenticated("wrong user name or password, or the user is disabled")
        if needs_rehash(user.password_hash):  # stronger parameters since it was set
            set_password_hash(session, user.name, hash_password(form.password), now=clock())
    token = issue_access_token(user.name, key=config.secret_key, lifetime=config.token_lifetime,
                               now=clock())
    return TokenResponse(access_token=token.token,
                         expires_in=int(token.lifetime.total_seconds()))


@router.get("/me", response_model=Me, summary="Who the token belongs to, its role and scope")
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role, provinces=sorted(user.provinces),
              permissions=sorted(p.name for p in PERMISSIONS[user.role]),
              authenticated_by=user.via)
