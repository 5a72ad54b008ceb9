"""Attachments of consultations: POST a file (multipart field ``file``), GET its bytes.

Accepted: PNG, JPEG, GIF, WebP, PDF and CSV, judged by the content (415
otherwise, or when the content contradicts the declared type), up to the
``attachment_max_bytes`` setting (413 beyond). Files are stored once per
content under their SHA-256 (``store.attachments``); a message then takes
the attachment by id; until then only its uploader can download it. Bytes are
served with their detected type, never sniffed by the browser, and CSV as a
download.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile
from starlette.types import Message

from api.consultation_access import check_post, check_read
from api.deps import Reader, SessionDep
from api.errors import AttachmentNotFound, AttachmentTooLarge, UnsupportedAttachment
from api.responses import OrjsonResponse
from api.routes.consultations import RESPONSES, ConsultationId, load_access
from store.attachments import (
    ALLOWED_TYPES,
    AttachmentStore,
    FileTooLarge,
    UnsupportedFileType,
)
from store.consultations import (
    OPEN,
    ConsultationClosed,
    InvalidConsultationRequest,
    add_attachment,
    attachment_file,
)
from store.db import session_scope

log = logging.getLogger(__name__)

router = APIRouter(tags=["consultations"])

MULTIPART_OVERHEAD = 64 * 1024
"""Bytes a multipart body may add around the file (boundaries, part headers)."""
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_filename(name: str | None) -> str:
    """The last path component without control characters, at most 255 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    return _UNSAFE_NAME.sub("", base).strip()[:255] or "attachment"


def limited_body(request: Request, limit: int, max_bytes: int) -> Request:
    """``request`` whose body raises ``AttachmentTooLarge`` as soon as more than ``limit``
    bytes have arrived: the form parser spools file parts to disk, and a chunked upload
    has no Content-Length to refuse it by up front."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise AttachmentTooLarge(max_bytes)
        return message

    return Request(request.scope, receive)


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": ", ".join(ALLOWED_TYPES)}}}}}}}


@router.post("/consultations/{consultation_id}/attachments", status_code=201,
             response_class=OrjsonResponse, openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "larger than attachment_max_bytes"},
                        415: {"description": "not an accepted type (by content)"},
                        **RESPONSES},
             summary="Upload a file (image, plot, PDF, CSV) to attach to a message")
async def upload_route(request: Request, user: Reader,
                       consultation_id: ConsultationId) -> OrjsonResponse:
    state = request.app.state
    files: AttachmentStore = state.attachments

    def access():
        with state.sessions() as session:
            return load_access(session, consultation_id)

    found = await run_in_threadpool(access)
    check_post(user, found)
    if found.status != OPEN:
        raise ConsultationClosed(f"consultation {consultation_id} is closed; nothing can be "
                                 "added to it", {"id": consultation_id, "status": found.status})
    limit = files.max_bytes + MULTIPART_OVERHEAD
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise AttachmentTooLarge(files.max_bytes)
    async with limited_body(request, limit, files.max_bytes).form(max_files=1,
                                                                  max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidConsultationRequest("file: send the file as the multipart/form-data "
                                             "field `file`")
        filename = clean_filename(upload.filename)
        try:
            stored = await run_in_threadpool(files.save, upload.file,
                                             declared_type=upload.content_type,
                                             filename=filename)
        except FileTooLarge:
            raise AttachmentTooLarge(files.max_bytes) from None
        except UnsupportedFileType as exc:
            raise UnsupportedAttachment(str(exc)) from None

    def record() -> dict[str, Any]:
        with session_scope(state.sessions, write_lock=True) as session:
            return add_attachment(session, consultation_id, attachment_id=str(uuid4()),
                                  stored=stored, filename=filename, uploaded_by=user.name,
                                  now=state.clock())

    return OrjsonResponse(await run_in_threadpool(record), status_code=201)


@router.get("/consultations/{consultation_id}/attachments/{attachment_id}",
            response_class=FileResponse, responses=RESPONSES,
            summary="The bytes of an attachment, with its content type")
def download_route(request: Request, session: SessionDep, user: Reader,
                   consultation_id: ConsultationId,
                   attachment_id: Annotated[str, Path(max_length=36)]) -> FileResponse:
    check_read(user, load_access(session, consultation_id))
    row = attachment_file(session, consultation_id, attachment_id)
    if row is None or (row.message_id is None and row.uploaded_by != user.name):
        # An upload no message has taken yet is its uploader's draft.
        raise AttachmentNotFound(consultation_id, attachment_id)
    path = request.app.state.attachments.path(row.sha256)
    if not path.is_file():
        log.error("attachment %s: file %s is missing from the store", row.id, path)
        raise AttachmentNotFound(consultation_id, attachment_id)
    return FileResponse(
        path, media_type=row.content_type, filename=row.filename,
        content_disposition_type="attachment" if row.content_type == "text/csv" else "inline",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
                 "Content-Security-Policy": "default-src 'none'; sandbox"})
