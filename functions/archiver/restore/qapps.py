"""Q Apps file restores: upload an archived object as the file of a file-upload card.

``CreatePresignedUrl`` takes the Base64 SHA-256 of the file and answers with an S3 POST form
(URL and fields, a credential: it never leaves this module). The file is sent as
``multipart/form-data`` generated as a stream: the form fields, then the archived object read
from S3 chunk by chunk, so memory stays small whatever the file's size. S3 checks the checksum
the form carries against the bytes it receives, and an upload is all or nothing: a failed one
leaves no file behind, and a retry asks for a new form.

Q Apps' own limit on a file's size is not stated by its API reference (the seed pages); when the
signed upload policy carries a ``content-length-range``, a file outside it is refused before
anything is sent.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import urllib3

from archiver.core.connections import NETWORK_ERRORS, connection_pool
from archiver.core.errors import ChecksumMismatchError, UploadInterruptedError, UploadRejectedError
from archiver.core.links import DownloadLinkPolicy, origin
from archiver.core.observability import logger
from archiver.core.service_errors import naming_errors
from archiver.core.settings import Settings
from archiver.restore.models import FileRestored, FileUploaded, PlannedFile, PlannedRestore
from archiver.restore.report import record_restored
from archiver.restore.sources import iter_object, planned_source, sha256_of


class StreamedForm:
    """A ``multipart/form-data`` body: the fields, then the file last (S3 POST ignores fields after it)."""

    def __init__(self, fields: dict[str, str], *, file_name: str, size: int, chunks: Iterator[bytes]) -> None:
        self.boundary = secrets.token_hex(16)
        safe_name = file_name.replace('"', "%22")
        self._head = (
            b"".join(self._part(name, value) for name, value in fields.items())
            + (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = size
        self._chunks = chunks
        self.content_length = len(self._head) + size + len(self._tail)

    def _part(self, name: str, value: str) -> bytes:
        return f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        sent = 0
        for chunk in self._chunks:
            sent += len(chunk)
            yield chunk
        if sent != self._size:
            # The announced Content-Length would be wrong: fail rather than send a short body.
            raise UploadInterruptedError(f"the archived object gave {sent} bytes, {self._size} expected")
        yield self._tail


def allowed_upload_size(fields: dict[str, str]) -> tuple[int, int] | None:
    """The ``content-length-range`` the signed upload policy allows, when it says."""
    try:
        policy = json.loads(base64.b64decode(fields.get("policy", ""), validate=True))
    except ValueError:
        return None
    for condition in policy.get("conditions", []) if isinstance(policy, dict) else []:
        if isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            return int(condition[1]), int(condition[2])
    return None


def _rejection(response: urllib3.BaseHTTPResponse) -> str:
    try:
        error = ElementTree.fromstring(response.data)
        return f"{error.findtext('Code', '')}: {error.findtext('Message', '')}"
    except ElementTree.ParseError:
        return re.sub(r"\s+", " ", response.data[:200].decode(errors="replace"))


def _post(url: str, form: StreamedForm, settings: Settings) -> None:
    pool = connection_pool()
    try:
        response = pool.request(
            "POST",
            url,
            body=iter(form),
            headers={"Content-Type": form.content_type, "Content-Length": str(form.content_length)},
            timeout=urllib3.Timeout(connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds),
            retries=False,
            redirect=False,
        )
    except NETWORK_ERRORS as error:
        # urllib3's messages may quote the URL: name only the error's class.
        raise UploadInterruptedError(f"The upload to {origin(url)} did not complete: {type(error).__name__}") from None
    finally:
        pool.clear()
    if response.status in (200, 201, 204):
        return
    reason = f"The upload to {origin(url)} answered HTTP {response.status} ({_rejection(response)})"
    if response.status >= 500:
        raise UploadInterruptedError(reason)
    raise UploadRejectedError(reason + "; no file was stored")


def restore_file(
    client: Any, s3: Any, *, restore: PlannedRestore, instance_id: str, file: PlannedFile, settings: Settings
) -> FileRestored:
    """Upload an archived object to its card (application default, or one session); return its ``fileId``."""
    bucket = settings.archive_bucket
    archived = planned_source(file)
    digest = sha256_of(s3, bucket, archived)
    if archived.sha256 and digest.hex() != archived.sha256:
        raise ChecksumMismatchError(f"{archived.key} no longer has the SHA-256 recorded when it was archived")
    request = {
        "instanceId": instance_id,
        "appId": file.app_id,
        "cardId": file.card_id,
        "fileContentsSha256": base64.b64encode(digest).decode(),
        "fileName": file.file_name,
        "scope": file.scope,
    }
    if file.session_id is not None:
        request["sessionId"] = file.session_id
    card = f"card {file.card_id} of app {file.app_id} (instance {instance_id})"
    with naming_errors("Q Apps", resource=card):
        presigned = client.create_presigned_url(**request)
    url, fields = presigned["presignedUrl"], presigned["presignedUrlFields"]
    DownloadLinkPolicy.from_setting(settings.download_allowlist).check(url)
    allowed = allowed_upload_size(fields)
    if allowed and not allowed[0] <= archived.size <= allowed[1]:
        raise UploadRejectedError(
            f"{archived.key} is {archived.size:,} bytes; Q Apps accepts files of {allowed[0]:,} to {allowed[1]:,} "
            "bytes for this card: nothing was sent"
        )
    form = StreamedForm(fields, file_name=file.file_name, size=archived.size, chunks=iter_object(s3, bucket, archived))
    _post(url, form, settings)
    result = FileUploaded(file_id=presigned["fileId"], size=archived.size, sha256=digest.hex())
    record_restored(s3, bucket, restore=restore, item=file, kind="file", result=result)
    logger.info("File restored", extra={"item_id": file.item_id, "file_id": result.file_id, "scope": file.scope})
    return FileRestored(item_id=file.item_id, file_id=result.file_id, size=archived.size)
