"""Consultations: threaded discussions on a warning or an area, with decisions.

A consultation concerns the jurisdictions (adcodes) of its warning, or those
its area touches, copied into ``consultation_jurisdictions`` when it opens;
scoped callers see it by those or by taking part. Messages answer each
other (``parent_id``) and carry uploaded attachments; decisions record what
was decided and, when it changed the warning, the transition that did it
(the caller performs the action through ``store.actions`` in the same
transaction). Closing writes the summary, after which nothing is added.

Every change that participants follow live also writes a row of
``consultation_events`` in its own transaction: the outbox that
``relay``-ing callers publish to ``geowarn.consultation-events`` after the
commit, and a periodic sweep publishes what they could not. Event ids derive
from what changed, so a change has one event.

Writes expect ``session_scope(..., write_lock=True)``; each locks the
consultation row first, so a message cannot slip in after the closing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid5

from sqlalchemy import ColumnElement, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from store.actions import InvalidAction, LifecycleConflict
from store.attachments import StoredFile
from store.tables import (
    ConsultationAttachmentRow,
    ConsultationDecisionRow,
    ConsultationEventRow,
    ConsultationJurisdictionRow,
    ConsultationMessageRow,
    ConsultationParticipantRow,
    ConsultationRow,
)
from streams.schemas import GEOWARN_NAMESPACE, ConsultationEvent

OPEN, CLOSED = "open", "closed"
MAX_ATTACHMENTS_PER_MESSAGE = 20


class ConsultationNotFound(LookupError):
    def __init__(self, consultation_id: str) -> None:
        super().__init__(f"no consultation with id {consultation_id!r}")


class ConsultationClosed(LifecycleConflict):
    """A change to a closed consultation; ``current`` holds its status and closing."""


class InvalidConsultationRequest(InvalidAction):
    """A reference that does not fit the consultation (a parent, an attachment, a user)."""


@dataclass(frozen=True)
class Access:
    """What deciding who may see or change a consultation needs."""

    id: str
    status: str
    warning_id: str | None
    adcodes: frozenset[str]
    participants: frozenset[str]


def access_of(session: Session, consultation_id: str) -> Access | None:
    row = session.execute(select(ConsultationRow.status, ConsultationRow.warning_id)
                          .where(ConsultationRow.id == consultation_id)).first()
    if row is None:
        return None
    adcodes = session.scalars(select(ConsultationJurisdictionRow.adcode).where(
        ConsultationJurisdictionRow.consultation_id == consultation_id))
    people = session.scalars(select(ConsultationParticipantRow.username).where(
        ConsultationParticipantRow.consultation_id == consultation_id))
    return Access(consultation_id, row.status, row.warning_id, frozenset(adcodes),
                  frozenset(people))


# --- JSON shapes (the REST detail and the events' payloads) ---------------------------------

def attachment_url(consultation_id: str, attachment_id: str) -> str:
    return f"/consultations/{consultation_id}/attachments/{attachment_id}"


def attachment_json(row: ConsultationAttachmentRow) -> dict[str, Any]:
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type,
            "size": row.size, "url": attachment_url(row.consultation_id, row.id)}


def message_json(row: ConsultationMessageRow,
                 attachments: Sequence[ConsultationAttachmentRow]) -> dict[str, Any]:
    return {"id": row.id, "author": row.author, "body": row.body, "parent_id": row.parent_id,
            "attachments": [attachment_json(a) for a in attachments],
            "created_at": row.created_at}


def decision_json(row: ConsultationDecisionRow) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "households": row.households, "level": row.level,
            "reason": row.reason, "decided_by": row.decided_by, "decided_at": row.decided_at,
            "transition_id": row.transition_id}


def participant_json(row: ConsultationParticipantRow) -> dict[str, Any]:
    return {"username": row.username, "role": row.role, "invited_by": row.invited_by,
            "joined_at": row.joined_at}


def closing_json(row: ConsultationRow) -> dict[str, Any]:
    return {"summary": row.summary, "closed_by": row.closed_by, "closed_at": row.closed_at}


# --- writes ---------------------------------------------------------------------------------

def _event(session: Session, consultation: ConsultationRow, kind: str, subject: str,
           payload: dict[str, Any], actor: str, now: datetime) -> None:
    event_id = str(uuid5(GEOWARN_NAMESPACE, f"consultation-event|{kind}|{subject}"))
    session.add(ConsultationEventRow(id=event_id, consultation_id=consultation.id, type=kind,
                                     payload=payload, actor=actor, created_at=now,
                                     published_at=None))


def lock_open(session: Session, consultation_id: str) -> ConsultationRow:
    """The open consultation's row, locked until the commit (PostgreSQL; SQLite's write
    lock already serialises), so that it cannot be closed under the caller."""
    row = session.scalars(select(ConsultationRow).where(ConsultationRow.id == consultation_id)
                          .with_for_update().execution_options(populate_existing=True)).first()
    if row is None:
        raise ConsultationNotFound(consultation_id)
    if row.status != OPEN:
        raise ConsultationClosed(
            f"consultation {row.id} was closed at {row.closed_at.isoformat()} by "
            f"{row.closed_by}; nothing can be added to it",
            {"id": row.id, "status": row.status, **closing_json(row)})
    return row


def open_consultation(session: Session, *, consultation_id: str, title: str,
                      warning_id: str | None, area: dict | None, adcodes: Collection[str],
                      creator: tuple[str, str], invitees: Sequence[tuple[str, str]],
                      now: datetime) -> None:
    """Create a consultation with its creator and invitees ((name, role) pairs) as
    participants. Nobody follows it live yet, so opening writes no event."""
    name, role = creator
    session.add(ConsultationRow(id=consultation_id, title=title, status=OPEN,
                                warning_id=warning_id, area=area, created_by=name,
                                created_at=now))
    session.flush()
    if adcodes:
        session.execute(insert(ConsultationJurisdictionRow),
                        [{"consultation_id": consultation_id, "adcode": a} for a in set(adcodes)])
    people = {name: (role, None)} | {user: (r, name) for user, r in invitees if user != name}
    session.add_all(ConsultationParticipantRow(consultation_id=consultation_id, username=user,
                                               role=r, invited_by=by, joined_at=now)
                    for user, (r, by) in people.items())
    session.flush()


def add_participant(session: Session, consultation_id: str, *, username: str, role: str,
                    invited_by: str | None, now: datetime) -> tuple[dict[str, Any], bool]:
    """(participant, whether it is new); an existing participant is returned unchanged."""
    consultation = lock_open(session, consultation_id)
    row = session.get(ConsultationParticipantRow, (consultation_id, username))
    if row is not None:
        return participant_json(row), False
    row = ConsultationParticipantRow(consultation_id=consultation_id, username=username,
                                     role=role, invited_by=invited_by, joined_at=now)
    session.add(row)
    session.flush()
    payload = participant_json(row)
    _event(session, consultation, "participant", f"{consultation_id}|{username}", payload,
           invited_by or username, now)
    return payload, True


def add_attachment(session: Session, consultation_id: str, *, attachment_id: str,
                   stored: StoredFile, filename: str, uploaded_by: str, now: datetime
                   ) -> dict[str, Any]:
    """Record an uploaded file; it shows in the thread once a message takes it."""
    lock_open(session, consultation_id)
    row = ConsultationAttachmentRow(
        id=attachment_id, consultation_id=consultation_id, message_id=None,
        sha256=stored.sha256, filename=filename, content_type=stored.content_type,
        size=stored.size, uploaded_by=uploaded_by, created_at=now)
    session.add(row)
    session.flush()
    return attachment_json(row)


def post_message(session: Session, consultation_id: str, *, message_id: str, author: str,
                 body: str, parent_id: str | None, attachment_ids: Sequence[str],
                 now: datetime) -> dict[str, Any]:
    consultation = lock_open(session, consultation_id)
    if parent_id is not None:
        parent = session.get(ConsultationMessageRow, parent_id)
        if parent is None or parent.consultation_id != consultation_id:
            raise InvalidConsultationRequest(
                f"parent_id: no message {parent_id!r} in consultation {consultation_id}")
    attachments = _claimable(session, consultation_id, author, attachment_ids)
    row = ConsultationMessageRow(id=message_id, consultation_id=consultation_id, author=author,
                                 body=body, parent_id=parent_id, created_at=now)
    session.add(row)
    session.flush()
    for attachment in attachments:
        attachment.message_id = row.id
    session.flush()
    payload = message_json(row, attachments)
    _event(session, consultation, "message", row.id, payload, author, now)
    return payload


def _claimable(session: Session, consultation_id: str, author: str,
               attachment_ids: Sequence[str]) -> list[ConsultationAttachmentRow]:
    """The attachments a new message may take, in the order given, or why not."""
    wanted = list(dict.fromkeys(attachment_ids))
    if len(wanted) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise InvalidConsultationRequest(f"attachment_ids: at most "
                                         f"{MAX_ATTACHMENTS_PER_MESSAGE} per message")
    rows = {row.id: row for row in session.scalars(select(ConsultationAttachmentRow).where(
        ConsultationAttachmentRow.id.in_(wanted)))} if wanted else {}
    for attachment_id in wanted:
        row = rows.get(attachment_id)
        if row is None or row.consultation_id != consultation_id:
            raise InvalidConsultationRequest(f"attachment_ids: no attachment {attachment_id!r} "
                                             f"in consultation {consultation_id}; upload it first")
        if row.uploaded_by != author:
            raise InvalidConsultationRequest(f"attachment_ids: {attachment_id} was uploaded by "
                                             f"{row.uploaded_by}; attach your own uploads")
        if row.message_id is not None:
            raise InvalidConsultationRequest(f"attachment_ids: {attachment_id} is already "
                                             f"attached to message {row.message_id}")
    return [rows[a] for a in wanted]


@dataclass(frozen=True)
class DecisionRecord:
    consultation_id: str
    decision_id: str
    kind: str
    reason: str
    decided_by: str
    key: str | None
    request_hash: str | None
    households: int | None = None
    level: str | None = None


def find_decision(session: Session, decided_by: str, key: str) -> ConsultationDecisionRow | None:
    return session.scalars(select(ConsultationDecisionRow).where(
        ConsultationDecisionRow.decided_by == decided_by,
        ConsultationDecisionRow.idempotency_key == key)).first()


def record_decision(session: Session, record: DecisionRecord, *, transition_id: str | None,
                    now: datetime) -> dict[str, Any]:
    """Write a decision (and its event); the caller has performed its warning action."""
    consultation = lock_open(session, record.consultation_id)
    row = ConsultationDecisionRow(
        id=record.decision_id, consultation_id=record.consultation_id, kind=record.kind,
        households=record.households, level=record.level, reason=record.reason,
        decided_by=record.decided_by, decided_at=now, transition_id=transition_id,
        idempotency_key=record.key, request_hash=record.request_hash)
    session.add(row)
    session.flush()
    payload = decision_json(row)
    _event(session, consultation, "decision", row.id, payload, record.decided_by, now)
    return payload


def close_consultation(session: Session, consultation_id: str, *, summary: str,
                       closed_by: str, now: datetime) -> dict[str, Any]:
    consultation = lock_open(session, consultation_id)
    consultation.status, consultation.summary = CLOSED, summary
    consultation.closed_by, consultation.closed_at = closed_by, now
    session.flush()
    payload = closing_json(consultation)
    _event(session, consultation, "closed", consultation_id, payload, closed_by, now)
    return payload


# --- reads ----------------------------------------------------------------------------------

def _summary_json(row: ConsultationRow, adcodes: Collection[str]) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "status": row.status,
            "warning_id": row.warning_id, "area": row.area,
            "jurisdictions": sorted(adcodes), "created_by": row.created_by,
            "created_at": row.created_at, "summary": row.summary, "closed_by": row.closed_by,
            "closed_at": row.closed_at}


def _adcodes(session: Session, ids: Collection[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    if ids:
        for cid, adcode in session.execute(
                select(ConsultationJurisdictionRow.consultation_id,
                       ConsultationJurisdictionRow.adcode)
                .where(ConsultationJurisdictionRow.consultation_id.in_(list(ids)))):
            found[cid].add(adcode)
    return found


def consultation_detail(session: Session, consultation_id: str) -> dict[str, Any] | None:
    """The whole consultation: participants, messages (oldest first) with their
    attachments, decisions; ``jurisdictions`` are adcodes (the API adds provinces)."""
    row = session.get(ConsultationRow, consultation_id)
    if row is None:
        return None
    detail = _summary_json(row, _adcodes(session, [consultation_id])[consultation_id])
    where = ConsultationParticipantRow.consultation_id == consultation_id
    detail["participants"] = [participant_json(p) for p in session.scalars(
        select(ConsultationParticipantRow).where(where)
        .order_by(ConsultationParticipantRow.joined_at, ConsultationParticipantRow.username))]
    attached: dict[str, list[ConsultationAttachmentRow]] = defaultdict(list)
    for attachment in session.scalars(
            select(ConsultationAttachmentRow)
            .where(ConsultationAttachmentRow.consultation_id == consultation_id,
                   ConsultationAttachmentRow.message_id.is_not(None))
            .order_by(ConsultationAttachmentRow.created_at, ConsultationAttachmentRow.id)):
        attached[attachment.message_id].append(attachment)
    detail["messages"] = [message_json(m, attached[m.id]) for m in session.scalars(
        select(ConsultationMessageRow)
        .where(ConsultationMessageRow.consultation_id == consultation_id)
        .order_by(ConsultationMessageRow.created_at, ConsultationMessageRow.id))]
    detail["decisions"] = [decision_json(d) for d in session.scalars(
        select(ConsultationDecisionRow)
        .where(ConsultationDecisionRow.consultation_id == consultation_id)
        .order_by(ConsultationDecisionRow.decided_at, ConsultationDecisionRow.id))]
    return detail


def _visible_clause(scope: Collection[str], username: str) -> ColumnElement[bool]:
    """Consultations concerning any of ``scope`` (adcodes), or in which ``username`` takes part."""
    near = exists().where(ConsultationJurisdictionRow.consultation_id == ConsultationRow.id,
                          ConsultationJurisdictionRow.adcode.in_(sorted(scope)))
    member = exists().where(ConsultationParticipantRow.consultation_id == ConsultationRow.id,
                            ConsultationParticipantRow.username == username)
    return or_(near, member)


def list_consultations(session: Session, *, warning_id: str | None, status: str | None,
                       scope: Collection[str] | None, username: str, limit: int, offset: int
                       ) -> tuple[list[dict[str, Any]], int]:
    """A page of consultations, newest first, with message and decision counts, and the
    total; ``scope`` None: every consultation, else those visible to ``username``."""
    conditions = []
    if warning_id is not None:
        conditions.append(ConsultationRow.warning_id == warning_id)
    if status is not None:
        conditions.append(ConsultationRow.status == status)
    if scope is not None:
        conditions.append(_visible_clause(scope, username))
    total = session.scalar(select(func.count()).select_from(ConsultationRow).where(*conditions))
    messages = (select(func.count()).where(ConsultationMessageRow.consultation_id
                                           == ConsultationRow.id).scalar_subquery())
    decisions = (select(func.count()).where(ConsultationDecisionRow.consultation_id
                                            == ConsultationRow.id).scalar_subquery())
    rows = session.execute(
        select(ConsultationRow, messages.label("messages"), decisions.label("decisions"))
        .where(*conditions)
        .order_by(ConsultationRow.created_at.desc(), ConsultationRow.id)
        .limit(limit).offset(offset)).all()
    adcodes = _adcodes(session, [row[0].id for row in rows])
    page = [{**_summary_json(row, adcodes[row.id]), "message_count": n_messages,
             "decision_count": n_decisions} for row, n_messages, n_decisions in rows]
    return page, total or 0


def attachment_file(session: Session, consultation_id: str, attachment_id: str
                    ) -> ConsultationAttachmentRow | None:
    row = session.get(ConsultationAttachmentRow, attachment_id)
    return row if row is not None and row.consultation_id == consultation_id else None


# --- the outbox -----------------------------------------------------------------------------

def unpublished_events(session: Session, limit: int, *, created_before: datetime | None = None
                       ) -> list[ConsultationEvent]:
    """Events not yet on the topic, oldest first (only those created before
    ``created_before``, when given)."""
    conditions = [ConsultationEventRow.published_at.is_(None)]
    if created_before is not None:
        conditions.append(ConsultationEventRow.created_at < created_before)
    rows = session.execute(
        select(ConsultationEventRow, ConsultationRow.warning_id)
        .join(ConsultationRow, ConsultationRow.id == ConsultationEventRow.consultation_id)
        .where(*conditions)
        .order_by(ConsultationEventRow.created_at, ConsultationEventRow.id).limit(limit)).all()
    return [ConsultationEvent(event_id=row.id, consultation_id=row.consultation_id,
                              warning_id=warning_id, type=row.type, actor=row.actor,
                              issued_at=row.created_at, payload=row.payload)
            for row, warning_id in rows]


def mark_published(session: Session, event_ids: Collection[str], now: datetime) -> None:
    if event_ids:
        session.execute(update(ConsultationEventRow)
                        .where(ConsultationEventRow.id.in_(list(event_ids)))
                        .values(published_at=now))
