"""Threshold files: YAML and JSON, partial overrides, clear failures."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from geowarn.config_files import ConfigFileError, load_thresholds
from warning_models.thresholds import VelocityThresholds


def test_load_thresholds_overrides_some_kinds_and_keeps_the_rest(tmp_path):
    assert load_thresholds(None) == VelocityThresholds()
    path = tmp_path / "thresholds.yaml"
    path.write_text("gnss: {blue: 3, yellow: 8, orange: 25, red: 60}\n")
    loaded = load_thresholds(path)
    assert loaded.gnss.as_dict() == {"blue": 3.0, "yellow": 8.0, "orange": 25.0, "red": 60.0}
    assert loaded.crack == VelocityThresholds().crack
    as_json = tmp_path / "thresholds.json"
    as_json.write_text(json.dumps({"thresholds": {"tilt": {"blue": 0.01, "yellow": 0.02,
                                                           "orange": 0.2, "red": 0.4}}}))
    assert load_thresholds(as_json).tilt.red == 0.4


@pytest.mark.parametrize(("text", "message"), [
    ("gnss: {blue: 3, yellow: 2, orange: 25, red: 60}\n", "must increase"),
    ("gnss: {blue: 3, yellow: 8, orange: 25}\n", "red"),
    ("rainfall: {blue: 1, yellow: 2, orange: 3, red: 4}\n", "rainfall"),
])
def test_bad_threshold_files_fail_when_loaded(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        load_thresholds(path)



def test_a_missing_or_malformed_file_says_which_and_why(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_thresholds(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigFileError, match="broken.json is not valid"):
        load_thresholds(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigFileError, match="expected a mapping"):
        load_thresholds(listing)
