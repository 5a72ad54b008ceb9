"""Fixtures of the console's browser tests: the real API (uvicorn on a free port) over a
seeded SQLite database and the session's Tansu broker, and Debian's Chromium driven
headless by Playwright (never a downloaded browser).

One server and one browser per module: starting Chromium costs seconds on two cores.
Each test gets a fresh browser context (no shared storage) and its own warnings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from kafka import KafkaProducer
from playwright.sync_api import Browser, Page, sync_playwright

from geowarn.embedded import free_port
from store.db import make_engine, session_factory, session_scope
from store.history import Aggregate, bucket_start, upsert_aggregates
from store.migrate import upgrade
from store.tables import LevelTimelineRow
from streams.kafka_config import KafkaConfig
from streams.schemas import WarningEvent
from streams.topics import Topics, ensure_topics
from tests.api.seed import PASSWORD, TOKENS, make_app, seed

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
# Headless Chromium draws WebGL with SwiftShader; recent versions want it asked for.
CHROMIUM_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-sandbox"]


@dataclass
class LiveConsole:
    url: str
    topics: Topics
    producer: KafkaProducer
    sessions: object

    def publish(self, event: WarningEvent) -> None:
        """Produce a warning event as the ledger does, keyed by the point."""
        self.producer.send(self.topics.warning_events, key=event.point_id.encode(),
                           value=event.model_dump_json().encode())
        self.producer.flush()

    def get(self, path: str, user: str = "national") -> dict:
        response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {TOKENS[user]}"},
                             timeout=10)
        response.raise_for_status()
        return response.json()


def seed_history(sessions, hours: int = 6 * 24) -> None:
    """Six days of hourly readings at P1 (GNSS creeping faster, rain in a storm) and its level
    timeline (yellow, then orange): what the panel charts with level bands."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for k in range(hours):
        at = now - timedelta(hours=hours - k)
        displacement = 0.02 * k + 0.0004 * k * k            # mm, accelerating
        rain = 12.0 if hours - 30 < k < hours - 18 else 0.5  # mm/h, a storm a day ago
        for sensor, kind, value in (("G1", "gnss", displacement), ("R1", "rain_gauge", rain)):
            rows.append(Aggregate("P1", sensor, kind, bucket_start(at), 1, value, value, value,
                                  value, at))
    with session_scope(sessions) as session:
        upsert_aggregates(session, rows)
        session.add_all([
            LevelTimelineRow(assessment_id=f"A-P1-{level}", point_id="P1",
                             observed_at=now - timedelta(hours=hours_ago), level=level,
                             model="deformation", model_version="1")
            for level, hours_ago in (("yellow", 72), ("orange", 24))])


@pytest.fixture(scope="module")
def live_console(broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    root = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{root / 'geowarn.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed(engine)
    seed_history(session_factory(engine))
    prefix = f"console{time.monotonic_ns() % 10**9}."
    topics = Topics.with_prefix(prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    app = make_app(url, KafkaConfig(broker.bootstrap), prefix, root)
    port = free_port(18700)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 15 s"
    producer = KafkaProducer(**KafkaConfig(broker.bootstrap).producer(linger_ms=0))
    try:
        yield LiveConsole(f"http://127.0.0.1:{port}", topics, producer, session_factory(engine))
    finally:
        producer.close()
        server.should_exit = True
        thread.join(15)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make system-deps`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def log_in(page: Page, base_url: str, user: str) -> None:
    """Log in through the form as a person would, and wait for the points to be drawn."""
    page.goto(base_url + "/")
    page.fill("#login input[name=username]", user)
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-console-ready]", timeout=30_000)


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path
