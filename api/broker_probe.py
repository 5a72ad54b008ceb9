"""Whether the Kafka cluster answers, for /health, cached for a few seconds.

A probe bootstraps a short-lived admin client and asks for the cluster's
brokers. Against an unreachable broker that takes the whole timeout, so the
answer is cached and only one probe runs at a time: a load balancer polling
/health every second must not pile up connection attempts.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka.admin import KafkaAdminClient

from streams.kafka_config import KafkaConfig, safe_bootstrap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerStatus:
    ok: bool
    bootstrap: str
    brokers: int | None
    error: str | None
    checked_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "bootstrap": self.bootstrap, "brokers": self.brokers,
                "error": self.error, "checked_at": self.checked_at}


class BrokerProbe:
    def __init__(self, kafka: KafkaConfig, *, timeout_ms: int = 1500, cache_seconds: float = 5.0):
        self._kafka = kafka
        self._timeout_ms = timeout_ms
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._last: BrokerStatus | None = None
        self._last_at = 0.0

    def status(self) -> BrokerStatus:
        """The cached status; refreshed (blocking up to the timeout) once it is stale."""
        with self._lock:
            if self._last is None or time.monotonic() - self._last_at > self._cache_seconds:
                self._last = self._probe()
                self._last_at = time.monotonic()
            return self._last

    def _probe(self) -> BrokerStatus:
        shown = safe_bootstrap(self._kafka.bootstrap)
        now = datetime.now(UTC)
        try:
            admin = KafkaAdminClient(bootstrap_servers=self._kafka.bootstrap,
                                     client_id=f"{self._kafka.client_id}-health",
                                     bootstrap_timeout_ms=self._timeout_ms,
                                     request_timeout_ms=self._timeout_ms)
        except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
            log.warning("broker %s unreachable: %s", shown, exc)
            return BrokerStatus(False, shown, None, _describe(exc), now)
        try:
            brokers = len(admin.describe_cluster().get("brokers") or [])
        except Exception as exc:  # noqa: BLE001
            log.warning("broker %s answered the bootstrap but not describe_cluster: %s", shown, exc)
            return BrokerStatus(False, shown, None, _describe(exc), now)
        finally:
            admin.close()
        if brokers == 0:
            return BrokerStatus(False, shown, 0, "the cluster reports no brokers", now)
        return BrokerStatus(True, shown, brokers, None, now)


def _describe(exc: Exception) -> str:
    return safe_bootstrap(f"{type(exc).__name__}: {exc}")
