"""Reading configuration files (YAML or JSON) for the models.

The models take plain mappings; this is where the files are opened, so that
warning_models stays free of I/O.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warning_models.thresholds import VelocityThresholds, thresholds_from_mapping


class ConfigFileError(ValueError):
    """A configuration file that cannot be read or parsed."""


def read_config_file(path: str | Path) -> Any:
    """The parsed content of a .json, .yaml or .yml file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ConfigFileError(f"{path} is not valid JSON/YAML: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError and friends
        raise ConfigFileError(f"{path} is not valid YAML: {exc}") from exc


def load_thresholds(path: str | Path | None) -> VelocityThresholds:
    """Velocity thresholds from a file, or the documented defaults for None."""
    if path is None:
        return VelocityThresholds()
    try:
        return thresholds_from_mapping(read_config_file(path))
    except TypeError as exc:
        raise ConfigFileError(f"{path}: {exc}") from exc
