from pathlib import Path

import pytest
from pydantic import ValidationError

from geowarn.readme_settings import render
from geowarn.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOWARN_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="GEOWARN_SECRET_KEY must be set"):
        Settings()


def test_production_starts_with_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOWARN_ENVIRONMENT", "production")
    monkeypatch.setenv("GEOWARN_SECRET_KEY", "a-real-secret-from-the-vault")
    assert Settings().secret_key.get_secret_value() == "a-real-secret-from-the-vault"


def test_environment_variables_use_the_geowarn_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOWARN_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("GEOWARN_KAFKA_BOOTSTRAP", "kafka1:9092")
    settings = Settings()
    assert settings.topics.readings == "staging.geowarn.readings"
    assert settings.kafka.bootstrap == "kafka1:9092"
    assert not settings.embedded_broker


def test_sqlite_under_the_data_dir_when_no_database_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'geowarn.db'}"


def test_readme_settings_table_matches_the_settings_class() -> None:
    text = README.read_text()
    assert render(text) == text, "README settings table is stale: run python -m geowarn.readme_settings"


def test_secret_is_not_shown_in_repr() -> None:
    settings = Settings(secret_key="top-secret-value")
    assert "top-secret-value" not in repr(settings)
