"""Building dead-letter records: the original bytes, the reason, the source."""

from __future__ import annotations

import logging
from datetime import datetime

import orjson

from streams.schemas import DeadLetter

log = logging.getLogger(__name__)


def dead_letter(record, *, reason: str, stage: str, failed_at: datetime | None = None) -> DeadLetter:
    """A DeadLetter for a kafka-python ConsumerRecord (or anything with the same fields)."""
    log.warning("dead-letter %s[%d]@%d (%s): %s", record.topic, record.partition, record.offset,
                stage, reason)
    return DeadLetter.of(reason=reason, stage=stage, topic=record.topic, partition=record.partition,
                         offset=record.offset, key=record.key, value=record.value,
                         failed_at=failed_at)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return orjson.dumps(letter.model_dump(mode="json"))
