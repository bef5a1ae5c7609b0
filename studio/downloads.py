"""A file leaving the studio: its bytes with their SHA-256, measured as it is written, so the audit event
of a download names exactly what was sent."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.http import FileResponse

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExportedFile:
    file: IO[bytes]
    filename: str
    content_type: str
    sha256: str
    size: int

    def response(self) -> FileResponse:
        """The attachment; the response closes the file once sent."""
        return FileResponse(
            self.file, as_attachment=True, filename=self.filename, content_type=self.content_type
        )


def stored_file(path: Path, *, filename: str, content_type: str) -> ExportedFile:
    """A stored file as it is, hashed in one pass before it is sent."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return ExportedFile(open(path, "rb"), filename, content_type, digest.hexdigest(), size)


def built_file(write: Callable[[IO[bytes]], None], *, filename: str, content_type: str) -> ExportedFile:
    """A file built by `write` into a spooled temporary file (memory, then disk), then hashed."""
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - the response closes it
    write(spool)
    spool.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := spool.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    spool.seek(0)
    return ExportedFile(spool, filename, content_type, digest.hexdigest(), size)
