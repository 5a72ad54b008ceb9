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
                                       description="kinematics window of the site models (velocity, acceleration), hours")
    thresholds_file: Path | None = Field(
        None, description="YAML/JSON file: per-kind thresholds (per hazard type too), `site:` "
                          "model parameters per hazard type/region/point, `scorer:` options")
    rainfall_thresholds_file: Path | None = Field(
        None, description="YAML/JSON file of the scorer's rainfall model: `default:` and "
                          "`regions:` (by adcode) intensity-duration thresholds and antecedent "
                          "rainfall, `fusion:` how rain meets deformation; unset: Caine 1980")
    registry_refresh_seconds: float = Field(
        30.0, gt=0, description="how often workers reload the risk-point registry")
    history_group: str = Field("geowarn-history", description="consumer group of the history worker")
    history_bucket_minutes: int = Field(
        10, ge=1, le=1440, description="width of the stored reading aggregates shown on charts")
    history_retention_days: float = Field(
        90.0, gt=0, le=3650, description="how long reading aggregates and level timelines are kept")
    cap_sender: str = Field(
        "geowarn@localhost", min_length=1, max_length=200, pattern=r"^[^\s,<&]+$",
        description="sender of CAP messages: the issuing authority's address, without "
                    "spaces, commas, less-than signs or ampersands")
    cap_circle_radius_km: float = Field(
        1.0, gt=0, le=100,
        description="radius (km) of the CAP circle around a risk point that has no polygon")

    raster_group: str = Field("geowarn-raster", description="consumer group of the raster worker")
    raster_roots: list[Path] | None = Field(
        None, description="folders local rasters may be read from (JSON list); unset: "
                          "<data_dir>/rasters. s3:// URLs are always passed through")
    raster_max_cells: int = Field(
        5_000_000_000, gt=0, description="largest raster accepted, as declared rows x columns")
    raster_max_read_cells: int = Field(
        200_000_000, gt=0, description="largest grid read into memory at once; a larger "
                                       "observed rainfall grid or InSAR velocity map is read "
                                       "in chunks with dask and processed block by block "
                                       "(state and work files on disk)")
    raster_check_territory: bool = Field(
        True, description="refuse rasters that do not touch China's territory; false accepts "
                          "rasters anywhere (e.g. tests on foreign data)")
    raster_batch_records: int = Field(
        2, ge=1, le=100, description="announcements per poll of the raster worker (rasters are big)")
    rainfall_interval_hours: float = Field(
        1.0, gt=0, le=744, description="hours of rain one rainfall raster covers")
    nowcast_antecedent_k: float = Field(
        0.8, gt=0, lt=1, description="daily decay K of the effective antecedent rainfall "
                                     "P_e = sum K^i P_i behind the nowcast")
    nowcast_antecedent_days: int = Field(
        15, ge=1, le=90, description="days of rain the nowcast's P_e sums")
    nowcast_percentile_mm: float = Field(
        120.0, gt=0, le=5000, description="climatological high percentile of P_e (mm) that "
                                          "rain is compared with, where nowcast_percentile_file "
                                          "gives none (a national placeholder)")
    nowcast_percentile_file: Path | None = Field(
        None, description="raster (GeoTIFF/NetCDF) of the local high percentile of P_e (mm) per "
                          "cell; cells without a value use nowcast_percentile_mm")
    nowcast_day_offset_hours: float = Field(
        8.0, ge=-12, le=14, description="rain days are counted at UTC + this (8: Beijing time)")
    insar_area_buffer_m: float = Field(
        100.0, ge=0, le=50_000, description="an InSAR area within this distance (m) of a risk "
                                            "point is covered; others become candidate areas")
    access_token_minutes: int = Field(
        30, ge=1, le=24 * 60, description="lifetime of the JWTs issued by POST /auth/token")
    ack_deadline_minutes: float = Field(
        30.0, gt=0, le=7 * 24 * 60, description="minutes an officer has to acknowledge an orange "
                                                "or red warning before it is re-notified and "
                                                "escalated to the national centre")
    deadline_check_seconds: float = Field(
        30.0, gt=0, le=3600, description="how often the ledger checks acknowledgement deadlines "
                                         "(wall clock)")
    lifecycle_rules_file: Path | None = Field(
        None, description="YAML/JSON file of issue and acknowledgement rules per level "
                          "(store.lifecycle.LifecycleRules)")
    boundary_distance_km: float = Field(
        5.0, ge=0, le=200, description="a warning within this distance of a provincial or "
                                       "county border concerns the neighbours too")
    notifier_group: str = Field("geowarn-notifier", description="consumer group of the notifier")
    notify_max_attempts: int = Field(
        8, ge=1, le=100, description="attempts to deliver a notification before it fails")
    notify_backoff_seconds: float = Field(
        30.0, gt=0, le=3600, description="wait after a notification's first failed attempt; "
                                         "doubled after each further one")
    notify_backoff_max_seconds: float = Field(
        3600.0, gt=0, le=86_400, description="longest wait between two attempts of a notification")
    notify_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="timeout of one webhook request or SMTP session")
    notify_concurrency: int = Field(
        4, ge=1, le=64, description="notifications sent at once by one notifier")
    notify_public_url: str = Field(
        "http://127.0.0.1:8000", pattern=r"^https?://\S+$",
        description="base URL of the API in notifications' links (<url>/warnings/<id>)")
    smtp_host: str = Field("localhost", description="SMTP server of e-mail notifications")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 with STARTTLS)")
    smtp_from: str = Field("geowarn@localhost", pattern=r"^[^\s@<>,]+@[^\s@<>,]+$",
                           description="sender address of e-mail notifications")
    smtp_starttls: bool = Field(False, description="upgrade SMTP sessions with STARTTLS")
    smtp_username: str | None = Field(None, description="SMTP login; unset: no login")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    attachment_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, le=1024 ** 3,
        description="largest file accepted as a consultation attachment (bytes); larger "
                    "uploads are refused with 413")
    console_basemap_url: str | None = Field(
        None, pattern=r"^https?://\S*\{z\}\S*$",
        description="XYZ raster tile URL ({z}/{x}/{y}) drawn under the console's boundaries; "
                    "unset: the console works offline on the province and county boundaries")
    console_basemap_attribution: str | None = Field(
        None, max_length=300, description="attribution shown for console_basemap_url")

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
    def effective_raster_roots(self) -> list[Path]:
        return list(self.raster_roots) if self.raster_roots else [self.data_dir / "rasters"]

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

    def lifecycle_rules(self):
        """The lifecycle rules: the file's, with ``ack_deadline_minutes`` unless the file sets it."""
        from geowarn.config_files import read_config_file
        from store.lifecycle import LifecycleRules

        data = {} if self.lifecycle_rules_file is None else (
            read_config_file(self.lifecycle_rules_file) or {})
        return LifecycleRules.model_validate({"ack_minutes": self.ack_deadline_minutes, **data})

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
