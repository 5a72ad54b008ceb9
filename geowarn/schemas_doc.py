"""Writes the JSON Schema of every topic's messages into docs/topics/."""

from __future__ import annotations

import inspect
from pathlib import Path

import orjson

from streams.schemas import TOPIC_SCHEMAS
from streams.topics import CATALOGUE


def write_topic_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = {spec.name: spec for spec in CATALOGUE}
    written: list[Path] = []
    index = ["# Topics", "", "| topic | key | message | schema |", "|---|---|---|---|"]
    for topic, model in TOPIC_SCHEMAS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"{topic}.schema.json"
        schema["description"] = inspect.cleandoc(model.__doc__ or "")
        path = out_dir / f"{topic}.schema.json"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        written.append(path)
        spec = specs[topic]
        index.append(f"| `{topic}` | {spec.key} | {spec.description} | [{path.name}]({path.name}) |")
    readme = out_dir / "README.md"
    readme.write_text("\n".join(index) + "\n\nEvery message is a JSON object with `schema_version`. "
                      "Regenerate these files with `geowarn schemas`.\n")
    written.append(readme)
    return written
