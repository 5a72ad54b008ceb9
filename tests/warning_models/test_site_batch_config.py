"""Configuration of the site model: one file for thresholds, per-point parameters, settings.

Everything is validated when loaded; per-point parameters resolve through the
reference ``SiteConfig`` and become arrays indexed by a few shared profiles.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from warning_models.site_params import ParamTable, SiteModelConfig, site_model_from_mapping
from warning_models.thresholds import VelocityThresholds


def test_a_thresholds_only_mapping_is_the_first_models_format() -> None:
    config = site_model_from_mapping({"gnss": {"blue": 3, "yellow": 8, "orange": 25, "red": 60}})
    assert config.thresholds.gnss.blue == 3
    assert config.site == SiteModelConfig().site
    nested = site_model_from_mapping({"thresholds": {"tilt": {"blue": 0.1, "yellow": 0.2,
                                                              "orange": 0.4, "red": 0.8}}})
    assert nested.thresholds.tilt.red == 0.8


def test_thresholds_differ_per_hazard_type_and_fall_back_per_kind() -> None:
    config = site_model_from_mapping({
        "thresholds": {"crack": {"blue": 2, "yellow": 4, "orange": 8, "red": 16},
                       "hazard_types": {"collapse": {"crack": {"blue": 0.5, "yellow": 1,
                                                                "orange": 2, "red": 4}}}},
        "site": {"hazard_types": {"collapse": {"fusion": {"red_hold_hours": 2}}}},
        "scorer": {"judge_confidence": 0.99}})
    th = config.thresholds
    assert th.for_kind("crack", "collapse").blue == 0.5
    assert th.for_kind("crack", "landslide").blue == 2
    assert th.for_kind("gnss", "collapse") == VelocityThresholds().gnss
    assert th.for_kind("rain_gauge", "collapse") is None
    assert config.scorer.judge_confidence == 0.99


def test_the_version_digest_follows_the_configuration() -> None:
    a, b = SiteModelConfig(), site_model_from_mapping({"scorer": {"judge_confidence": 0.99}})
    assert a.digest() == SiteModelConfig().digest() != b.digest()
    # the first model's version is unchanged by the new (empty) hazard-type table
    assert "hazard_types" not in VelocityThresholds().digest_payload()


@pytest.mark.parametrize("bad", [
    {"thresholds": {"hazard_types": {"debris_flow": {"mud_level": {"blue": 9, "yellow": 5,
                                                                   "orange": 6, "red": 7}}}}},
    {"thresholds": {"hazard_types": {"debris_flow": {"mud_levle": {}}}}},
    {"scorer": {"judge_confidence": 0.4}},
    {"scorer": {"spike_confirm": 1}},
    {"scorer": {"angle_dead_band_deg": 50}},
    {"site": {"points": {"P1": {"kinematics": {"window_hours": 240, "max_gap_hours": 1}}}}},
    {"site": {"points": {"P1": {"tangent_angle": {"thresholds": {"blue": 2, "yellow": 55,
                                                                 "orange": 80, "red": 85}}}}}},
])
def test_a_bad_configuration_fails_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        site_model_from_mapping(bad)


def test_points_that_resolve_alike_share_one_profile() -> None:
    config = site_model_from_mapping({"site": {
        "regions": {"510000": {"tangent_angle": {"v_bar_mm_per_day": 0.5}}},
        "points": {"P9": {"inverse_velocity": {"red_lead_hours": 72,
                                               "orange_lead_hours": 240}}}}})
    table = ParamTable(config.site)
    ids = [table.profile(f"P{i}", ("510100", "510000"), "landslide") for i in range(9)]
    assert len(set(ids)) == 1 and ids[0] != 0                 # regional, shared
    special = table.profile("P9", ("510100", "510000"), "landslide")
    plain = table.profile("Q1", (), "landslide")
    assert plain == 0 and special not in (0, ids[0])
    columns = table.gather(np.array([0, ids[0], special, ids[0]]))
    assert np.isnan(columns["v_bar"][0]) and columns["v_bar"][1] == 0.5
    assert columns["red_lead_hours"].tolist() == [48.0, 48.0, 72.0, 48.0]
    assert table.sources[special]["inverse_velocity"] == "point:P9"
    assert table.sources[special]["tangent_angle"] == "region:510000"
    assert columns.row(2)["orange_lead_hours"] == 240.0
