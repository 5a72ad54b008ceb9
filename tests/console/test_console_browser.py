"""The console in real headless Chromium against the real API and broker: log in, see the
points, receive a pushed warning live, open it, acknowledge it, consult; roles, filters,
reconnection and the remembered mute. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from geo.registry import RiskPoint
from store.db import session_scope
from store.points import upsert_points
from store.rasters import CANDIDATE, CandidateArea, add_candidate_areas
from store.tables import RiskPointRow, WarningRow, WarningTransitionRow
from streams.schemas import WarningEvent
from tests.api.seed import EVIDENCE, PASSWORD, POINTS, TOKENS
from tests.console.conftest import LiveConsole, log_in, screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POINT = {point.id: point for point in POINTS}
COLOUR = {"none": (0x7D, 0x85, 0x90), "orange": (0xF0, 0x7C, 0x00)}  # api/console/src/levels.js
SCREEN_POSITION = """([lon, lat]) => {
  const map = window.geowarnConsole.map, at = map.project([lon, lat]);
  const box = map.getContainer().getBoundingClientRect();
  return [Math.round(box.left + at.x), Math.round(box.top + at.y)];
}"""


def drawn_colour(page: Page, point_id: str) -> tuple[int, int, int]:
    """The colour on screen at the centre of a point (what the WebGL layer really drew)."""
    point = POINT[point_id]
    x, y = page.evaluate(SCREEN_POSITION, [point.lon, point.lat])
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))


def near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def wait_for_colour(page: Page, point_id: str, expected: tuple[int, int, int],
                    timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not near(colour := drawn_colour(page, point_id), expected):
        assert time.monotonic() < deadline, f"{point_id} is drawn {colour}, not {expected}"
        page.wait_for_timeout(100)


def open_warning(live: LiveConsole, point_id: str, level: str) -> WarningEvent:
    """Record a new issued warning at a seeded point, then publish its event, as the ledger does."""
    point, now = POINT[point_id], datetime.now(UTC)
    warning_id = f"W-{uuid.uuid4().hex[:8]}"
    with session_scope(live.sessions) as session:
        session.add(WarningRow(
            id=warning_id, point_id=point_id, level=level, status="active",
            hazard_type=point.hazard_type, province=point.province, county=point.county,
            opened_at=now, updated_at=now, model="deformation", model_version="1",
            evidence=EVIDENCE, last_assessment_id=f"A-{warning_id}", state="issued", version=1,
            peak_level=level, detected_at=now, issued_at=now))
        session.flush()
        session.add(WarningTransitionRow(
            id=f"{warning_id}-T1", warning_id=warning_id, point_id=point_id, kind="opened",
            from_level="none", to_level=level, observed_at=now, recorded_at=now,
            assessment_id=f"A-{warning_id}-1", model="deformation", model_version="1",
            evidence=EVIDENCE, published_at=now, from_state=None, to_state="issued", version=1))
    event = WarningEvent(
        event_id=str(uuid.uuid4()), warning_id=warning_id, point_id=point_id, transition="opened",
        from_level="none", to_level=level, tier={"orange": "II", "red": "I"}[level],
        hazard_type=point.hazard_type, point_name=point.name, province=point.province,
        county=point.county, lon=point.lon, lat=point.lat,
        threatened_people=point.threatened_people, households=point.households,
        observed_at=now, issued_at=now, model="deformation", model_version="1",
        jurisdictions=[point.province_adcode])
    live.publish(event)
    return event


def test_an_officer_sees_the_points_gets_a_pushed_warning_and_acknowledges_it(
        live_console: LiveConsole, page: Page) -> None:
    with page.expect_response(lambda r: "/tiles/nowcast/" in r.url) as nowcast_tile:
        log_in(page, live_console.url, "national")
    assert nowcast_tile.value.status == 200  # the tile layer sends the officer's token
    assert page.evaluate("document.body.dataset.pointCount") == "5"
    assert page.evaluate("window.geowarnConsole.pointStats()") == {"inView": 5, "drawn": 5}
    wait_for_colour(page, "P4", COLOUR["none"])
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    rows = page.locator("table.warnings tbody tr")
    expect(rows).to_have_count(2)  # W1 and W3 are active, the highest level first
    expect(rows.first).to_have_attribute("data-warning-id", "W3")
    page.locator('th[data-sort="level"]').click()
    expect(rows.first).to_have_attribute("data-warning-id", "W1")
    screenshot(page, "01-points")

    event = open_warning(live_console, "P4", "orange")
    row = page.locator(f'tr[data-warning-id="{event.warning_id}"]')
    expect(row).to_have_class("fresh", timeout=15_000)
    banner = page.locator("#alert-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-warning-id", event.warning_id)
    expect(banner).to_have_attribute("data-level", "orange")
    expect(banner).to_have_attribute("data-sound", "played")  # the login click unlocked audio
    wait_for_colour(page, "P4", COLOUR["orange"])  # redrawn live in its new level
    screenshot(page, "02-pushed-warning")

    row.click()
    panel = page.locator("#panel")
    expect(panel.locator(f'section.warning[data-warning-id="{event.warning_id}"]')).to_be_visible()
    expect(panel).to_contain_text("P4 slope")
    expect(panel.locator("dl").first).to_contain_text("Households30")  # P4's exposure
    expect(panel.locator("table.evidence")).to_contain_text("velocity")
    panel.locator('button[data-action="acknowledge"]').click()
    expect(panel.locator("section.actions .action-status")).to_contain_text(
        "acknowledge: now acknowledged", timeout=10_000)
    expect(panel.locator("section.warning")).to_have_attribute("data-state", "acknowledged",
                                                               timeout=10_000)
    screenshot(page, "03-acknowledged")

    stored = live_console.get(f"/warnings/{event.warning_id}")["properties"]
    assert (stored["state"], stored["version"]) == ("acknowledged", 2)
    assert stored["transitions"][-1]["actor"] == "national"

    # A point with sensors: 7-day charts with the level bands and the velocity thresholds.
    page.locator('tr[data-warning-id="W1"]').click()
    charts = panel.locator("section.charts")
    for title in ("Displacement (gnss)", "Velocity", "Rainfall"):
        expect(charts.locator(f'figure[data-chart="{title}"] canvas')).to_have_count(1)
    expect(charts.locator('figure[data-chart="Rainfall"]')).to_contain_text("R1")
    charts.scroll_into_view_if_needed()
    screenshot(page, "03b-charts")


@pytest.fixture
def village_in_p5(live_console: LiveConsole) -> Iterator[str]:
    """A risk point inside P5's triangle, removed afterwards (other tests count the points)."""
    village = RiskPoint(id="P5-IN", name="P5 village", hazard_type="collapse", lon=106.55,
                        lat=29.45, geometry={"type": "Point", "coordinates": [106.55, 29.45]},
                        province="重庆市", province_adcode="500000", county="c",
                        county_adcode="500101", threatened_people=75, households=25)
    with session_scope(live_console.sessions) as session:
        upsert_points(session, [village])
    yield village.id
    with session_scope(live_console.sessions) as session:
        session.execute(delete(RiskPointRow).where(RiskPointRow.id == village.id))


def test_a_consultation_opens_on_a_warning_takes_messages_live_and_records_decisions(
        live_console: LiveConsole, page: Page, village_in_p5: str) -> None:
    event = open_warning(live_console, "P5", "red")
    log_in(page, live_console.url, "national")
    page.locator(f'tr[data-warning-id="{event.warning_id}"]').click()
    # P5 is registered as an area: the panel lists the risk point inside it.
    area = page.locator("#panel section.area-points")
    expect(area).to_contain_text("Inside the area: 1 risk points, 75 people")
    expect(area.locator(f'li[data-point-id="{village_in_p5}"]')).to_contain_text("P5 village")
    consultation = page.locator("#panel section.consultations")
    consultation.locator("input[name=invitees]").fill("analyst")
    consultation.locator('button[data-action="open-consultation"]').click()
    expect(consultation.locator(".badge")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(consultation).to_contain_text("analyst")
    consultation_id = consultation.locator(".consultation").get_attribute("data-consultation-id")

    consultation.locator("textarea[name=message]").fill("Crack widened 4 cm overnight; evacuate?")
    consultation.locator('button[data-action="post-message"]').click()
    expect(consultation.locator(".thread")).to_contain_text("Crack widened 4 cm overnight")

    # The invited analyst answers from elsewhere: the answer arrives without a reload.
    first = live_console.get(f"/consultations/{consultation_id}")["messages"][0]
    answer = httpx.post(f"{live_console.url}/consultations/{consultation_id}/messages",
                        json={"body": "InSAR shows 30 mm/yr upslope: yes", "parent_id": first["id"]},
                        headers={"Authorization": f"Bearer {TOKENS['analyst']}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    reply = consultation.locator(f'.thread li[data-message-id="{first["id"]}"] ol li')
    expect(reply).to_contain_text("InSAR shows 30 mm/yr upslope", timeout=15_000)

    consultation.locator("select[name=decision-kind]").select_option("evacuate")
    consultation.locator("input[name=households]").fill("12")
    consultation.locator("input[name=decision-reason]").fill("crack and InSAR agree")
    consultation.locator('button[data-action="decide"]').click()
    expect(consultation.locator('.decisions li[data-kind="evacuate"]')).to_contain_text(
        "12 households")
    screenshot(page, "04-consultation")

    stored = live_console.get(f"/consultations/{consultation_id}")
    assert stored["warning_id"] == event.warning_id
    assert [m["author"] for m in stored["messages"]] == ["national", "analyst"]
    assert [(d["kind"], d["households"], d["decided_by"]) for d in stored["decisions"]] == [
        ("evacuate", 12, "national")]


def test_scope_role_filters_reconnection_and_the_remembered_mute(
        live_console: LiveConsole, page: Page) -> None:
    log_in(page, live_console.url, "sichuan")
    assert page.evaluate("document.body.dataset.pointCount") == "2"  # P1 and P2 only
    expect(page.locator('tr[data-warning-id="W3"]')).to_have_count(0)  # Yunnan's warning

    # Filtering by level keeps the map and the list in step: only orange stays.
    for level in ("none", "blue", "yellow", "red"):
        page.locator(f'#filters input[name=level][value="{level}"]').uncheck()
    assert page.evaluate("window.geowarnConsole.pointStats()") == {"inView": 1, "drawn": 1}
    expect(page.locator("table.warnings tbody tr")).to_have_count(1)
    page.locator('#filters input[name=offline]').check()
    expect(page.locator("table.warnings tbody tr")).to_have_count(0)  # no sensor is offline
    screenshot(page, "05-provincial-filtered")

    # The feed comes back by itself after the connection drops.
    page.evaluate("window.geowarnConsole.live.drop()")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)

    page.locator("#mute").click()
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.reload()
    page.wait_for_selector("body[data-console-ready]", timeout=30_000)  # the token is kept
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    event = open_warning(live_console, "P2", "red")
    expect(page.locator("#alert-banner")).to_have_attribute("data-warning-id", event.warning_id,
                                                            timeout=15_000)
    expect(page.locator("#alert-banner")).to_have_attribute("data-sound", "muted")

    # A responder reads, and is offered no action.
    page.locator("#logout").click()
    page.fill("#login input[name=username]", "responder")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-console-ready]", timeout=30_000)
    page.locator('tr[data-warning-id="W1"]').click()
    expect(page.locator("#panel section.actions")).to_contain_text("read only")
    expect(page.locator("#panel button[data-action]")).to_have_count(0)


def test_candidate_areas_show_their_evidence_on_the_map_and_an_analyst_decides(
        live_console: LiveConsole, page: Page) -> None:
    now = datetime.now(UTC)
    square = {"type": "Polygon", "coordinates": [[[103.40, 31.40], [103.46, 31.40],
                                                  [103.46, 31.46], [103.40, 31.46],
                                                  [103.40, 31.40]]]}
    with session_scope(live_console.sessions) as session:
        add_candidate_areas(session, [CandidateArea(
            id="area-console", status=CANDIDATE, product="insar_velocity",
            location="/data/velocity.h5", valid_at=now, geometry=square, lon=103.43, lat=31.43,
            area_m2=3.6e5, pixel_count=90, mean_velocity_mm_yr=-18.0, peak_velocity_mm_yr=-42.0,
            evidence={"indicator": "insar_los_velocity", "sigma_mm_yr": 2.1}, created_at=now)])

    log_in(page, live_console.url, "analyst")
    candidates = page.locator("#candidate-list")
    expect(candidates).to_be_visible()  # the analyst's view opens on the candidate areas
    candidates.locator('li[data-area-id="area-console"] button.link').click()
    expect(candidates).to_contain_text("insar_los_velocity")
    expect(candidates).to_contain_text("-42 mm/yr")
    page.wait_for_function("window.geowarnConsole.map.queryRenderedFeatures("
                           "{layers: ['candidate-fill']}).length > 0", timeout=15_000)
    screenshot(page, "06-candidate-area")
    candidates.locator("input[name=reason]").fill("a quarry: the ground is dug, not sliding")
    candidates.locator('button[data-action="reject"]').click()
    expect(candidates.locator(".decided")).to_have_text("area-console: rejected")
    stored = live_console.get("/candidate-areas/area-console")["properties"]
    assert (stored["status"], stored["decision_reason"]) == (
        "rejected", "a quarry: the ground is dug, not sliding")
