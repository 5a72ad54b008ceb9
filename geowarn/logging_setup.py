"""One logging configuration for every geowarn process."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    level = (level or os.environ.get("GEOWARN_LOG_LEVEL", "INFO")).upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # kafka-python is chatty at INFO about every connection and rebalance step.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    logging.getLogger("kafka").setLevel(quiet)
    # httpx logs every request URL at INFO; webhook URLs may carry credentials.
    logging.getLogger("httpx").setLevel(quiet)
