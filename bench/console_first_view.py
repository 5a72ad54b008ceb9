"""Console first-view benchmark: from navigation to 50,000 risk points drawn, in real Chromium.

    python -m bench.console_first_view [--points 50000] [--runs 5] [--warning-share 0.05] [--timeline]

Serves the real API (uvicorn, SQLite, the embedded Tansu broker unless
GEOWARN_KAFKA_BOOTSTRAP is set) and opens the console in Debian's headless
Chromium (/usr/bin/chromium, WebGL through SwiftShader) with Playwright, a
fresh browser context (cold cache) per run, already logged in (the token is
put in the tab's storage, so the figure is the first view, not the typing of
a password). It reads the page's ``geowarn:pointsReady`` performance mark:
the points are fetched, handed to the map and drawn, and the map is idle
(interactive); and ``geowarn:warningsReady``, when the warning list beside it
is filled too.

``--points`` demo points (geo.demo_data) are registered, a share of them with
an active warning so that every level colour is drawn. Then, alternating run
by run so that a busy machine weighs on both alike:

(a) baseline: the same page, server and data for a provincial officer of
    Macau, where no demo point lies: the point layer is empty;
(b) the page for a national officer: every point.

Prints each run, the medians, their ratio, the cost of the points over the
baseline, and whether the median meets the 3 s target. ``--screenshot``
saves the national view.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from api.app import create_app
from api.auth.credentials import hash_password, issue_access_token
from geo.boundaries import Boundaries
from geo.demo_data import generate_demo_points
from geowarn.embedded import embedded_broker, free_port
from geowarn.settings import Settings
from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.points import upsert_points
from store.tables import WarningRow
from store.users import add_user
from streams.topics import Topics, ensure_topics

TARGET_S = 3.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-sandbox"]
USERS = {"bench-national": ("national_officer", ()),
         "bench-macau": ("provincial_officer", ("820000",))}
LEVELS = ("blue", "yellow", "orange", "red")
LEVEL_SHARES = (0.5, 0.3, 0.15, 0.05)


def serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port(18_900)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("uvicorn did not start within 30 s")
    return server, thread, f"http://127.0.0.1:{port}"


MARKS = """() => [performance.timeOrigin, ...performance.getEntriesByType("mark").map(
  (m) => [m.startTime, m.startTime, m.name])]"""


def print_timeline(page, requests: list) -> None:
    """The first view's requests (the map worker's too) and the page's marks, in seconds
    from navigation, by when they ended."""
    origin, *rows = page.evaluate(MARKS)
    for request in requests:
        timing = request.timing
        if timing["responseEnd"] < 0:
            continue
        start = timing["startTime"] - origin
        size = request.sizes()["responseBodySize"]
        path = request.url.removeprefix(page.url.rstrip("/"))[:60]
        label = f"{path} ({size / 1024:.0f} kB, first byte after {timing['responseStart']:.0f} ms)"
        rows.append([start, start + timing["responseEnd"], label])
    for start, end, name in sorted(rows, key=lambda row: row[1]):
        print(f"      {start / 1000:5.2f}-{end / 1000:5.2f} s  {name}")


def first_view(browser: Browser, url: str, token: str, screenshot: Path | None = None,
               timeline: bool = False) -> tuple[float, float, int]:
    """Seconds from navigation to the points-drawn and the warnings-listed marks, and the
    points the page drew."""
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    stored = {"token": token, "expires": int(time.time() * 1000) + 3_600_000}
    context.add_init_script(
        f"sessionStorage.setItem('geowarn.console.token', {json.dumps(json.dumps(stored))})")
    page = context.new_page()
    requests: list = []
    if timeline:
        context.on("requestfinished", lambda request: requests.append(request))
    try:
        page.goto(url + "/")
        page.wait_for_selector("body[data-warnings-ready]", timeout=120_000)
        mark = page.evaluate("performance.getEntriesByName('geowarn:pointsReady')[0].startTime")
        listed = page.evaluate(
            "performance.getEntriesByName('geowarn:warningsReady')[0].startTime")
        count = int(page.evaluate("document.body.dataset.pointCount"))
        if timeline:
            print_timeline(page, requests)
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
    finally:
        context.close()
    return mark / 1000, listed / 1000, count


def measure(browser: Browser, url: str, tokens: dict[str, str], runs: int,
            timeline: bool = False) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for run in range(1, runs + 1):
        for label, token in tokens.items():
            print(f"  run {run} {label}: ", end="\n" if timeline else "", flush=True)
            seconds, listed, count = first_view(browser, url, token, timeline=timeline)
            print(f"{'    total ' if timeline else ''}{seconds:.2f} s ({count:,} points drawn), "
                  f"warning list {listed:.2f} s", flush=True)
            times.setdefault(label, []).append(seconds)
            times.setdefault(f"{label} list", []).append(listed)
    return times


def register_points(url: str, n: int, warning_share: float) -> None:
    started = time.perf_counter()
    points = generate_demo_points(n, seed=1, boundaries=Boundaries.load())
    rng = np.random.default_rng(2)
    chosen = rng.choice(n, size=int(n * warning_share), replace=False)
    levels = rng.choice(len(LEVELS), size=len(chosen), p=LEVEL_SHARES)
    now = datetime.now(UTC)
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as session:
        upsert_points(session, points, now=now)
        session.add_all(WarningRow(
            id=str(uuid.uuid4()), point_id=points[i].id, level=LEVELS[level], status="active",
            hazard_type=points[i].hazard_type, province=points[i].province,
            county=points[i].county, opened_at=now, updated_at=now, model="bench",
            model_version="1", evidence=[], last_assessment_id=str(uuid.uuid4()),
            peak_level=LEVELS[level], detected_at=now, issued_at=now)
            for i, level in zip(chosen.tolist(), levels.tolist(), strict=True))
    engine.dispose()
    print(f"registered {n:,} points, {len(chosen):,} with an active warning, "
          f"in {time.perf_counter() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warning-share", type=float, default=0.05,
                        help="share of the points with an active warning")
    parser.add_argument("--screenshot", type=Path, help="save the national first view here")
    parser.add_argument("--timeline", action="store_true",
                        help="print each run's requests and performance marks")
    args = parser.parse_args(argv)

    bootstrap = os.environ.get("GEOWARN_KAFKA_BOOTSTRAP")
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="geowarn-bench-")))
        if not bootstrap:
            bootstrap = stack.enter_context(
                embedded_broker(port=29_192, log_path=workdir / "tansu.log")).bootstrap
            print(f"embedded broker (Tansu) at {bootstrap}")
        topics = Topics.with_prefix(f"bench{uuid.uuid4().hex[:8]}.")
        ensure_topics(bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                      topics=topics)
        url = f"sqlite:///{workdir / 'geowarn.db'}"
        upgrade(url)
        settings = Settings(database_url=url, kafka_bootstrap=bootstrap, data_dir=workdir / "var")
        engine = make_engine(url)
        with session_scope(session_factory(engine)) as session:
            for name, (role, provinces) in USERS.items():
                add_user(session, name=name, role=role, provinces=provinces,
                         password_hash=hash_password(uuid.uuid4().hex), now=datetime.now(UTC))
        engine.dispose()
        token = {name: issue_access_token(name, key=settings.secret_key,
                                          lifetime=timedelta(hours=2), now=datetime.now(UTC)).token
                 for name in USERS}
        register_points(url, args.points, args.warning_share)

        server, thread, base = serve(create_app(settings, topics=topics))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
                for name in USERS:  # warm the server's caches, not the browser's
                    first_view(browser, base, token[name])
                print(f"{args.runs} runs each of (a) baseline: empty point layer (Macau's officer) "
                      f"and (b) {args.points:,} points (national officer)")
                times = measure(browser, base, {"(a) empty": token["bench-macau"],
                                                "(b) points": token["bench-national"]}, args.runs,
                                args.timeline)
                if args.screenshot:
                    first_view(browser, base, token["bench-national"], args.screenshot)
                    print(f"screenshot: {args.screenshot}")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(15)

    empty_s, full_s = statistics.median(times["(a) empty"]), statistics.median(times["(b) points"])
    print(f"median first view: {full_s:.2f} s with {args.points:,} points, "
          f"{empty_s:.2f} s with none (baseline)")
    print(f"ratio points/baseline: {full_s / empty_s:.2f}x; the points add {full_s - empty_s:.2f} s")
    print(f"median until the warning list is filled too: "
          f"{statistics.median(times['(b) points list']):.2f} s "
          f"({args.points * args.warning_share:,.0f} active warnings), "
          f"{statistics.median(times['(a) empty list']):.2f} s (baseline)")
    meets = full_s <= TARGET_S
    print(f"target {TARGET_S:.0f} s: {'met' if meets else 'NOT met'}")
    return 0 if meets else 1


if __name__ == "__main__":
    raise SystemExit(main())
