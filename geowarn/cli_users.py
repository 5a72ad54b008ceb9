"""`geowarn users ...`: the people and machines that may call the API.

Passwords are read from standard input or a hidden prompt and never echoed
or logged; an API token is printed once, alone on standard output (so that
a script can capture it), and only its hash is kept.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

ROLES = "national_officer, provincial_officer, analyst, responder, sensor_gateway"

users_app = typer.Typer(help="Users of the API: officers, analysts, responders, sensor gateways.",
                        no_args_is_help=True)


def _sessions():
    from geowarn.cli import _settings
    from geowarn.runtime import prepare_database
    from store.db import make_engine, session_factory

    settings = _settings()
    prepare_database(settings)
    return session_factory(make_engine(settings.effective_database_url))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _province_adcodes(values: list[str]) -> list[str]:
    """Adcodes of provinces given by adcode or name (四川, Sichuan, 510000, 51)."""
    if not values:
        return []
    from geo.boundaries import Boundaries, UnknownProvinceError

    boundaries = Boundaries.load()
    try:
        return sorted({boundaries.province(value).adcode for value in values})
    except UnknownProvinceError as exc:
        raise _fail(str(exc)) from None


def _read_password(from_stdin: bool, role: str) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _fail("no password on standard input")
        return password
    if role == "sensor_gateway":
        return None  # machines authenticate with API tokens
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name (letters, digits, . _ -)")],
    role: Annotated[str, typer.Option("--role", help=f"one of {ROLES}")],
    province: Annotated[list[str] | None, typer.Option(
        "--province", help="a province of the scope (adcode or name); repeat for several")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from standard input (one line)")] = False,
) -> None:
    """Add a user. Without --password-stdin, people are prompted; gateways get no password."""
    import re

    from api.auth.credentials import hash_password
    from api.auth.roles import Role, check_role_scope
    from store.db import session_scope
    from store.users import UserExists, add_user

    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
        raise _fail(f"invalid user name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    try:
        parsed = Role(role)
    except ValueError:
        raise _fail(f"unknown role {role!r}; choose one of {ROLES}") from None
    provinces = _province_adcodes(province or [])
    try:
        check_role_scope(parsed, provinces)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    password = _read_password(password_stdin, parsed)
    try:
        with session_scope(_sessions()) as session:
            add_user(session, name=name, role=parsed, provinces=provinces, now=datetime.now(UTC),
                     password_hash=None if password is None else hash_password(password))
    except UserExists as exc:
        raise _fail(str(exc)) from None
    scope = f" for {', '.join(provinces)}" if provinces else ""
    typer.echo(f"added {parsed} {name}{scope}" + ("" if password else " (no password)"))


@users_app.command("list")
def users_list() -> None:
    """List the users: role, provinces, status, password, API tokens."""
    from store.db import session_scope
    from store.users import active_token_counts, list_users

    with session_scope(_sessions()) as session:
        users, tokens = list_users(session), active_token_counts(session)
    if not users:
        typer.echo("no users; add one with `geowarn users add NAME --role ROLE`")
        return
    rows = [("name", "role", "provinces", "status", "password", "tokens", "created")]
    rows += [(u.name, u.role, ",".join(u.provinces) or "-", "disabled" if u.disabled else "active",
              "yes" if u.password_hash else "no", str(tokens.get(u.id, 0)),
              u.created_at.strftime("%Y-%m-%d %H:%M")) for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                   .rstrip())


def _set_disabled(name: str, disabled: bool) -> None:
    from store.db import session_scope
    from store.users import UnknownUser, set_disabled

    try:
        with session_scope(_sessions()) as session:
            set_disabled(session, name, disabled, now=datetime.now(UTC))
    except UnknownUser as exc:
        raise _fail(str(exc)) from None


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Disable a user: its access tokens and API tokens stop working at once."""
    _set_disabled(name, True)
    typer.echo(f"disabled {name}: its access tokens and API tokens no longer work")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Enable a disabled user again (its API tokens work again)."""
    _set_disabled(name, False)
    typer.echo(f"enabled {name}")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="user name")],
    label: Annotated[str, typer.Option(help="what the token is for, e.g. the gateway's host")] = "",
) -> None:
    """Create an API token for NAME and print it once (only its hash is stored)."""
    from api.auth.credentials import new_api_token, token_digest
    from store.db import session_scope
    from store.users import UnknownUser, add_api_token

    token = new_api_token()
    try:
        with session_scope(_sessions()) as session:
            add_api_token(session, name, token_digest(token), label=label[:100],
                          now=datetime.now(UTC))
    except UnknownUser as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"API token for {name}; it is shown this once, store it now:", err=True)
    typer.echo(token)
