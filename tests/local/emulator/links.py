"""The download host: objects published behind links that are signed, expire, and are served whole.

Like S3's presigned URLs, a link carries SigV4-style query parameters and an HMAC signature that
*is* verified (with a secret of this emulator only, so links never cross emulators), and it stops
working ``ttl_seconds`` of virtual time after it was issued. The same secret signs the S3 POST
forms of Q Apps uploads, whose policy this host enforces.

Downloads are served whole: the archiver never resumes one (a failed download is retried from
the start by the state machine), so a ``Range`` or ``If-Match`` request is refused as not
implemented rather than answered in a way no test checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from tests.local.emulator.blobs import Blob
from tests.local.emulator.clock import VirtualClock, amz_date, http_date, iso8601, parse_amz_date, parse_iso8601
from tests.local.emulator.faults import Faults
from tests.local.emulator.wire import Request, Response, injected_s3_error, s3_error

_UNSUPPORTED_HEADERS = ("range", "if-match")


class LinkHost:
    """Presigned links to published objects, and the S3 POST forms of uploads.

    Parameters
    ----------
    clock
        Issues and expires links.
    region
        Named in the links' credential scope.
    faults
        Supplies the injected download faults.
    ttl_seconds
        How long (virtual seconds) a link or form stays valid after it is issued.
    """

    def __init__(self, *, clock: VirtualClock, region: str, faults: Faults, ttl_seconds: int) -> None:
        self.clock = clock
        self.region = region
        self.ttl_seconds = ttl_seconds
        self.endpoint_url: str | None = None  # set while the emulator serves
        self._faults = faults
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[str, Callable[[], Blob]]] = {}
        self._downloads: list[dict[str, Any]] = []

    def url(self, path: str) -> str:
        if self.endpoint_url is None:
            raise RuntimeError("the emulator is not started")
        return f"{self.endpoint_url}{quote(path)}"

    # -- downloads -----------------------------------------------------------------------------

    def publish(self, path: str, kind: str, blob: Callable[[], Blob]) -> tuple[str, int]:
        """Serve ``blob()`` at ``path``; return a fresh link to it and the link's expiry (epoch seconds).

        ``blob`` is called at each download, so a big object is built only if it is fetched.
        """
        with self._lock:
            self._objects[path] = (kind, blob)
        issued = int(self.clock.now())  # X-Amz-Date has second resolution
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": self._credential(issued),
            "X-Amz-Date": amz_date(issued),
            "X-Amz-Expires": str(self.ttl_seconds),
            "X-Amz-SignedHeaders": "host",
            # A fresh token per link makes every issued URL distinct, as the real service's are.
            "X-Amz-Security-Token": secrets.token_urlsafe(24),
        }
        params["X-Amz-Signature"] = self._link_signature("GET", path, params)
        return f"{self.url(path)}?{urlencode(params, quote_via=quote)}", issued + self.ttl_seconds

    def downloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._downloads]

    def serve(self, request: Request) -> Response:
        """Answer a download: the whole object, or the S3 error a real link would get."""
        record: dict[str, Any] = {
            "path": request.path,
            "range": request.headers.get("range"),
            "status": None,
            "bytes_sent": 0,
            "content_length": 0,
            "kind": None,
            "time": self.clock.now(),
        }
        with self._lock:
            self._downloads.append(record)
        response = self._answer(request, record)
        if response.stream is not None:
            response.on_sent = lambda count: self._count_sent(record, count)  # object bytes, not error documents
        with self._lock:
            record["status"] = response.status
            record["content_length"] = response.length
        return response

    def _answer(self, request: Request, record: dict[str, Any]) -> Response:
        now = self.clock.now()
        refusal = self._faults.take_download_refusal()
        if refusal.fail_status is not None:
            return injected_s3_error(refusal.fail_status)
        query = request.query
        expected = self._link_signature(request.method, request.path, query)
        if not refusal.expire and not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            message = "The request signature we calculated does not match the signature you provided."
            return s3_error(403, "SignatureDoesNotMatch", message)
        try:
            expires_at = parse_amz_date(query["X-Amz-Date"]) + int(query["X-Amz-Expires"])
        except (KeyError, ValueError):
            expires_at = now  # tampered links fail the signature check first; injected expiry lands here
        if refusal.expire or now > expires_at:
            extra = {"X-Amz-Expires": query.get("X-Amz-Expires", ""), "Expires": iso8601(expires_at)}
            return s3_error(403, "AccessDenied", "Request has expired", extra | {"ServerTime": iso8601(now)})
        with self._lock:
            published = self._objects.get(request.path)
        if published is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.", {"Key": request.path})
        kind, blob = published
        with self._lock:
            record["kind"] = kind
        unsupported = next((name for name in _UNSUPPORTED_HEADERS if name in request.headers), None)
        if unsupported is not None:
            message = "A header you provided implies functionality that is not implemented"
            return s3_error(501, "NotImplemented", message, {"Header": unsupported.title()})
        return self._whole(blob())

    def _whole(self, blob: Blob) -> Response:
        headers = {
            "Content-Type": blob.content_type,
            "ETag": f'"{blob.etag}"',
            "Last-Modified": http_date(blob.last_modified),
            "x-amz-request-id": secrets.token_hex(8).upper(),
        }
        truncate, stall = self._faults.take_download_cut()
        return Response(
            200,
            headers,
            stream=blob.chunks(),
            stream_length=blob.size,
            truncate_after=truncate if stall is None else stall.after_bytes,
            stall=stall,
        )

    def _count_sent(self, record: dict[str, Any], count: int) -> None:
        with self._lock:
            record["bytes_sent"] += count

    def _credential(self, issued: int) -> str:
        return f"ASIAEMULATOREXAMPLE0/{amz_date(issued)[:8]}/{self.region}/s3/aws4_request"

    def _link_signature(self, method: str, path: str, params: Mapping[str, str]) -> str:
        canonical_query = "&".join(
            f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()) if k != "X-Amz-Signature"
        )
        return self._sign(f"{method}\n{path}\n{canonical_query}")

    def _sign(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    # -- S3 POST forms -------------------------------------------------------------------------

    def sign_form(self, *, bucket: str, key: str, checksum: str, max_bytes: int) -> tuple[dict[str, str], int]:
        """The fields of an S3 POST form for ``key``, signed like S3's: the policy binds key, checksum, expiry.

        Returns the fields and their expiry (epoch seconds).
        """
        issued = int(self.clock.now())
        expires = issued + self.ttl_seconds
        fields = {
            "key": key,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": self._credential(issued),
            "x-amz-date": amz_date(issued),
            "x-amz-security-token": secrets.token_urlsafe(24),
            "x-amz-checksum-sha256": checksum,
        }
        policy = {
            "expiration": iso8601(expires),
            "conditions": [
                {"bucket": bucket},
                *({name: value} for name, value in fields.items()),
                ["content-length-range", 0, max_bytes],
            ],
        }
        fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
        fields["x-amz-signature"] = self._sign(fields["policy"])
        return fields, expires

    def check_form(self, fields: Mapping[str, str], content: bytes) -> Response | None:
        """The S3 error a posted form and file get, or None if S3 would store the file."""
        policy_text = fields.get("policy", "")
        if not hmac.compare_digest(self._sign(policy_text), fields.get("x-amz-signature", "")):
            return s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        policy = json.loads(base64.b64decode(policy_text))
        if self.clock.now() > parse_iso8601(policy["expiration"]):
            return s3_error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        for condition in policy["conditions"]:
            if isinstance(condition, list):
                _, smallest, largest = condition
                if not smallest <= len(content) <= largest:
                    code = "EntityTooLarge" if len(content) > largest else "EntityTooSmall"
                    return s3_error(400, code, "Your proposed upload is outside the allowed size.")
                continue
            ((name, value),) = condition.items()
            if name != "bucket" and fields.get(name) != value:
                return s3_error(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {name}")
        if sha256_b64(content) != fields["x-amz-checksum-sha256"]:
            return s3_error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
        return None


def sha256_b64(content: bytes) -> str:
    """The Base64 SHA-256 digest S3 checks ``x-amz-checksum-sha256`` against."""
    return base64.b64encode(hashlib.sha256(content).digest()).decode()
