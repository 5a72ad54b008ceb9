"""The app factory: the only place the API reads settings and builds its parts.

``create_app`` wires the engine, the push hub and the broker probe onto
``app.state``; routes get them through ``api.deps``. The database schema is
the composition root's business (``store.migrate.upgrade`` before serving).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api.broker_probe import BrokerProbe
from api.errors import add_exception_handlers
from api.push.hub import PushHub
from api.routes import health, push, risk_points, warnings
from geowarn.settings import Settings
from store.db import make_engine, safe_url, session_factory
from streams.kafka_config import KafkaConfig, safe_bootstrap
from streams.topics import Topics

log = logging.getLogger(__name__)

DESCRIPTION = """\
Geological-hazard early warning: monitored risk points, tiered warnings
(IV blue, III yellow, II orange, I red) and their audit trail.

All geometry is GeoJSON (RFC 7946): longitude, latitude in EPSG:4326.
Lists are GeoJSON FeatureCollections paged with `limit`/`offset`; follow the
`next` link in `links`.

**Live push**: WebSocket `/ws/warnings` (optional `province`, `min_level`)
sends `{"type": "hello"}` on connect, then `{"type": "warning_event",
"event": {...}}` for every warning event (the `geowarn.warning-events`
message schema) issued after the API process started.
"""

TAGS = [
    {"name": "health", "description": "Liveness of the API, broker, database and workers."},
    {"name": "risk points", "description": "Monitored risk points with their current level."},
    {"name": "warnings", "description": "Active and past warnings, evidence and transitions."},
    {"name": "push", "description": "WebSocket `/ws/warnings`: live warning events."},
]


def create_app(settings: Settings | None = None, *, topics: Topics | None = None,
               kafka: KafkaConfig | None = None) -> FastAPI:
    """Build the API.

    ``settings`` defaults to ``Settings()`` (the environment); ``topics`` and
    ``kafka`` default to the settings' own, which need ``kafka_bootstrap``
    set (the root resolves the embedded broker's address first).
    """
    settings = settings or Settings()
    topics = topics or settings.topics
    kafka = kafka or settings.kafka
    engine = make_engine(settings.effective_database_url)
    hub = PushHub(kafka, topics.warning_events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("API on database %s, broker %s, pushing %s", safe_url(engine.url),
                 safe_bootstrap(kafka.bootstrap), topics.warning_events)
        hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            hub.close_clients()
            await run_in_threadpool(hub.stop)
            engine.dispose()

    app = FastAPI(title="geowarn", version="0.1.0", description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan)
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.hub = hub
    app.state.broker_probe = BrokerProbe(kafka)
    add_exception_handlers(app)
    for module in (health, risk_points, warnings, push):
        app.include_router(module.router)
    return app
