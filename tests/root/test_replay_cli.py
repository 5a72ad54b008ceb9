"""`geowarn replay` end to end: the real CLI process against the session Tansu broker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import numpy as np
import orjson
import pytest
from matplotlib import image

from geo.registry import RiskPoint
from geowarn import services
from geowarn.runtime import prepare_database
from geowarn.settings import Settings
from store.db import make_engine, session_factory, session_scope
from store.points import upsert_points
from streams.replay import read_series_csv
from tests.streams.test_replay import ORDER, accelerating_csv

pytestmark = [pytest.mark.kafka]


def geowarn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geowarn.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def environment(broker, tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GEOWARN_")}
    return {**env, "GEOWARN_KAFKA_BOOTSTRAP": broker.bootstrap,
            "GEOWARN_DATA_DIR": str(tmp_path / "var")}


def test_replay_prints_one_json_line_per_reading_and_draws_the_plot(environment, tmp_path) -> None:
    csv = tmp_path / "series.csv"
    days, _ = accelerating_csv(csv)
    png = tmp_path / "out.png"
    done = geowarn(environment, "replay", str(csv), "--point", "NOT-REGISTERED", "--kind",
                   "gnss", "--unit", "mm", "--format", "json", "--plot", str(png))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == days.size
    assert set(lines[0]) >= {"observed_at", "level", "velocity", "tangent_angle",
                             "predicted_failure"}
    times = [datetime.fromisoformat(line["observed_at"]).timestamp() for line in lines]
    np.testing.assert_allclose((np.array(times) - times[0]) / 86_400.0, days, atol=1e-6)
    levels = np.array([ORDER.index(line["level"]) for line in lines])
    calm, accelerating = days < 3.0, days > 3.0
    assert levels[calm].max() == 0
    assert levels[accelerating].max() >= ORDER.index("orange")
    assert np.all(np.diff(levels[accelerating]) >= 0)
    assert lines[-1]["velocity"] > 20 and lines[-1]["tangent_angle"] is None   # no v̄ here
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.imread(png).ndim == 3
    assert not (tmp_path / "var" / "geowarn.db").exists()      # a replay creates no registry


def test_the_text_timeline_names_the_temporary_point(environment, tmp_path) -> None:
    csv = tmp_path / "series.csv"
    accelerating_csv(csv, step_hours=2.0)
    done = geowarn(environment, "replay", str(csv), "--point", "TMP-2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "temporary point with default thresholds" in done.stdout
    assert "highest level:" in done.stdout.splitlines()[-1]


def test_a_bad_row_is_reported_with_its_line_and_stops(environment, tmp_path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("observed_at,value\n2026-07-01T00:00:00Z,1\n2026-07-01T01:00:00Z,oops\n")
    done = geowarn(environment, "replay", str(csv), "--point", "P")
    assert done.returncode == 2
    assert "bad.csv:3: value 'oops' is not a number" in done.stderr
    skipped = geowarn(environment, "replay", str(csv), "--point", "P", "--skip-invalid",
                      "--format", "json")
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "skipped" in skipped.stderr and len(skipped.stdout.splitlines()) == 1


def test_a_registered_point_is_replayed_with_its_configured_thresholds(broker, tmp_path) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text("thresholds:\n  hazard_types:\n    collapse:\n"
                          "      gnss: {blue: 0.1, yellow: 0.2, orange: 200, red: 300}\n")
    settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=tmp_path / "var",
                        database_url=f"sqlite:///{tmp_path / 'registry.db'}",
                        thresholds_file=thresholds)
    prepare_database(settings)
    point = RiskPoint(id="REG-1", name="registered", hazard_type="collapse", lon=103.0,
                      lat=30.0, geometry={"type": "Point", "coordinates": [103.0, 30.0]},
                      county_adcode="510100", province_adcode="510000")
    with session_scope(session_factory(make_engine(settings.effective_database_url))) as session:
        upsert_points(session, [point])
    csv = tmp_path / "series.csv"
    accelerating_csv(csv, step_hours=2.0)
    series = read_series_csv(csv)
    result, temporary = services.run_replay(settings, series, point_id="REG-1",
                                            sensor_id="G1", kind="gnss", unit="mm")
    assert not temporary
    levels = [ORDER.index(r.level) for r in result.rows]
    assert max(levels) == ORDER.index("yellow")    # its collapse thresholds: yellow at 0.2 mm/d
    _, default = services.run_replay(settings, series, point_id="OTHER", sensor_id="G1",
                                     kind="gnss", unit="mm")
    assert default
