"""Bulk decoding of readings: the same rules as the Reading model, faster."""

from __future__ import annotations

import orjson
import pytest
from numpy.testing import assert_allclose

from streams.codec import ReadingDecoder, datetime_to_ns, parse_times
from streams.schemas import Reading
from streams.scorer_state import KIND_CODE

KNOWN = {"P1": "landslide", "P2": "debris_flow"}
GOOD = {"schema_version": 1, "point_id": "P1", "sensor_id": "G1", "kind": "gnss",
        "observed_at": "2026-07-01T08:00:00Z", "value": 1.5, "unit": "cm"}


def encode(**changes) -> bytes:
    message = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in message.items() if v is not DROP})


DROP = object()


def test_a_good_batch_decodes_with_unit_conversion():
    values = [encode(), encode(point_id="P2", sensor_id="M1", kind="mud_level", value=2, unit="m",
                               observed_at="2026-07-01T10:30:00.250+02:00"),
              encode(schema_version=DROP, kind="tilt", unit="arcsec", value=3600.0)]
    decoder = ReadingDecoder(KNOWN)
    decoded, rejects = decoder.decode(values)
    assert rejects == []
    assert decoded.index.tolist() == [0, 1, 2]
    assert_allclose(decoded.value, [15.0, 2000.0, 1.0])
    assert decoded.kind.tolist() == [KIND_CODE["gnss"], KIND_CODE["mud_level"], KIND_CODE["tilt"]]
    assert [decoder.index.point_ids[p] for p in decoded.point] == ["P1", "P2", "P1"]
    expected = [datetime_to_ns(Reading.model_validate(orjson.loads(v)).observed_at) for v in values]
    assert decoded.observed_ns.tolist() == expected
    # the same series (P1, G1, gnss) gets the same slot next time
    again, _ = decoder.decode([encode(observed_at="2026-07-01T09:00:00Z")])
    assert again.series.tolist() == [decoded.series[0]]


@pytest.mark.parametrize("value, reason", [
    (b"{not json", "invalid JSON"),
    (None, "empty message"),
    (b"[1, 2]", "valid dictionary"),
    (encode(point_id=DROP), "point_id: Field required"),
    (encode(extra=1), "extra: Extra inputs are not permitted"),
    (encode(schema_version=2), "schema_version: Input should be 1"),
    (encode(sensor_id="G 1"), "sensor_id: String should match pattern"),
    (encode(sensor_id=["G1"]), "sensor_id: Input should be a valid string"),
    (encode(kind="GNSS"), "kind: Input should be 'gnss'"),
    (encode(unit="furlong"), "unit 'furlong' is not valid for a gnss sensor"),
    (encode(observed_at="2026-07-01T08:00:00"), "must carry a time zone"),
    (encode(observed_at="2026-02-30T08:00:00Z"), "observed_at"),
    (encode(value="NaN"), "value: Input should be a finite number"),
    (encode(value=None), "value: Input should be a valid number"),
    (encode(point_id="NOPE"), "unknown risk point 'NOPE'"),
    (encode(value=1e308, unit="m"), "overflows"),
])
def test_each_malformed_reading_is_rejected_with_its_reason(value, reason):
    values = [encode(), value, encode(observed_at="2026-07-01T08:01:00Z")]
    decoded, rejects = ReadingDecoder(KNOWN).decode(values)
    assert [r.index for r in rejects] == [1]
    assert reason in rejects[0].reason
    assert sorted(decoded.index.tolist()) == [0, 2]


@pytest.mark.parametrize("value, expected", [
    (encode(observed_at=1782892800), "2026-07-01T08:00:00+00:00"),   # a Unix time stamp
    (encode(value="2.5"), None),                                       # a number in a string
    (encode(observed_at="2026-07-01 08:00:00Z"), "2026-07-01T08:00:00+00:00"),
    (encode(observed_at="2026-07-01T08:00:00.1234567Z"), "2026-07-01T08:00:00.123456+00:00"),
])
def test_what_the_model_accepts_outside_the_fast_path_is_decoded_like_the_model(value, expected):
    decoded, rejects = ReadingDecoder(KNOWN).decode([value])
    reading = Reading.model_validate(orjson.loads(value))
    assert rejects == []
    assert decoded.observed_ns.tolist() == [datetime_to_ns(reading.observed_at)]
    assert_allclose(decoded.value, [reading.value])
    if expected:
        assert reading.observed_at.isoformat() == expected


def test_points_imported_later_are_accepted_after_a_refresh():
    decoder = ReadingDecoder({"P1": "landslide"})
    _, rejects = decoder.decode([encode(point_id="P9")])
    assert rejects[0].reason == "unknown risk point 'P9'"
    decoder.set_known_points({"P1": "landslide", "P9": "collapse"})
    decoded, rejects = decoder.decode([encode(point_id="P9")])
    assert rejects == [] and len(decoded) == 1
    decoder.set_known_points({"P1": "landslide"})
    _, rejects = decoder.decode([encode(point_id="P9")])
    assert rejects[0].reason == "unknown risk point 'P9'"


def test_bulk_time_parsing_agrees_with_the_model():
    texts = ["2026-07-01T08:00:00Z", "2026-07-01T08:00:00.5Z", "2024-02-29T23:59:59.999999Z",
             "2026-07-01T08:00:00+08:00", "2026-07-01T08:00:00.25-03:30", "2026-07-01T08:00:60Z",
             "2026-13-01T08:00:00Z", "2026-07-01T08:00:00+24:00", "2026-07-01T08:00:00", "x"]
    ns, ok = parse_times(texts)
    assert ok.tolist() == [True] * 5 + [False] * 5
    for text, value in zip(texts[:5], ns[:5].tolist()):
        reading = Reading.model_validate({**GOOD, "observed_at": text})
        assert value == datetime_to_ns(reading.observed_at), text
