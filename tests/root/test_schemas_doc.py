import orjson

from geowarn.schemas_doc import write_topic_schemas
from streams.topics import CATALOGUE


def test_every_topic_gets_a_json_schema(tmp_path):
    written = {path.name for path in write_topic_schemas(tmp_path)}
    for spec in CATALOGUE:
        assert f"{spec.name}.schema.json" in written
    reading = orjson.loads((tmp_path / "geowarn.readings.schema.json").read_bytes())
    assert set(reading["required"]) >= {"point_id", "sensor_id", "kind", "observed_at", "value", "unit"}
    assert reading["additionalProperties"] is False


def test_committed_schemas_are_current(tmp_path):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "topics"
    for path in write_topic_schemas(tmp_path):
        assert (docs / path.name).read_text() == path.read_text(), f"run `geowarn schemas`: {path.name}"
