"""Typed connection settings for kafka-python clients, shared by every worker.

Values are chosen for batch throughput and for the brokers geowarn runs on
(Apache Kafka in production, Tansu embedded): short fetch waits because a
fetch that includes drained partitions waits the full fetch_max_wait_ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CREDENTIALS = re.compile(r"//[^@/]+@")


def safe_bootstrap(bootstrap: str) -> str:
    """The bootstrap string with any credentials removed, for logs."""
    return _CREDENTIALS.sub("//***@", bootstrap)


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str
    client_id: str = "geowarn"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    fetch_max_wait_ms: int = 100
    max_poll_records: int = 20_000
    linger_ms: int = 20

    def consumer(self, group_id: str | None, **overrides: Any) -> dict[str, Any]:
        """kwargs for KafkaConsumer: manual commits, earliest reset for new groups."""
        options: dict[str, Any] = dict(  # noqa: C408 - keyword form mirrors kafka-python's signature
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-{group_id or 'reader'}",
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            max_poll_records=self.max_poll_records,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        options.update(overrides)
        return options

    def producer(self, **overrides: Any) -> dict[str, Any]:
        """kwargs for KafkaProducer: acks=all, idempotent, batched."""
        options: dict[str, Any] = dict(  # noqa: C408 - keyword form mirrors kafka-python's signature
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            batch_size=512 * 1024,
            max_request_size=8 * 1024 * 1024,
        )
        options.update(overrides)
        return options
