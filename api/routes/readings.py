"""POST /readings: sensor gateways publish readings onto ``geowarn.readings``.

The body is one reading or a JSON array of them, each in the message schema
of the topic (``streams.schemas.Reading``, docs/topics/geowarn.readings.schema.json).
All are validated before any is produced: a batch with one bad reading is
refused whole (422, every problem with its index), so a gateway can fix and
resend it without creating duplicates. 202 means the broker has them all.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from api.deps import Gateway, ProducerDep, TopicsDep
from api.errors import InvalidReading
from api.models import ErrorMessage
from api.responses import OrjsonResponse
from streams.schemas import Reading

router = APIRouter(tags=["readings"])

MAX_READINGS = 10_000
"""Readings per request: a minute of a large gateway, far below the producer's request size."""


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema with its ``$defs`` inlined, for the OpenAPI request body."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


_READING = _inline(Reading.model_json_schema())
BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [_READING, {"type": "array", "items": _READING, "maxItems": MAX_READINGS}]}}}}}


class Accepted(BaseModel):
    accepted: int


def validate_readings(raw: bytes) -> list[Reading]:
    """The readings of a request body; ``InvalidReading`` lists every problem."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidReading([{"type": "json_invalid", "loc": ["body"],
                               "msg": f"invalid JSON: {exc}", "input": None}]) from None
    single = not isinstance(payload, list)
    items = [payload] if single else payload
    if not items or len(items) > MAX_READINGS:
        raise InvalidReading([{"type": "value_error", "loc": ["body"], "input": None,
                               "msg": f"expected 1 to {MAX_READINGS} readings, got {len(items)}"}])
    readings, problems = [], []
    for index, item in enumerate(items):
        try:
            readings.append(Reading.model_validate(item))
        except ValidationError as exc:
            where = ["body"] if single else ["body", index]
            problems.extend({"type": e["type"], "loc": [*where, *e["loc"]], "msg": e["msg"],
                             "input": e.get("input")} for e in exc.errors(include_url=False))
    if problems:
        raise InvalidReading(problems)
    return readings


@router.post("/readings", status_code=202, response_model=Accepted, openapi_extra=BODY,
             responses={401: {"model": ErrorMessage}, 403: {"model": ErrorMessage},
                        503: {"model": ErrorMessage, "description": "the broker is unavailable"}},
             summary="Publish sensor readings (sensor gateways and national officers)")
async def publish_readings(request: Request, user: Gateway, producer: ProducerDep,
                           topics: TopicsDep) -> OrjsonResponse:
    readings = validate_readings(await request.body())
    messages = [(r.point_id.encode(), orjson.dumps(r.model_dump(mode="json"))) for r in readings]
    await run_in_threadpool(producer.send_all, topics.readings, messages)
    return OrjsonResponse({"accepted": len(messages)}, status_code=202)
