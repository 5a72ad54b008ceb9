"""The one settings class. Only the composition root (this package) and the
API's app factory read it; every other package takes plain arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.kafka_config import KafkaConfig
from streams.topics import Topics

DEFAULT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Every option, read from ``GEOWARN_*`` environment variables (or ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="GEOWARN_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses default secrets")
    data_dir: Path = Field(Path("var"), description="embedded database, broker logs, checkpoints")
    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port] of Kafka; unset starts the embedded Tansu broker")
    kafka_port: int = Field(9092, ge=1, le=65535,
                            description="first port tried for the embedded broker")
    kafka_client_id: str = Field("geowarn", description="client.id prefix of every Kafka client")
    kafka_session_timeout_ms: int = Field(
        10_000, ge=1000, le=300_000,
        description="consumer-group session timeout; the first join takes about half of it")
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9_.\-]*$",
                              description="prefix of every topic name, to share one cluster")
    topic_partitions: int = Field(6, ge=1, le=1024, description="partitions of new topics")
    topic_replication: int = Field(1, ge=1, le=16, description="replication factor of new topics")
    topic_retention_hours: float = Field(168, gt=0, description="retention.ms of new topics, hours")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; unset uses SQLite at <data_dir>/geowarn.db")
    api_host: str = Field("127.0.0.1", description="address the API listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="port the API listens on")
    secret_key: SecretStr = Field(SecretStr(DEFAULT_SECRET),
                                  description="signing key for tokens; must be set in production")
    scorer_group: str = Field("geowarn-scorer", description="consumer group of the scorer")
    ledger_group: str = Field("geowarn-ledger", description="consumer group of the ledger")
    scorer_window_hours: float = Field(24.0, gt=0, le=24 * 30,
                                       description="velocity window of the first deformation model")
    thresholds_file: Path | None = Field(
        None, description="YAML/JSON file overriding the per-kind velocity thresholds")
    registry_refresh_seconds: float = Field(
        30.0, gt=0, description="how often workers reload the risk-point registry")

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment != "development" and self.secret_key.get_secret_value() == DEFAULT_SECRET:
            raise ValueError("GEOWARN_SECRET_KEY must be set outside development")
        return self

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'geowarn.db').resolve()}"

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    @property
    def kafka(self) -> KafkaConfig:
        if not self.kafka_bootstrap:
            raise RuntimeError("no Kafka bootstrap: start the embedded broker first")
        return KafkaConfig(self.kafka_bootstrap, client_id=self.kafka_client_id,
                           session_timeout_ms=self.kafka_session_timeout_ms,
                           heartbeat_interval_ms=max(500, self.kafka_session_timeout_ms // 5))

    @property
    def retention_ms(self) -> int:
        return int(self.topic_retention_hours * 3600 * 1000)


def get_settings() -> Settings:
    return Settings()


def settings_table() -> str:
    """The README's settings table, generated from the class so that it cannot drift."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.default
        if hasattr(default, "get_secret_value"):
            shown = "(development default)"
        elif default is None:
            shown = "unset"
        elif default == "":
            shown = "empty"
        else:
            shown = f"`{default}`"
        rows.append(f"| `GEOWARN_{name.upper()}` | {shown} | {info.description or ''} |")
    return "\n".join(rows)
