"""Parsing of query parameters: every rejection says what was expected and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.errors import InvalidQuery
from api.params import parse_bbox, parse_levels, require_aware, restore_plus
from store.read import BBox


def test_bbox_in_rfc7946_order() -> None:
    assert parse_bbox(" 102.5, 28 ,106,32.5") == BBox(102.5, 28.0, 106.0, 32.5)


def test_bbox_across_the_antimeridian_is_accepted() -> None:
    assert parse_bbox("170,-20,-170,-10") == BBox(170.0, -20.0, -170.0, -10.0)


@pytest.mark.parametrize(("bbox", "message"), [
    ("103,30,104", "expected 4 comma-separated numbers minLon,minLat,maxLon,maxLat, got 3"),
    ("a,b,c,d", "expected numbers in the format minLon,minLat,maxLon,maxLat, got 'a,b,c,d'"),
    ("nan,30,104,31", "expected finite numbers in the format minLon,minLat,maxLon,maxLat"),
    ("200,30,201,31", "minLon 200.0 is outside -180..180"),
    ("31,103,32,104", ("minLat 103.0 is outside -90..90 "
                      "(the format is minLon,minLat,maxLon,maxLat, longitude first)")),
    ("103,32,104,30", "minLat 32.0 is greater than maxLat 30.0"),
])
def test_a_bad_bbox_names_the_format_and_the_fault(bbox: str, message: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_bbox(bbox)
    assert caught.value.parameter == "bbox" and caught.value.value == bbox
    assert message in caught.value.message


def test_levels_accept_colours_and_tiers() -> None:
    assert parse_levels("level", "II, red,IV") == ["blue", "orange", "red"]


def test_an_unknown_level_lists_the_known_ones() -> None:
    with pytest.raises(InvalidQuery, match="unknown warning level 'purple'; expected one of "
                                           "none, blue, yellow, orange, red or a tier IV..I"):
        parse_levels("level", "purple")


def test_a_naive_time_is_rejected_with_an_example() -> None:
    with pytest.raises(InvalidQuery, match="no time zone.*2026-07-01T08:00:00Z"):
        require_aware("since", datetime(2026, 7, 1, 8))


def test_an_aware_time_passes() -> None:
    moment = datetime(2026, 7, 1, 8, tzinfo=UTC)
    assert require_aware("since", moment) is moment


@pytest.mark.parametrize(("raw", "fixed"), [
    ("2026-07-01T16:00:00 08:00", "2026-07-01T16:00:00+08:00"),
    ("2026-07-01T16:00 0800", "2026-07-01T16:00+0800"),
    ("2026-07-01T08:00:00Z", "2026-07-01T08:00:00Z"),
    ("2026-07-01T08:00:00-03:00", "2026-07-01T08:00:00-03:00"),
])
def test_an_unencoded_plus_of_an_offset_is_restored(raw: str, fixed: str) -> None:
    assert restore_plus(raw) == fixed
