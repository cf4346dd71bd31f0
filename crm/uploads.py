"""Receiving a CSV upload for crm.ImportJob: streamed to disk, cut off at a size limit.

Django's default upload handlers keep small files in memory and write big ones to
FILE_UPLOAD_TEMP_DIR (often a small /tmp), then the view would copy them. This handler is
the only one on the upload page: it writes the file's bytes as they arrive into
CRM_IMPORT_DIR (the folder web and workers share), so memory stays flat whatever the size
and the finished file is renamed into place on the same filesystem, never copied. It
counts the bytes and stops the upload as soon as they pass the limit, deleting what it
wrote. DATA_UPLOAD_MAX_MEMORY_SIZE does not apply to the file: Django counts only the
other form fields against it.

A file is written as `<token>.csv.part` and renamed to `<token>.csv` once complete; a
`.part` left behind belongs to a request that died mid-upload. The view deletes the file
unless a job took it (`claim`), whatever went wrong in between.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

# The multipart body around the file: boundaries, part headers (a long file name), the
# CSRF token and the kind. A body longer than the limit plus this holds a file over it.
MULTIPART_OVERHEAD = 64 * 1024
FILE_FIELD = "file"


def size_text(size: int) -> str:
    """The size as "2.0 GB", with a plain space (filesizeformat gives a non-breaking one)."""
    return str(filesizeformat(size)).replace("\xa0", " ")


def too_large_message(*, size: int | None, limit: int) -> str:
    """The form's message for a file over the limit; `size` None: only known to be larger."""
    if size is None:
        return f"The file is larger than {size_text(limit)}, the limit (CRM_IMPORT_MAX_BYTES)."
    return f"The file is {size_text(size)}; the limit is {size_text(limit)} (CRM_IMPORT_MAX_BYTES)."


def request_too_large(request: HttpRequest, limit: int) -> int | None:
    """The announced body size when it cannot hold a file within `limit`, else None.

    Read from CONTENT_LENGTH before a byte of the body: a 2.3 GB upload is refused at
    once instead of after it has been received."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length > limit + MULTIPART_OVERHEAD else None


class StoredUpload(UploadedFile):
    """The uploaded file as stored in the imports folder; `stored_name` is what a job keeps."""

    def __init__(self, path: Path, name: str, size: int, content_type: str) -> None:
        super().__init__(path.open("rb"), name, content_type, size)
        self.path = path

    @property
    def stored_name(self) -> str:
        return self.path.name

    def temporary_file_path(self) -> str:
        return str(self.path)


class ImportUploadHandler(FileUploadHandler):
    """Writes the request's `file` field into `directory`, at most `max_bytes` of it.

    Only the first file of the `file` field is kept; any other file part is skipped unread.
    Over the limit, the upload stops (`too_large` is then True) and the partial file is
    deleted. Deliberately no attribute named `file`: Django's parser closes that on errors,
    this handler closes its own.
    """

    def __init__(self, request: HttpRequest, *, directory: Path, max_bytes: int) -> None:
        super().__init__(request)
        self.directory = directory
        self.max_bytes = max_bytes
        self.received = 0
        self.too_large = False
        self.path: Path | None = None  # the file on disk, partial or complete
        self._out: BinaryIO | None = None
        self._claimed = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != FILE_FIELD or self.path is not None:
            raise SkipFile()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{secrets.token_hex(16)}.csv.part"
        # O_EXCL: never write into a file that exists. Not world-readable: customers' data.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._out = os.fdopen(descriptor, "wb")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self._out is None:
            return raw_data
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            self.discard()
            # The rest of the body is at most MULTIPART_OVERHEAD past the limit (the view
            # checked CONTENT_LENGTH), so Django reads and drops it: the browser then gets
            # the form's message rather than a reset connection.
            raise StopUpload(connection_reset=False)
        self._out.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> StoredUpload | None:
        if self._out is None or self.path is None:
            return None
        self._out.close()
        self._out = None
        final = self.path.with_suffix("")  # drops ".part"
        self.path.rename(final)
        self.path = final
        assert self.file_name is not None
        return StoredUpload(final, self.file_name, file_size, self.content_type or "text/csv")

    def upload_interrupted(self) -> None:
        self.discard()

    def claim(self) -> None:
        """A job now owns the stored file: discard() leaves it alone."""
        self._claimed = True

    def discard(self) -> None:
        """Close and delete the file unless a job claimed it; safe to call at any time."""
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.path is not None and not self._claimed:
            self.path.unlink(missing_ok=True)
            self.path = None
