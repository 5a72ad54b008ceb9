"""Consultations over HTTP on SQLite and PostgreSQL, with the real broker: a whole
consultation on a warning, who may do what, decisions and their refusals,
attachments checked by content, area consultations, and the published events."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from streams.kafka_config import KafkaConfig
from streams.schemas import ConsultationEvent
from tests.api.seed import bearer, make_app
from tests.api.test_actions import events
from tests.api.test_actions_boundary import border_point, raise_at_border  # noqa: F401

pytestmark = [pytest.mark.kafka]

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
CSV = b"time,displacement_mm\n2026-07-01T00:00Z,12.5\n2026-07-01T01:00Z,13.1\n"
YUNNAN_AREA = {"type": "Polygon", "coordinates": [[[100.1, 26.7], [100.3, 26.7], [100.3, 26.9],
                                                   [100.1, 26.9], [100.1, 26.7]]]}


def open_on(api: TestClient, user: str, warning: str = "W1", invitees=(), **extra) -> dict:
    response = api.post("/consultations", headers=bearer(user),
                        json={"warning_id": warning, "title": "Cracks above Xinmo",
                              "invitees": list(invitees), **extra})
    assert response.status_code == 201, response.text
    return response.json()


def upload(api: TestClient, user: str, consultation: str, name: str, data: bytes,
           content_type: str):
    return api.post(f"/consultations/{consultation}/attachments", headers=bearer(user),
                    files={"file": (name, data, content_type)})


def post(api: TestClient, user: str, consultation: str, **body):
    return api.post(f"/consultations/{consultation}/messages", headers=bearer(user), json=body)


def decide(api: TestClient, user: str, consultation: str, key: str | None = None, **body):
    headers = {**bearer(user), **({"Idempotency-Key": key} if key else {})}
    return api.post(f"/consultations/{consultation}/decisions", headers=headers, json=body)


def test_a_consultation_on_a_warning_from_opening_to_summary(api: TestClient, broker,
                                                             topic_prefix: str):
    opened = open_on(api, "sichuan", invitees=["analyst"])
    cid = opened["id"]
    assert (opened["status"], opened["warning_id"], opened["provinces"]) == ("open", "W1",
                                                                           ["510000"])
    assert {(p["username"], p["role"], p["invited_by"]) for p in opened["participants"]} == {
        ("sichuan", "provincial_officer", None), ("analyst", "analyst", "sichuan")}

    plot = upload(api, "analyst", cid, "gnss-velocity.png", PNG, "image/png")
    assert plot.status_code == 201, plot.text
    attachment = plot.json()
    assert (attachment["content_type"], attachment["size"]) == ("image/png", len(PNG))
    asked = post(api, "analyst", cid, body="Velocity doubled since 02:00, see plot",
                 attachment_ids=[attachment["id"]])
    assert asked.status_code == 201, asked.text
    answer = post(api, "sichuan", cid, body="Agreed; preparing red", parent_id=asked.json()["id"])
    assert answer.status_code == 201, answer.text
    file = api.get(attachment["url"], headers=bearer("sichuan"))
    assert (file.status_code, file.content, file.headers["content-type"]) == (200, PNG,
                                                                            "image/png")
    assert file.headers["x-content-type-options"] == "nosniff"

    upgraded = decide(api, "sichuan", cid, kind="upgrade", level="red",
                      reason="velocity doubled", expected_version=1)
    assert upgraded.status_code == 201, upgraded.text
    evacuate = decide(api, "sichuan", cid, kind="evacuate", households=25, reason="below scarp")
    assert evacuate.status_code == 201, evacuate.text
    warning = api.get("/warnings/W1", headers=bearer("sichuan")).json()["properties"]
    assert (warning["level"], warning["version"], warning["level_source"]) == ("red", 2,
                                                                             "officer")
    step = next(t for t in warning["transitions"] if t["id"] == upgraded.json()["transition_id"])
    assert (step["kind"], step["actor"], step["reason"]) == ("escalated", "sichuan",
                                                             "velocity doubled")

    closed = api.post(f"/consultations/{cid}/close", headers=bearer("sichuan"),
                      json={"summary": "Raised to red; 25 households evacuated."})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    refused = post(api, "analyst", cid, body="one more thing")
    assert refused.status_code == 409
    assert "closed" in refused.json()["detail"]

    listed = api.get("/warnings/W1/consultations", headers=bearer("sichuan")).json()
    assert [(c["id"], c["summary"], c["message_count"], c["decision_count"])
            for c in listed["consultations"]] == [
        (cid, "Raised to red; 25 households evacuated.", 2, 2)]
    thread = api.get(f"/consultations/{cid}", headers=bearer("analyst")).json()
    assert [m["parent_id"] for m in thread["messages"]] == [None, asked.json()["id"]]
    assert thread["messages"][0]["attachments"] == [attachment]
    assert [(d["kind"], d["households"], d["level"]) for d in thread["decisions"]] == [
        ("upgrade", None, "red"), ("evacuate", 25, None)]

    topic = f"{topic_prefix}geowarn.consultation-events"
    published = [ConsultationEvent.model_validate(e)
                 for e in events(KafkaConfig(broker.bootstrap), topic, 5)]
    assert [e.type for e in published] == ["message", "message", "decision", "decision",
                                           "closed"]
    assert {e.consultation_id for e in published} == {cid}
    assert published[2].payload.transition_id == upgraded.json()["transition_id"]


def test_every_endpoint_checks_role_and_province(api: TestClient):
    cid = open_on(api, "sichuan")["id"]
    assert api.get(f"/consultations/{cid}").status_code == 401
    assert api.post(f"/consultations/{cid}/messages", json={"body": "x"}).status_code == 401

    outside = api.get(f"/consultations/{cid}", headers=bearer("yunnan"))
    assert outside.status_code == 403
    assert outside.json()["detail"] == (f"provincial officer of 530000 may not read consultation "
                                        f"{cid}: it concerns 510000 and yunnan is not a "
                                        "participant")
    for call in (lambda: post(api, "yunnan", cid, body="x"),
                 lambda: decide(api, "yunnan", cid, kind="note", reason="x"),
                 lambda: api.post(f"/consultations/{cid}/participants", headers=bearer("yunnan"),
                                  json={"username": "yunnan"}),
                 lambda: api.post(f"/consultations/{cid}/close", headers=bearer("yunnan"),
                                  json={"summary": "x"}),
                 lambda: upload(api, "yunnan", cid, "a.png", PNG, "image/png"),
                 lambda: api.post("/consultations", headers=bearer("yunnan"),
                                  json={"warning_id": "W1", "title": "x"})):
        response = call()
        assert response.status_code == 403, response.text
        assert "510000" in response.json()["detail"]
    assert api.get("/consultations", headers=bearer("yunnan")).json()["numberMatched"] == 0

    # Read roles read within their scope but post only when invited; a gateway does neither.
    assert api.get(f"/consultations/{cid}", headers=bearer("responder")).status_code == 200
    uninvited = post(api, "analyst", cid, body="x")
    assert uninvited.status_code == 403
    assert "invited" in uninvited.json()["detail"]
    assert api.get(f"/consultations/{cid}", headers=bearer("gateway")).status_code == 403

    invited = api.post(f"/consultations/{cid}/participants", headers=bearer("sichuan"),
                       json={"username": "yunnan"})
    assert invited.status_code == 201, invited.text
    again = api.post(f"/consultations/{cid}/participants", headers=bearer("sichuan"),
                     json={"username": "yunnan"})
    assert (again.status_code, again.json()) == (200, invited.json())
    assert post(api, "yunnan", cid, body="Our side of the valley is calm").status_code == 201
    assert api.get("/consultations", headers=bearer("yunnan")).json()["numberMatched"] == 1
    cannot_decide = decide(api, "yunnan", cid, kind="lift", reason="calm")
    assert cannot_decide.status_code == 403
    assert "may not decide in consultation" in cannot_decide.json()["detail"]

    # An officer in scope joins by posting.
    assert post(api, "national", cid, body="Following").status_code == 201
    people = api.get(f"/consultations/{cid}", headers=bearer("national")).json()["participants"]
    assert ("national", None) in {(p["username"], p["invited_by"]) for p in people}
    assert api.get("/consultations/nope", headers=bearer("national")).status_code == 404


def test_decisions_follow_the_warning_rules(api: TestClient):
    cid = open_on(api, "sichuan")["id"]
    stale = decide(api, "sichuan", cid, kind="upgrade", level="red", reason="x",
                   expected_version=7)
    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 1
    lower = decide(api, "sichuan", cid, kind="upgrade", level="blue", reason="x")
    assert (lower.status_code, lower.json()["detail"]) == (
        422, "upgrade needs a level above orange, not blue")
    too_many = decide(api, "sichuan", cid, kind="evacuate", households=31, reason="x")
    assert too_many.status_code == 422
    assert "more than the 30 households" in too_many.json()["detail"]
    assert decide(api, "sichuan", cid, kind="evacuate", reason="x").status_code == 422
    assert decide(api, "sichuan", cid, kind="evacuate", households=0,
                  reason="x").status_code == 422
    assert decide(api, "sichuan", cid, kind="note", level="red", reason="x").status_code == 422

    first = decide(api, "sichuan", cid, key="lift-1", kind="lift", reason="slope stable")
    replay = decide(api, "sichuan", cid, key="lift-1", kind="lift", reason="slope stable")
    assert (first.status_code, replay.status_code) == (201, 201), first.text
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    reused = decide(api, "sichuan", cid, key="lift-1", kind="note", reason="other")
    assert reused.status_code == 422
    lifted_again = decide(api, "sichuan", cid, kind="lift", reason="again")
    assert lifted_again.status_code == 409
    thread = api.get(f"/consultations/{cid}", headers=bearer("sichuan")).json()
    assert [d["kind"] for d in thread["decisions"]] == ["lift"]
    warning = api.get("/warnings/W1", headers=bearer("sichuan")).json()["properties"]
    assert [t["kind"] for t in warning["transitions"]].count("lifted") == 1


@pytest.fixture
def small_files(seeded_url: str, broker, topic_prefix: str, tmp_path: Path
                ) -> Iterator[TestClient]:
    app = make_app(seeded_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path,
                   attachment_max_bytes=4096)
    with TestClient(app) as client:
        yield client


def test_attachments_are_judged_by_content_and_stored_once(small_files: TestClient,
                                                           tmp_path: Path):
    api = small_files
    cid = open_on(api, "sichuan", invitees=["analyst"])["id"]
    assert upload(api, "sichuan", cid, "report.pdf", PDF, "application/pdf").status_code == 201
    csv = upload(api, "sichuan", cid, "gnss.csv", CSV, "text/csv")
    assert csv.status_code == 201 and csv.json()["content_type"] == "text/csv"
    download = api.get(csv.json()["url"], headers=bearer("sichuan"))
    assert download.content == CSV
    assert download.headers["content-disposition"].startswith("attachment")
    refusals = {
        "fake.png": (b"MZ\x90\x00" + bytes(64), "image/png", 415),
        "report.png": (PDF, "image/png", 415),
        "notes.txt": (b"just text", "text/plain", 415),
        "binary.csv": (b"a,b\n\x00\x01\x02", "text/csv", 415),
        "big.png": (PNG + bytes(4096), "image/png", 413),
    }
    for name, (data, declared, status) in refusals.items():
        response = upload(api, "sichuan", cid, name, data, declared)
        assert response.status_code == status, (name, response.text)
        assert response.json()["detail"]
    twice = [upload(api, "sichuan", cid, f"plot-{n}.png", PNG, "image/png").json()
             for n in range(2)]
    assert twice[0]["id"] != twice[1]["id"]
    stored = [p for p in (tmp_path / "var" / "attachments").rglob("*") if p.is_file()]
    assert len(stored) == 3  # the PDF, the CSV and one PNG: nothing left of refused uploads
    theirs = post(api, "analyst", cid, body="see", attachment_ids=[twice[0]["id"]])
    assert theirs.status_code == 422 and "attach your own uploads" in theirs.json()["detail"]
    draft = twice[0]["url"]  # not in a message yet: its uploader's alone
    assert api.get(draft, headers=bearer("sichuan")).status_code == 200
    assert api.get(draft, headers=bearer("analyst")).status_code == 404
    mine = post(api, "sichuan", cid, body="see", attachment_ids=[twice[0]["id"]])
    assert mine.status_code == 201
    assert api.get(draft, headers=bearer("analyst")).content == PNG
    assert post(api, "sichuan", cid, body="again",
                attachment_ids=[twice[0]["id"]]).status_code == 422


def test_a_chunked_upload_is_cut_off_once_it_passes_the_limit(small_files: TestClient):
    """Without a Content-Length, the limit holds on the stream itself: the server stops
    reading long before the 8 MiB the client offers (4 KiB files, 64 KiB of framing)."""
    cid = open_on(small_files, "sichuan")["id"]
    chunk, offered = 64 * 1024, 8 * 1024 * 1024
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        head = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
                b"filename=\"huge.png\"\r\nContent-Type: image/png\r\n\r\n" + PNG)
        sent += len(head)
        yield head
        while sent < offered:
            sent += chunk
            yield bytes(chunk)
        yield b"\r\n--b0undary--\r\n"

    async def upload_chunked() -> httpx.Response:
        transport = httpx.ASGITransport(app=small_files.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post(
                f"/consultations/{cid}/attachments", content=body(),
                headers={**bearer("sichuan"),
                         "Content-Type": "multipart/form-data; boundary=b0undary"})

    response = anyio.run(upload_chunked)
    assert response.status_code == 413, response.text
    assert "larger than the limit of 4,096 bytes" in response.json()["detail"]
    assert sent <= 4096 + 64 * 1024 + 2 * chunk, f"the server read {sent:,} bytes"


def test_an_area_consultation_belongs_to_the_provinces_it_touches(api: TestClient):
    response = api.post("/consultations", headers=bearer("yunnan"),
                        json={"area": YUNNAN_AREA, "title": "Rain over Lijiang",
                              "invitees": ["analyst"]})
    assert response.status_code == 201, response.text
    area = response.json()
    assert (area["provinces"], area["warning_id"], area["area"]) == (["530000"], None,
                                                                     YUNNAN_AREA)
    assert api.get(f"/consultations/{area['id']}", headers=bearer("sichuan")).status_code == 403
    lift = decide(api, "yunnan", area["id"], kind="lift", reason="x")
    assert lift.status_code == 422 and "about an area" in lift.json()["detail"]
    assert decide(api, "yunnan", area["id"], kind="evacuate", households=500,
                  reason="whole village").status_code == 201
    bow_tie = {"type": "Polygon", "coordinates": [[[100, 26], [101, 27], [101, 26], [100, 27],
                                                   [100, 26]]]}
    for body in ({"area": bow_tie, "title": "x"},
                 {"area": {"type": "Point", "coordinates": [100, 26]}, "title": "x"},
                 {"area": YUNNAN_AREA, "warning_id": "W3", "title": "x"},
                 {"title": "x"},
                 {"warning_id": "W3", "title": "x", "invitees": ["nobody"]},
                 {"warning_id": "W3", "title": "x", "invitees": ["gateway"]}):
        refused = api.post("/consultations", headers=bearer("national"), json=body)
        assert refused.status_code == 422, (body, refused.text)


@pytest.mark.usefixtures("border_point")
def test_a_warning_across_a_border_is_consulted_on_by_both_provinces(api: TestClient):
    warning = raise_at_border(api)  # 1 km inside Sichuan from Yunnan: both concerned
    opened = open_on(api, "yunnan", warning=warning, invitees=["sichuan"])
    assert opened["provinces"] == ["510000", "530000"]
    for user in ("sichuan", "yunnan"):
        assert api.get(f"/consultations/{opened['id']}", headers=bearer(user)).status_code == 200
    lifted = decide(api, "sichuan", opened["id"], kind="lift", reason="Renhe slope stable")
    assert lifted.status_code == 201, lifted.text
    warning_now = api.get(f"/warnings/{warning}", headers=bearer("yunnan")).json()
    assert warning_now["properties"]["status"] == "lifted"


def test_of_two_officers_deciding_on_the_same_version_one_wins(api: TestClient):
    cid = open_on(api, "sichuan")["id"]
    barrier = threading.Barrier(2)

    def upgrade(user: str, level: str) -> int:
        barrier.wait()
        return decide(api, user, cid, kind="upgrade", level=level, reason=f"by {user}",
                      expected_version=1).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(upgrade, ("sichuan", "national"), ("red", "red")))
    assert statuses == [201, 409]
    thread = api.get(f"/consultations/{cid}", headers=bearer("sichuan")).json()
    assert len(thread["decisions"]) == 1
    warning = api.get("/warnings/W1", headers=bearer("sichuan")).json()["properties"]
    assert warning["version"] == 2
    assert thread["decisions"][0]["transition_id"] == warning["transitions"][-1]["id"]


def test_a_decision_retried_at_once_with_its_key_is_recorded_once(api: TestClient):
    """The retry may arrive while the first is still being written: it waits for the
    consultation's lock and then replays the first, instead of failing on the key."""
    cid = open_on(api, "sichuan")["id"]
    barrier = threading.Barrier(4)

    def note(_: int):
        barrier.wait()
        response = decide(api, "sichuan", cid, key="note-1", kind="note", reason="dry slope")
        return response.status_code, response.json().get("id")

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(note, range(4)))
    assert [status for status, _ in answers] == [201] * 4, answers
    assert len({decision for _, decision in answers}) == 1
    thread = api.get(f"/consultations/{cid}", headers=bearer("sichuan")).json()
    assert [d["kind"] for d in thread["decisions"]] == ["note"]
