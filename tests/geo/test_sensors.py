"""The one-cell sensors text: "S1:gnss:mm;S2:rain_gauge:mm/h"."""

from __future__ import annotations

import pytest

from geo.registry import SensorSpec
from geo.sensors import SensorSpecError, format_sensors, parse_sensors
from streams.units import SensorKind


def test_parse_reads_ids_kinds_and_units() -> None:
    assert parse_sensors(" S1:gnss:cm ; S2:RAIN_GAUGE ;") == (
        SensorSpec(sensor_id="S1", kind=SensorKind.GNSS, unit="cm"),
        SensorSpec(sensor_id="S2", kind=SensorKind.RAIN_GAUGE, unit="mm/h"),
    )


@pytest.mark.parametrize("cell", ["", "   ", None])
def test_an_empty_cell_means_no_sensors(cell: str | None) -> None:
    assert parse_sensors(cell) == ()


def test_ids_may_contain_colons() -> None:
    (spec,) = parse_sensors("site:7:gnss:mm")
    assert (spec.sensor_id, spec.kind, spec.unit) == ("site:7", SensorKind.GNSS, "mm")


def test_format_and_parse_round_trip() -> None:
    specs = parse_sensors("G1:gnss:m;T1:tilt:deg;M1:mud_level")
    assert format_sensors(specs) == "G1:gnss:m;T1:tilt:deg;M1:mud_level:mm"
    assert parse_sensors(format_sensors(specs)) == specs


@pytest.mark.parametrize(("cell", "message"), [
    ("S1:seismometer:mm", r"unknown kind 'seismometer'; accepted: gnss, crack, .*mud_level"),
    ("S1:gnss:furlong", r"unit 'furlong' is not valid for a gnss sensor; accepted: cm, m, mm"),
    ("S1", r"'S1' is not ID:kind\[:unit\]"),
    ("S 1:gnss", r"ids use letters, digits"),
    ("S1:gnss;S1:crack", r"sensor id 'S1' appears twice"),
])
def test_bad_cells_say_what_is_accepted(cell: str, message: str) -> None:
    with pytest.raises(SensorSpecError, match=message):
        parse_sensors(cell)


def test_every_problem_of_a_cell_is_reported() -> None:
    with pytest.raises(SensorSpecError) as caught:
        parse_sensors("A:foo;B:gnss:furlong;C:crack")
    assert "'foo'" in str(caught.value) and "'furlong'" in str(caught.value)
