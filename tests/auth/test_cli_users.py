"""`geowarn users add | list | token | disable | enable` on a real SQLite database, and the
API accepting (then refusing) what they create. Secrets never reach the database in clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.app import create_app
from geowarn.cli import app as cli
from geowarn.settings import Settings
from store.db import make_engine

PASSWORD = "a long enough passphrase"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'geowarn.db'}"
    monkeypatch.setenv("GEOWARN_DATABASE_URL", url)
    monkeypatch.setenv("GEOWARN_DATA_DIR", str(tmp_path / "var"))
    return url


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["users", *args], input=stdin)


def api(url: str, tmp_path: Path) -> TestClient:
    """The app without its lifespan: /auth needs no broker."""
    return TestClient(create_app(Settings(database_url=url, kafka_bootstrap="127.0.0.1:9",
                                          data_dir=tmp_path / "var")))


def test_add_list_token_disable_enable(database: str, tmp_path: Path):
    added = run("add", "li.wei", "--role", "provincial_officer", "--province", "四川",
                "--province", "530000", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "added provincial_officer li.wei for 510000, 530000" in added.output
    gateway = run("add", "gw-ya-an", "--role", "sensor_gateway")
    assert gateway.exit_code == 0 and "(no password)" in gateway.output

    issued = run("token", "gw-ya-an", "--label", "ya'an gateway")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("gwt_")

    listed = run("list").output
    assert "li.wei    provincial_officer  510000,530000  active  yes       0" in listed
    assert "gw-ya-an  sensor_gateway      -              active  no        1" in listed

    engine = make_engine(database)
    with engine.connect() as connection:
        stored = " ".join(str(value) for row in connection.execute(text(
            "SELECT u.password_hash, t.token_hash FROM users u "
            "LEFT JOIN api_tokens t ON t.user_id = u.id")) for value in row)
    engine.dispose()
    assert PASSWORD not in stored and token not in stored and "$argon2id$" in stored

    client = api(database, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=headers).json()["role"] == "sensor_gateway"
    login = client.post("/auth/token", data={"username": "li.wei", "password": PASSWORD})
    assert login.status_code == 200

    assert run("disable", "gw-ya-an").exit_code == 0
    assert "disabled" in run("list").output
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert run("enable", "gw-ya-an").exit_code == 0
    assert client.get("/auth/me", headers=headers).status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (("add", "x", "--role", "provincial_officer"), "needs at least one --province"),
    (("add", "x", "--role", "national_officer", "--province", "510000"), "has no provinces"),
    (("add", "x", "--role", "chief"), "unknown role 'chief'"),
    (("add", "x", "--role", "analyst", "--province", "Atlantis"), "no province matches"),
    (("add", "bad name", "--role", "analyst"), "invalid user name"),
    (("add", "x", "--role", "analyst", "--password-stdin"), "no password on standard input"),
    (("token", "nobody"), "no user named 'nobody'"),
    (("disable", "nobody"), "no user named 'nobody'"),
])
def test_mistakes_are_refused_with_the_reason(database: str, args, message):
    result = run(*args, stdin="")
    assert result.exit_code == 2
    assert message in result.output


def test_a_name_is_taken_once(database: str):
    assert run("add", "zhang", "--role", "analyst", "--password-stdin", stdin="pw-1\n").exit_code == 0
    again = run("add", "zhang", "--role", "responder", "--password-stdin", stdin="pw-2\n")
    assert again.exit_code == 2 and "already exists" in again.output
