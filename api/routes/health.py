"""GET /health: can this API process serve, and are the workers keeping up?

``status`` is "ok" (HTTP 200) when the database and the broker answer, and
"degraded" (HTTP 503) otherwise, so a load balancer can act on the status
code alone. Worker progress and the push hub are reported for operators but
do not change the status: a paused worker does not stop the API serving.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep, HubDep, ProbeDep, SessionDep
from api.models import Health
from api.responses import OrjsonResponse
from store.db import ping
from store.progress import Progress, read_progress

router = APIRouter(tags=["health"])

LAG_SOURCE = "broker-reported highwater minus committed offset"


def progress_json(row: Progress, now: datetime) -> dict[str, Any]:
    return {
        "worker": row.worker,
        "topic": row.topic,
        "partition": row.partition,
        "committed_offset": row.committed_offset,
        "highwater": row.highwater,
        "lag": row.lag,
        "lag_source": LAG_SOURCE,
        "last_event_at": row.last_event_at,
        "updated_at": row.updated_at,
        "age_seconds": round((now - row.updated_at).total_seconds(), 3),
    }


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "database or broker unreachable"}},
            summary="Health of this API process, the broker, the database and the workers")
async def health(engine: EngineDep, session: SessionDep, probe: ProbeDep, hub: HubDep):
    broker = await run_in_threadpool(probe.status)
    database = {"ok": await run_in_threadpool(ping, engine), "dialect": engine.dialect.name,
                "error": None}
    consumers: list[dict[str, Any]] = []
    if database["ok"]:
        try:
            rows = await run_in_threadpool(read_progress, session)
        except SQLAlchemyError as exc:  # reachable, but e.g. not migrated
            database.update(ok=False, error=_first_line(exc))
        else:
            now = datetime.now(UTC)
            consumers = [progress_json(row, now) for row in rows]
    else:
        database["error"] = "the database does not answer"
    ok = database["ok"] and broker.ok
    body = {
        "status": "ok" if ok else "degraded",
        "broker": broker.as_dict(),
        "database": database,
        "push": hub.status(),
        "consumers": consumers,
    }
    return OrjsonResponse(body, status_code=200 if ok else 503)


def _first_line(exc: SQLAlchemyError) -> str:
    """The driver's message without the SQL statement SQLAlchemy appends."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
