"""Attachment files of consultations: type detection and content-addressed storage.

A file is stored once under its SHA-256 (``<root>/ab/abcdef...``), however
many times it is uploaded; its names and uploaders are rows of
``consultation_attachments``. A file is written to a temporary name in the
same directory and renamed into place, so a reader never sees half a file
and two uploads of the same bytes at once leave one complete copy.

The type is read from the content (magic bytes), never only from what the
client declares: an attachment is shown to other people, so a file posing as
an image must not pass. CSV has no magic bytes; it is accepted when declared
as CSV and the bytes are UTF-8 text without control characters.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
SNIFF_BYTES = 16

ALLOWED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                 "text/csv")
CSV_DECLARED = frozenset({"text/csv", "application/csv", "text/comma-separated-values",
                          "application/vnd.ms-excel"})
"""Content types browsers send for .csv files (Windows sends the Excel one)."""
GENERIC_DECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 13}
"""Control characters that a CSV file does not contain (tab, LF and CR are fine)."""


class UnsupportedFileType(ValueError):
    """Not one of the allowed types, or not what it was declared to be."""


class FileTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit:,} bytes")
        self.limit = limit


def magic_type(head: bytes) -> str | None:
    """The allowed binary type whose signature starts ``head``, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


class _CsvCheck:
    """Incremental check that a stream is UTF-8 text without control characters."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.problem: str | None = None

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.problem is not None:
            return
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            self.problem = "it is not UTF-8 text"
            return
        if any(ord(c) in _TEXT_CONTROLS for c in text):
            self.problem = "it contains control characters (binary data)"


def _declared(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str


class AttachmentStore:
    """Files under ``root`` by SHA-256 (the API passes ``<data_dir>/attachments``), each at
    most ``max_bytes`` long."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def save(self, source: BinaryIO, *, declared_type: str | None, filename: str
             ) -> StoredFile:
        """Copy ``source`` into the store, checking its type and size on the way.

        Raises ``FileTooLarge`` beyond ``max_bytes`` and ``UnsupportedFileType``
        when the content is not an allowed type or contradicts ``declared_type``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                head = source.read(SNIFF_BYTES)
                content_type = self._detect(head, declared_type, filename)
                csv = _CsvCheck() if content_type == "text/csv" else None
                for chunk in _chunks(head, source):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(self.max_bytes)
                    digest.update(chunk)
                    if csv is not None:
                        csv.feed(chunk)
                    out.write(chunk)
                if csv is not None:
                    csv.feed(b"", final=True)
                    if csv.problem:
                        raise UnsupportedFileType(f"{filename!r} was declared as CSV but "
                                                  f"{csv.problem}")
            if size == 0:
                raise UnsupportedFileType(f"{filename!r} is empty")
            final = self.path(digest.hexdigest())
            final.parent.mkdir(exist_ok=True)
            os.replace(temp, final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return StoredFile(digest.hexdigest(), size, content_type)

    @staticmethod
    def _detect(head: bytes, declared_type: str | None, filename: str) -> str:
        declared = _declared(declared_type)
        found = magic_type(head)
        allowed = "PNG, JPEG, GIF, WebP, PDF or CSV"
        if found is not None:
            if declared not in GENERIC_DECLARED and declared != found:
                raise UnsupportedFileType(f"{filename!r} was declared as {declared} but its "
                                          f"content is {found}")
            return found
        if declared in CSV_DECLARED or (declared in GENERIC_DECLARED
                                        and filename.lower().endswith(".csv")):
            return "text/csv"
        if declared in GENERIC_DECLARED:
            raise UnsupportedFileType(f"{filename!r} is not a {allowed} file (by its content)")
        raise UnsupportedFileType(f"{filename!r} was declared as {declared} but its content "
                                  f"is not a {allowed} file; only those are accepted")


def _chunks(head: bytes, source: BinaryIO) -> Iterable[bytes]:
    if head:
        yield head
    while chunk := source.read(CHUNK):
        yield chunk
