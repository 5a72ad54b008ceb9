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

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from api import officers
from api.auth.dependencies import default_access
from api.broker_probe import BrokerProbe
from api.cap import CapOptions
from api.deps import require_point_scope
from api.errors import add_exception_handlers
from api.nowcast_grids import NowcastGrids
from api.push.consultations import ConsultationOutboxSweep, consultation_hub
from api.push.hub import PushHub
from api.routes import (
    actions,
    auth,
    candidates,
    cap,
    console,
    consultation_files,
    consultation_socket,
    consultations,
    health,
    nowcast,
    ogc,
    push,
    readings,
    reports,
    risk_points,
    series,
    subscriptions,
    warnings,
)
from geowarn.settings import Settings
from store.attachments import AttachmentStore
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

**Access**: every route but `/health`, `/auth/token` and the console's
page, code and boundary map (`/`, `/console/assets/...`,
`/console/boundaries/...`) needs `Authorization: Bearer <token>`: a JWT
from `POST /auth/token` (people) or an API token from `geowarn users token NAME` (machines). Roles and provinces
decide what a caller may read and do (401 without credentials, 403 outside
the role or the provinces, with the reason).

**Live push**: WebSocket `/ws/warnings` (optional `province`, `min_level`;
the token in `Authorization` or in `access_token`)
sends `{"type": "hello"}` on connect, then `{"type": "warning_event",
"event": {...}}` for every warning event (the `geowarn.warning-events`
message schema) issued after the API process started.
"""

TAGS = [
    {"name": "health", "description": "Liveness of the API, broker, database and workers."},
    {"name": "risk points", "description": "Monitored risk points with their current level."},
    {"name": "warnings", "description": "Active and past warnings, evidence and transitions."},
    {"name": "push", "description": "WebSocket `/ws/warnings`: live warning events."},
    {"name": "auth", "description": "Access tokens for people (OAuth2 password flow)."},
    {"name": "reports", "description": "Response times from detection to lifting."},
    {"name": "readings", "description": "Sensor gateways publish readings."},
    {"name": "CAP", "description": "CAP 1.2 messages of the warnings (an Alert, Updates, a "
                                   "Cancel per warning) and their Atom feed, for alerting "
                                   "systems."},
    {"name": "OGC API – Features", "description": "Risk points, warnings and candidate areas "
                                                  "for GIS clients: QGIS, GDAL `OAPIF:`."},
    {"name": "nowcast", "description": "Regional nowcast from rainfall rasters: map tiles, "
                                       "COG download, per-county summaries."},
    {"name": "candidate areas", "description": "InSAR hot spots no risk point covers: "
                                               "accept as a risk point or reject."},
    {"name": "console", "description": "The consultation console's data: the page itself is "
                                       "at `/`."},
    {"name": "consultations", "description": "Officers and experts discuss a warning or an "
                                             "area: threaded messages with attachments, "
                                             "decisions that act on the warning, a closing "
                                             "summary; live on WebSocket "
                                             "`/ws/consultations/{id}`."},
    {"name": "subscriptions", "description": "Notifications to regional authorities: webhook "
                                             "(HMAC-signed) or e-mail subscriptions per "
                                             "province or county, and their delivery log."},
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
    consultation_events = consultation_hub(kafka, topics.consultation_events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("API on database %s, broker %s, pushing %s", safe_url(engine.url),
                 safe_bootstrap(kafka.bootstrap), topics.warning_events)
        hub.start(asyncio.get_running_loop())
        consultation_events.start(asyncio.get_running_loop())
        sweep = asyncio.create_task(app.state.consultation_outbox_sweep.run(app.state))
        try:
            yield
        finally:
            sweep.cancel()
            hub.close_clients()
            consultation_events.close_clients()
            await run_in_threadpool(hub.stop)
            await run_in_threadpool(consultation_events.stop)
            await asyncio.gather(sweep, return_exceptions=True)  # before the producer closes
            await run_in_threadpool(app.state.producer.close)
            engine.dispose()

    # default_access closes every route that does not declare its own access.
    app = FastAPI(title="geowarn", version="0.1.0", description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan, dependencies=[Depends(default_access)])
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.hub = hub
    app.state.consultation_hub = consultation_events
    app.state.consultation_outbox_sweep = ConsultationOutboxSweep()
    app.state.attachments = AttachmentStore(settings.data_dir / "attachments",
                                            settings.attachment_max_bytes)
    app.state.broker_probe = BrokerProbe(kafka)
    officers.configure(app, settings, kafka, topics)
    add_exception_handlers(app)
    for module in (health, auth, risk_points, warnings, actions, reports, readings, push):
        app.include_router(module.router)
    app.include_router(series.router, dependencies=[Depends(require_point_scope)])
    app.include_router(cap.create_router(CapOptions(sender=settings.cap_sender,
                                                    circle_radius_km=settings.cap_circle_radius_km)))
    app.include_router(ogc.create_router())
    app.state.nowcast_grids = NowcastGrids(settings.data_dir / "nowcast")
    app.include_router(nowcast.router)
    app.include_router(candidates.router)
    app.include_router(subscriptions.router)
    for module in (consultations, consultation_files, consultation_socket):
        app.include_router(module.router)
    app.include_router(console.create_router(console.ConsoleOptions(
        basemap_url=settings.console_basemap_url,
        basemap_attribution=settings.console_basemap_attribution)))
    return app
