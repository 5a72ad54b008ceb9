"""Consultations in the store (SQLite and PostgreSQL): the thread, decisions, closing,
visibility by scope and participation, the outbox; and the attachment files."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from store.attachments import AttachmentStore, FileTooLarge, UnsupportedFileType, magic_type
from store.consultations import (
    ConsultationClosed,
    DecisionRecord,
    InvalidConsultationRequest,
    access_of,
    add_attachment,
    add_participant,
    close_consultation,
    consultation_detail,
    list_consultations,
    mark_published,
    open_consultation,
    post_message,
    record_decision,
    unpublished_events,
)
from store.db import session_scope
from store.points import upsert_points
from store.tables import WarningRow
from tests.store.conftest import T0, make_point

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def minutes(n: float):
    return T0 + timedelta(minutes=n)


@pytest.fixture
def warning(sessions: sessionmaker[Session]) -> str:
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")])
        session.flush()
        session.add(WarningRow(id="W1", point_id="P1", level="orange", status="active",
                               hazard_type="landslide", opened_at=T0, updated_at=T0,
                               model="m", model_version="1", evidence=[],
                               last_assessment_id="a"))
    return "W1"


def open_one(sessions, consultation_id: str, adcodes=("510000", "513221"),
             warning_id: str | None = None, invitees=(("expert", "analyst"),)) -> None:
    with session_scope(sessions, write_lock=True) as session:
        open_consultation(session, consultation_id=consultation_id, title="Cracks",
                          warning_id=warning_id, area=None if warning_id else {"type": "Polygon"},
                          adcodes=adcodes, creator=("li", "provincial_officer"),
                          invitees=list(invitees), now=T0)


def test_a_thread_its_decisions_its_closing_and_their_events(sessions, warning, tmp_path: Path):
    open_one(sessions, "C1", warning_id=warning)
    files = AttachmentStore(tmp_path, max_bytes=10_000)
    stored = files.save(io.BytesIO(PNG), declared_type="image/png", filename="plot.png")
    with session_scope(sessions, write_lock=True) as session:
        plot = add_attachment(session, "C1", attachment_id="A1", stored=stored,
                              filename="plot.png", uploaded_by="expert", now=minutes(1))
        question = post_message(session, "C1", message_id="M1", author="expert",
                                body="Doubling?", parent_id=None, attachment_ids=["A1"],
                                now=minutes(2))
        post_message(session, "C1", message_id="M2", author="li", body="Yes", parent_id="M1",
                     attachment_ids=[], now=minutes(3))
        with pytest.raises(InvalidConsultationRequest, match="already attached to message M1"):
            post_message(session, "C1", message_id="M3", author="expert", body="again",
                         parent_id=None, attachment_ids=["A1"], now=minutes(4))
    with session_scope(sessions, write_lock=True) as session:
        record_decision(session, DecisionRecord("C1", "D1", "evacuate", "below scarp", "li",
                                                None, None, households=20), transition_id=None,
                        now=minutes(5))
        _, new = add_participant(session, "C1", username="expert", role="analyst",
                                 invited_by="li", now=minutes(6))
        assert not new
        close_consultation(session, "C1", summary="20 households out", closed_by="li",
                           now=minutes(7))
    with pytest.raises(ConsultationClosed, match="closed at") as closed, \
            session_scope(sessions, write_lock=True) as session:
        post_message(session, "C1", message_id="M4", author="li", body="late", parent_id=None,
                     attachment_ids=[], now=minutes(8))
    assert closed.value.current["summary"] == "20 households out"

    with sessions() as session:
        detail = consultation_detail(session, "C1")
        access = access_of(session, "C1")
    assert (detail["status"], detail["summary"], detail["closed_at"]) == (
        "closed", "20 households out", minutes(7))
    assert [(m["id"], m["parent_id"]) for m in detail["messages"]] == [("M1", None),
                                                                        ("M2", "M1")]
    assert detail["messages"][0]["attachments"] == [plot] == question["attachments"]
    assert plot["url"] == "/consultations/C1/attachments/A1"
    assert [(d["kind"], d["households"]) for d in detail["decisions"]] == [("evacuate", 20)]
    assert access.participants == {"li", "expert"}
    assert access.adcodes == {"510000", "513221"}

    with session_scope(sessions) as session:
        pending = unpublished_events(session, 100)
        older = unpublished_events(session, 100, created_before=minutes(5))
        mark_published(session, [e.event_id for e in pending[:2]], minutes(9))
    assert [e.event_id for e in older] == [e.event_id for e in pending[:2]]
    assert [(e.type, e.warning_id) for e in pending] == [
        ("message", "W1"), ("message", "W1"), ("decision", "W1"), ("closed", "W1")]
    assert pending[0].payload.attachments[0].id == "A1"
    with sessions() as session:
        assert [e.type for e in unpublished_events(session, 100)] == ["decision", "closed"]


def test_scoped_users_list_what_concerns_them_or_what_they_take_part_in(sessions, warning):
    open_one(sessions, "SC", adcodes=("510000",), invitees=[("yn", "provincial_officer")])
    open_one(sessions, "YN", adcodes=("530000", "532327"), invitees=[])
    with session_scope(sessions, write_lock=True) as session:
        close_consultation(session, "YN", summary="calm", closed_by="li", now=minutes(1))

    def listed(scope, username, **filters) -> list[str]:
        with sessions() as session:
            items, total = list_consultations(session, scope=scope, username=username,
                                              limit=10, offset=0, **{"warning_id": None,
                                                                     "status": None, **filters})
        assert total == len(items)
        return sorted(item["id"] for item in items)

    assert listed(None, "national") == ["SC", "YN"]
    assert listed({"530000"}, "someone") == ["YN"]
    assert listed({"530000"}, "yn") == ["SC", "YN"]  # invited across the border
    assert listed({"440000"}, "gd") == []
    assert listed(None, "national", status="open") == ["SC"]


def test_files_are_judged_by_their_first_bytes():
    samples = {b"\x89PNG\r\n\x1a\n...": "image/png", b"\xff\xd8\xff\xe0..": "image/jpeg",
               b"GIF89a..": "image/gif", b"RIFF\x10\x00\x00\x00WEBPVP8 ": "image/webp",
               b"%PDF-1.4": "application/pdf", b"RIFF\x10\x00\x00\x00WAVEfmt ": None,
               b"PK\x03\x04": None, b"a,b\n1,2\n": None}
    assert {head: magic_type(head) for head in samples} == samples


def test_the_store_keeps_one_copy_per_content_and_nothing_of_refused_files(tmp_path: Path):
    files = AttachmentStore(tmp_path, max_bytes=1000)
    first = files.save(io.BytesIO(PNG), declared_type="application/octet-stream",
                       filename="a.png")
    second = files.save(io.BytesIO(PNG), declared_type="image/png", filename="b.png")
    assert first == second and first.content_type == "image/png" and first.size == len(PNG)
    assert files.path(first.sha256).read_bytes() == PNG
    table = files.save(io.BytesIO("站点,位移\nP1,12.5\n".encode()), declared_type=None,
                       filename="p1.csv")
    assert table.content_type == "text/csv"
    with pytest.raises(FileTooLarge):
        files.save(io.BytesIO(PNG * 20), declared_type="image/png", filename="big.png")
    with pytest.raises(UnsupportedFileType, match="declared as CSV but it is not UTF-8"):
        files.save(io.BytesIO(b"a,b\n\xff\xfe"), declared_type="text/csv", filename="x.csv")
    with pytest.raises(UnsupportedFileType, match="declared as image/png but its content is "
                                                  "application/pdf"):
        files.save(io.BytesIO(b"%PDF-1.4 ..."), declared_type="image/png", filename="x.png")
    with pytest.raises(UnsupportedFileType, match="is empty"):
        files.save(io.BytesIO(b""), declared_type="text/csv", filename="empty.csv")
    kept = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert kept == sorted({first.sha256, table.sha256})
    with pytest.raises(ValueError, match="not a SHA-256"):
        files.path("../../etc/passwd")
