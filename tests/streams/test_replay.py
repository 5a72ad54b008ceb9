"""Replay of a sensor series: the CSV, the timeline, the picture, and a run on a real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from matplotlib import image

from streams.replay import (
    ReplayInputError,
    ReplayResult,
    TimelineRow,
    read_series_csv,
    reading_messages,
    render_json_lines,
    render_text,
    run_replay,
)
from streams.replay_plot import plot_replay
from streams.topics import Topics

T0 = 1_780_000_000.0
DAY = 86_400.0
ORDER = ("none", "blue", "yellow", "orange", "red")


def accelerating_csv(path, step_hours: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Creep at 0.5 mm/day for 3 days, then a velocity growing e-fold every 0.6 days
    (95 mm/day at the last reading, day 6.15); 0.05 mm of noise."""
    days = np.arange(0.0, 6.15, step_hours / 24.0)
    tau = 0.6
    after = np.maximum(days - 3.0, 0.0)
    x = 0.5 * np.minimum(days, 3.0) + 0.5 * tau * np.expm1(after / tau)
    x += np.random.default_rng(3).normal(0.0, 0.05, days.size)
    lines = ["observed_at,value"] + [
        f"{datetime.fromtimestamp(T0 + d * DAY, UTC).isoformat().replace('+00:00', 'Z')},{v:.4f}"
        for d, v in zip(days, x, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return days, x


def test_a_bad_row_stops_the_reading_with_its_line_number(tmp_path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("observed_at,value\n2026-07-01T00:00:00Z,1.0\n2026-07-01T01:00:00Z,abc\n"
                   "2026-07-01T02:00:00,2.0\n2026-07-01T03:00:00+08:00,3.5\n")
    with pytest.raises(ReplayInputError, match=r"s\.csv:3: value 'abc' is not a number"):
        read_series_csv(csv)
    series = read_series_csv(csv, skip_invalid=True)
    assert [line for line, _ in series.skipped] == [3, 4]
    assert "time zone" in series.skipped[1][1]
    assert series.lines.tolist() == [5, 2]                   # sorted by event time
    assert series.values.tolist() == [3.5, 1.0]


@pytest.mark.parametrize(("text", "message"), [
    ("time,value\n2026-07-01T00:00:00Z,1\n", "must name the columns observed_at and value"),
    ("observed_at,value\n", "no readings"),
    ("observed_at,value\n2026-13-01T00:00:00Z,1\n", ":2: observed_at '2026-13-01T00:00:00Z'"),
    ("observed_at,value\n2026-07-01T00:00:00Z,nan\n", ":2: value 'nan' is not a finite"),
])
def test_unusable_files_are_refused_with_the_reason(tmp_path, text: str, message: str) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(text)
    with pytest.raises(ReplayInputError, match=message):
        read_series_csv(csv)


def test_messages_are_readings_in_event_time_and_units_are_checked(tmp_path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("observed_at,value\n2026-07-01T02:00:00Z,2\n2026-07-01T01:00:00Z,1\n")
    series = read_series_csv(csv)
    messages = reading_messages(series, point_id="P", sensor_id="S", kind="gnss", unit="cm")
    assert [orjson.loads(v)["observed_at"] for _, v in messages] == [
        "2026-07-01T01:00:00Z", "2026-07-01T02:00:00Z"]
    assert {k for k, _ in messages} == {b"P"}
    with pytest.raises(ValueError, match="not valid for a gnss sensor"):
        reading_messages(series, point_id="P", sensor_id="S", kind="gnss", unit="kPa")


def result_of(rows: list[TimelineRow]) -> ReplayResult:
    return ReplayResult(rows, len(rows), 0, Topics.with_prefix("x."), "site-1+test")


def test_text_and_json_renderings() -> None:
    when = [datetime.fromtimestamp(T0 + h * 3600, UTC) for h in range(4)]
    failure = datetime.fromtimestamp(T0 + 50 * 3600, UTC)
    rows = [TimelineRow(when[0], "none", "ok", "max_indicator", None, None, None, None, None),
            TimelineRow(when[1], "none", "ok", "max_indicator", 1.5, 40.0, None, None, None),
            TimelineRow(when[2], "orange", "ok", "red_capped", 30.0, 86.0, failure, when[3],
                        failure),
            TimelineRow(when[3], "orange", "no_data", "no_data", None, None, None, None, None)]
    text = render_text(result_of(rows), point_id="P", kind="gnss", unit="mm", temporary=True)
    assert "temporary point with default thresholds" in text
    assert len(text.splitlines()) == 1 + 3 + 1           # header, 3 changes, summary
    assert "failure 2026-05-30T22:26Z" in text and "highest level: orange" in text
    lines = [orjson.loads(line) for line in render_json_lines(result_of(rows)).splitlines()]
    assert [line["level"] for line in lines] == ["none", "none", "orange", "orange"]
    assert lines[0] == {"observed_at": "2026-05-28T20:26:40Z", "level": "none", "status": "ok",
                        "velocity": None, "tangent_angle": None, "predicted_failure": None}
    assert lines[2]["predicted_failure"] == "2026-05-30T22:26:40Z"


def test_the_plot_is_a_png_with_the_four_panels(tmp_path) -> None:
    csv = tmp_path / "s.csv"
    accelerating_csv(csv, step_hours=6.0)
    series = read_series_csv(csv)
    rows = [TimelineRow(datetime.fromtimestamp(ns / 1e9, UTC), ORDER[min(i // 5, 4)], "ok",
                        "max_indicator", 0.5 + i, 45.0 + i, None, None, None)
            for i, ns in enumerate(series.observed_ns.tolist())]
    out = plot_replay(result_of(rows), series, tmp_path / "deep" / "out.png", title="P",
                      value_unit="mm", rate_unit="mm/d")
    picture = image.imread(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.shape[0] >= 800 and picture.shape[1] >= 800


@pytest.mark.kafka
def test_a_replay_through_the_broker_gives_one_judgement_per_reading(broker, tmp_path) -> None:
    csv = tmp_path / "s.csv"
    days, _ = accelerating_csv(csv)
    series = read_series_csv(csv)
    stages: list[str] = []
    result = run_replay(bootstrap=broker.bootstrap, series=series, point_id="TMP-1",
                        sensor_id="G1", kind="gnss", unit="mm",
                        known_points={"TMP-1": "landslide"}, config=None,
                        prefix=f"replay-{uuid.uuid4().hex[:8]}.",
                        progress=lambda stage, done, total: stages.append(stage))
    assert result.sent == len(series) == len(result.rows) and result.dead_letters == 0
    assert {"producing", "scoring"} <= set(stages)
    seen = np.array([(r.observed_at.timestamp() - T0) / DAY for r in result.rows])
    np.testing.assert_allclose(seen, days, atol=1e-6)
    levels = np.array([ORDER.index(r.level) for r in result.rows])
    assert levels[seen < 3.0].max() == 0                    # calm creep: nothing
    assert levels.max() >= ORDER.index("orange")            # the acceleration is warned
    assert np.all(np.diff(levels[seen > 3.0]) >= 0)
    velocity = [r.velocity for r in result.rows if r.velocity is not None]
    assert velocity[-1] > 20.0
