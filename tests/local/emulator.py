"""In-process emulator of the QuickSight asset-bundle export API and the Q Apps export/get API.

The archiver must be testable offline and without an AWS account, yet it should talk to its
services through unmodified boto3 clients. This module therefore serves the *wire protocol* of
botocore's ``quicksight`` and ``qapps`` services (both rest-json) on ``127.0.0.1``, plus the
S3-style presigned download links those services hand out, from a background thread:

>>> with ServiceEmulator() as emulator:                                  # doctest: +SKIP
...     qs = boto3.client("quicksight", endpoint_url=emulator.endpoint_url, region_name="us-east-1")

Time inside the emulator is *virtual* (:class:`VirtualClock`): export jobs progress and links
expire only when a test advances the clock, so tests never sleep and never flake on timing.

Implemented operations: ``StartAssetBundleExportJob``, ``DescribeAssetBundleExportJob``,
``ExportQAppSessionData`` and ``GetQApp``; for restores, ``StartAssetBundleImportJob``,
``DescribeAssetBundleImportJob`` (the bundle read inline or from S3, i.e. moto in process) and
``CreatePresignedUrl`` with the S3 POST upload it signs. Any other request answers 404
``UnknownOperationException`` so that a missing feature is loud rather than silently wrong.
SigV4 signatures of API calls are not verified (any credentials work); the download links carry
an HMAC signature that *is* verified, like a real presigned S3 URL.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import hashlib
import hmac
import itertools
import json
import logging
import random
import re
import secrets
import socket
import socketserver
import struct
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import Config

__all__ = [
    "DEFAULT_EPOCH",
    "ServiceEmulator",
    "VirtualClock",
    "cards_with_file_upload",
    "file_upload_card_id",
    "text_input_card_id",
]

_LOG = logging.getLogger(__name__)

#: Where every :class:`VirtualClock` starts unless told otherwise (2026-11-22T03:00:00Z).
DEFAULT_EPOCH: float = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC).timestamp()

_CHUNK_SIZE = 64 * 1024
_JOB_RETENTION_SECONDS = 14 * 24 * 3600  # QuickSight keeps job descriptions 14 days.
_MAX_PADDING_BYTES = 2**32 - 2**24  # Plain (non-zip64) zip offsets are 32-bit.
_ZIP_MADE_BY_UNIX = (3 << 8) | 20  # so the member permissions in the external attributes count

# Patterns and limits from the botocore service models.
_ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}$")
_JOB_ID_RE = re.compile(r"^[\w\-]+$")
_UUID_RE = re.compile(r"^[\da-f]{8}-[\da-f]{4}-[45][\da-f]{3}-[89ABab][\da-f]{3}-[\da-f]{12}$")
_QS_ARN_RE = re.compile(r"^arn:[\w-]+:quicksight:[\w-]*:\d{12}:(?P<type>[\w-]+)/(?P<id>.+)$")
_EXPORT_FORMATS = ("QUICKSIGHT_JSON", "CLOUDFORMATION_JSON")

QUEUED = "QUEUED_FOR_IMMEDIATE_EXECUTION"
IN_PROGRESS = "IN_PROGRESS"
SUCCESSFUL = "SUCCESSFUL"
FAILED = "FAILED"

_OPERATIONS: dict[str, str] = {
    "StartAssetBundleExportJob": "quicksight",
    "DescribeAssetBundleExportJob": "quicksight",
    "ExportQAppSessionData": "qapps",
    "GetQApp": "qapps",
    "StartAssetBundleImportJob": "quicksight",
    "DescribeAssetBundleImportJob": "quicksight",
    "CreatePresignedUrl": "qapps",
}

# The qapps error shapes mark these members required; an injected error without them would
# still parse, but code under test may rely on them being present as they are on the real service.
_QAPPS_ERROR_DEFAULTS: dict[str, dict[str, str]] = {
    "ThrottlingException": {"serviceCode": "qapps", "quotaCode": "L-EMULATED"},
    "ServiceQuotaExceededException": {
        "resourceId": "emulated",
        "resourceType": "emulated",
        "serviceCode": "qapps",
        "quotaCode": "L-EMULATED",
    },
    "ConflictException": {"resourceId": "emulated", "resourceType": "emulated"},
    "ResourceNotFoundException": {"resourceId": "emulated", "resourceType": "emulated"},
}

_S3_ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


# --------------------------------------------------------------------------------------------
# Virtual time
# --------------------------------------------------------------------------------------------


class VirtualClock:
    """A thread-safe clock that only moves when told to.

    Parameters
    ----------
    start
        Epoch seconds (or an aware ``datetime``) to start at; defaults to :data:`DEFAULT_EPOCH`.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("start must be timezone-aware")
            start = start.timestamp()
        self._now = DEFAULT_EPOCH if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current virtual time in epoch seconds."""
        with self._lock:
            return self._now

    def now_datetime(self) -> datetime:
        """Return the current virtual time as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        Parameters
        ----------
        seconds
            How far to move; must not be negative (time never runs backwards).
        """
        if seconds < 0:
            raise ValueError("a virtual clock cannot go backwards")
        with self._lock:
            self._now += seconds


def _iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


# --------------------------------------------------------------------------------------------
# Downloadable objects: byte sources that are read in chunks, never materialised whole
# --------------------------------------------------------------------------------------------


class _Source(Protocol):
    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class _BytesSource:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


@dataclass(frozen=True)
class _PaddingSource:
    """Deterministic pseudo-random bytes, generated block by block on demand.

    Random (incompressible) content keeps the stored size honest, and generating it per block
    lets a multi-GiB bundle be served, or resumed mid-way, without ever holding it in memory.
    """

    seed: str
    length: int
    block_size: int = _CHUNK_SIZE

    @property
    def size(self) -> int:
        return self.length

    def _block(self, index: int) -> bytes:
        # str seeds are hashed with SHA-512 by ``random``, so blocks are stable across runs.
        rng = random.Random(f"{self.seed}:{index}")
        return rng.randbytes(min(self.block_size, self.length - index * self.block_size))

    def read(self, offset: int, length: int) -> bytes:
        stop = min(offset + length, self.length)
        pieces = []
        while offset < stop:
            index, within = divmod(offset, self.block_size)
            block = self._block(index)
            piece = block[within : within + (stop - offset)]
            pieces.append(piece)
            offset += len(piece)
        return b"".join(pieces)

    def crc32(self) -> int:
        crc = 0
        for index in range((self.length + self.block_size - 1) // self.block_size):
            crc = zlib.crc32(self._block(index), crc)
        return crc


class _Blob:
    """An immutable object made of consecutive sources, served in chunks."""

    def __init__(self, sources: Sequence[_Source], *, content_type: str, etag: str, last_modified: float) -> None:
        self._sources = list(sources)
        self.size = sum(source.size for source in self._sources)
        self.content_type = content_type
        self.etag = etag
        self.last_modified = last_modified

    def iter_range(self, start: int, stop: int) -> Iterator[bytes]:
        """Yield the bytes in ``[start, stop)`` in chunks of at most 64 KiB."""
        base = 0
        for source in self._sources:
            lo, hi = max(start, base), min(stop, base + source.size)
            offset = lo
            while offset < hi:
                length = min(_CHUNK_SIZE, hi - offset)
                yield source.read(offset - base, length)
                offset += length
            base += source.size

    def read_all(self) -> bytes:
        return b"".join(self.iter_range(0, self.size))


@dataclass(frozen=True)
class _ZipMember:
    name: str
    source: _Source
    crc: int
    uncompressed_size: int
    method: int  # 0 = stored, 8 = deflated

    @classmethod
    def deflated(cls, name: str, data: bytes) -> _ZipMember:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip expects
        packed = compressor.compress(data) + compressor.flush()
        return cls(name, _BytesSource(packed), zlib.crc32(data), len(data), 8)

    @classmethod
    def stored_padding(cls, name: str, padding: _PaddingSource) -> _ZipMember:
        return cls(name, padding, padding.crc32(), padding.size, 0)


def _dos_datetime(epoch: float) -> tuple[int, int]:
    moment = datetime.fromtimestamp(epoch, UTC)
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


def _zip_blob(members: Sequence[_ZipMember], *, modified: float, etag: str) -> _Blob:
    """Lay out a zip archive whose member data are sources, so big members stay lazy.

    Written by hand rather than with :mod:`zipfile` because zipfile needs the data in hand,
    while here the padding member is generated on the fly when (and where) it is read.
    """
    dos_time, dos_date = _dos_datetime(modified)
    sources: list[_Source] = []
    central: list[bytes] = []
    offset = 0
    for member in members:
        name = member.name.encode()
        flags = 0 if member.name.isascii() else 0x800  # bit 11: the name is UTF-8
        common = (member.method, dos_time, dos_date, member.crc, member.source.size, member.uncompressed_size)
        local = struct.pack("<IHH" + "HHHIII" + "HH", 0x04034B50, 20, flags, *common, len(name), 0) + name
        central.append(
            struct.pack(
                "<IHHH" + "HHHIII" + "HHHHHII",
                *(0x02014B50, _ZIP_MADE_BY_UNIX, 20, flags, *common),
                *(len(name), 0, 0, 0, 0, 0o644 << 16, offset),
            )
            + name
        )
        sources += [_BytesSource(local), member.source]
        offset += len(local) + member.source.size
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0)
    sources.append(_BytesSource(directory + end))
    return _Blob(sources, content_type="application/zip", etag=etag, last_modified=modified)


# --------------------------------------------------------------------------------------------
# Emulator state
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    arn: str
    fails_strict_validation: bool
    name: str
    dependencies: tuple[str, ...]


@dataclass
class _ExportJob:
    account_id: str
    job_id: str
    serial: int
    arn: str
    params: dict[str, Any]
    created_at: float
    duration: float
    exported: list[_Resource]
    errors: list[dict[str, str]]
    warnings: list[dict[str, str]]
    padding_bytes: int
    bundle: _Blob | None = None

    @property
    def outcome(self) -> str:
        return FAILED if self.errors else SUCCESSFUL

    @property
    def strict(self) -> bool:
        return bool(self.params.get("ValidationStrategy", {}).get("StrictModeForAllResources", False))

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        if elapsed >= self.duration:
            return self.outcome
        # A short queued phase (1 s, or half of a very short job) lets tests observe every state.
        if elapsed < min(1.0, self.duration / 2):
            return QUEUED
        return IN_PROGRESS


@dataclass(frozen=True)
class _Session:
    instance_id: str
    app_id: str
    session_id: str
    csv: bytes


@dataclass
class _ApiFault:
    code: str
    status: int
    remaining: int
    retry_after_seconds: int | None
    message: str
    fields: dict[str, Any]


@dataclass
class _Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    stream_length: int = 0
    truncate_after: int | None = None
    download: dict[str, Any] | None = field(default=None, repr=False)  # the record to account bytes in
    stall: _Stall | None = None


@dataclass(frozen=True)
class _Stall:
    """A download that goes silent: before its headers, or after ``after_bytes`` of its body."""

    before_headers: bool
    after_bytes: int


# A stalled download is held open at most this long (real seconds) if nothing releases it; the
# client's read timeout, or the emulator stopping, normally ends it far sooner.
_MAX_STALL_SECONDS = 30.0


class _ApiError(Exception):
    """Raised inside an operation handler to answer with a modeled service error."""

    def __init__(
        self, code: str, status: int, message: str, *, retry_after_seconds: int | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.retry_after_seconds = retry_after_seconds
        self.fields = fields


@functools.cache
def _modeled_status(service: str, code: str) -> int | None:
    """The HTTP status botocore's model of ``service`` gives error ``code``, if it models it."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    for shape in model.error_shapes:
        if shape.name == code:
            return int(shape.metadata["error"]["httpStatusCode"])
    return None


def _json_response(status: int, payload: Mapping[str, Any], request_id: str) -> _Response:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    return _Response(status, headers, json.dumps(payload).encode())


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class ServiceEmulator:
    """Emulates QuickSight asset-bundle exports and Q Apps session exports over real HTTP.

    Parameters
    ----------
    clock
        The virtual clock to use; a fresh :class:`VirtualClock` by default.
    link_ttl_seconds
        How long (virtual seconds) a download link stays valid after it is issued.
    export_duration_seconds
        Virtual time from an export job's start to its end (see :meth:`set_export_duration`).
    max_concurrent_jobs
        Export jobs that may be queued or running at once per account.
    region
        The region used in ARNs and link credentials.
    account_id
        The account that owns Q Apps ARNs (QuickSight takes the account from each request).

    Notes
    -----
    State lives on the instance, so tests can run many emulators side by side. All state is
    guarded by one lock; downloads stream outside it.
    """

    def __init__(
        self,
        *,
        clock: VirtualClock | None = None,
        link_ttl_seconds: int = 300,
        export_duration_seconds: float = 20,
        max_concurrent_jobs: int = 5,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.clock = clock or VirtualClock()
        self.link_ttl_seconds = link_ttl_seconds
        self.export_duration_seconds = export_duration_seconds
        self.max_concurrent_jobs = max_concurrent_jobs
        self.region = region
        self.account_id = account_id
        self._lock = threading.RLock()
        self._padding_bytes = 0
        self._link_secret = secrets.token_bytes(32)  # per instance: links never cross emulators
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._endpoint_url: str | None = None
        self._resources: dict[str, _Resource] = {}
        self._durations: list[tuple[str, float]] = []
        self._jobs: dict[tuple[str, str], _ExportJob] = {}
        self._jobs_by_serial: dict[int, _ExportJob] = {}
        self._qapps: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._objects: dict[str, Callable[[], _Blob]] = {}
        self._serials = itertools.count(1)
        self._api_faults: dict[str, deque[_ApiFault]] = {name: deque() for name in _OPERATIONS}
        self._expire_faults = 0
        self._fail_faults: deque[int] = deque()
        self._truncate_faults: deque[int] = deque()
        self._stall_faults: deque[_Stall] = deque()
        self._stalls_released = threading.Event()
        self._requests: list[dict[str, Any]] = []
        self._downloads: list[dict[str, Any]] = []
        self.import_duration_seconds = 10.0
        self.qapps_max_file_bytes = _QAPPS_MAX_FILE_BYTES
        self._import_jobs: dict[tuple[str, str], _ImportJob] = {}
        self._upload_forms: dict[str, dict[str, Any]] = {}
        self._uploads: list[dict[str, Any]] = []
        self._upload_faults: deque[int] = deque()
        self._import_faults: deque[str] = deque()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint for both services and for download links."""
        if self._endpoint_url is None:
            raise RuntimeError("the emulator is not started")
        return self._endpoint_url

    def client(self, service: str, *, config: Config | None = None) -> BaseClient:
        """A real boto3 client for ``service`` (``quicksight`` or ``qapps``) that calls this emulator.

        It makes one attempt per call, so an injected error reaches the caller instead of being retried
        away (with real sleeps); ``config`` adds to that. Any credentials do: the emulator checks none.
        """
        import boto3
        from botocore.config import Config

        one_attempt = Config(retries={"total_max_attempts": 1})
        client: BaseClient = boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=one_attempt.merge(config) if config else one_attempt,
        )
        return client

    def start(self) -> ServiceEmulator:
        """Bind a free port on 127.0.0.1 and serve from a background thread.

        Returns
        -------
        ServiceEmulator
            ``self``, for chaining.
        """
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        server = _Server(self)
        port = server.server_address[1]
        self._endpoint_url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"emulator:{port}", daemon=True
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and wait for every handler thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stalls_released.set()  # stalled downloads end now, not when their wait runs out
        server.shutdown()
        server.close_connections()  # keep-alive connections would otherwise idle on until timeout
        server.server_close()
        thread.join(timeout=5)
        server.join_handlers(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ServiceEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- seeding -------------------------------------------------------------------------------

    @property
    def bundle_padding_bytes(self) -> int:
        """Size of an incompressible padding member added to bundles of jobs started from now on."""
        return self._padding_bytes

    @bundle_padding_bytes.setter
    def bundle_padding_bytes(self, value: int) -> None:
        if not 0 <= value <= _MAX_PADDING_BYTES:
            raise ValueError(f"bundle_padding_bytes must be between 0 and {_MAX_PADDING_BYTES}")
        self._padding_bytes = value

    def add_quicksight_resource(
        self,
        arn: str,
        *,
        fails_strict_validation: bool = False,
        name: str | None = None,
        dependencies: Sequence[str] = (),
    ) -> None:
        """Register a QuickSight asset that export jobs may include.

        Parameters
        ----------
        arn
            The asset's ARN, e.g. ``arn:aws:quicksight:us-east-1:123456789012:dashboard/sales``.
        fails_strict_validation
            If true, strict-mode exports of it fail and relaxed ones succeed with a warning.
        name
            Display name written into the bundle; defaults to the resource id.
        dependencies
            ARNs exported with it when a job sets ``IncludeAllDependencies``.
        """
        resource = _Resource(arn, fails_strict_validation, name or _arn_parts(arn)[1], tuple(dependencies))
        with self._lock:
            self._resources[arn] = resource

    def set_export_duration(self, match: str, seconds: float) -> None:
        """Make export jobs started from now on that match take ``seconds`` of virtual time.

        Parameters
        ----------
        match
            Matches a job whose id contains it or any of whose ``ResourceArns`` contains it
            (the archiver chooses job ids itself, so tests usually match on an ARN).
        seconds
            The job's duration; the most recently set matching rule wins.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._durations.append((match, seconds))

    def add_qapp(
        self,
        *,
        instance_id: str,
        app_id: str,
        title: str,
        app_version: int = 1,
        cards: list[dict[str, Any]] | None = None,
        description: str | None = None,
        status: str = "PUBLISHED",
        required_capabilities: Sequence[str] = (),
    ) -> None:
        """Register a Q App version that ``GetQApp`` returns.

        Parameters
        ----------
        instance_id, app_id, title, app_version
            Identity of the app; ``app_id`` must be a UUID as the service requires.
        cards
            The definition's cards (each a one-key union such as ``{"textInput": {...}}``);
            a text-input card feeding a Q query card by default.
        description, status, required_capabilities
            Optional metadata returned as is.
        """
        if not _UUID_RE.match(app_id):
            raise ValueError(f"app_id must be a UUID: {app_id!r}")
        now = self.clock.now()
        app = {
            "appId": app_id,
            "appArn": f"{self._qapps_arn_prefix(instance_id)}/qapp/{app_id}",
            "title": title,
            "appVersion": app_version,
            "status": status,
            "createdAt": _iso8601(now),
            "createdBy": "emulator-user",
            "updatedAt": _iso8601(now),
            "updatedBy": "emulator-user",
            "requiredCapabilities": list(required_capabilities),
            "appDefinition": {
                "appDefinitionVersion": "1",
                "canEdit": True,
                "cards": copy.deepcopy(cards) if cards is not None else _default_cards(app_id),
            },
        }
        if description is not None:
            app["description"] = description
        with self._lock:
            self._qapps.setdefault((instance_id, app_id), {})[app_version] = app

    def add_session(self, *, instance_id: str, app_id: str, session_id: str, csv: bytes) -> None:
        """Register a data-collection session whose export serves ``csv``.

        Parameters
        ----------
        instance_id, app_id, session_id
            Identity of the session; ``session_id`` must be a UUID as the service requires.
        csv
            The exact bytes a download of the session's export serves.
        """
        if not _UUID_RE.match(session_id):
            raise ValueError(f"session_id must be a UUID: {session_id!r}")
        with self._lock:
            self._sessions[(instance_id, session_id)] = _Session(instance_id, app_id, session_id, bytes(csv))

    # -- fault injection -----------------------------------------------------------------------

    def inject_api_error(
        self,
        operation: str,
        code: str,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after_seconds: int | None = None,
        message: str = "Injected by the service emulator",
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with an error.

        Parameters
        ----------
        operation
            The botocore operation name, e.g. ``"StartAssetBundleExportJob"``.
        code
            The error code boto3 reports, e.g. ``"ThrottlingException"``.
        status
            The HTTP status to answer with; by default the one the service's model gives ``code``
            (QuickSight's ``AccessDeniedException`` is 401, Q Apps' 403). A status the model
            contradicts is refused: a test must not rely on an answer the real service never sends.
        times
            How many consecutive matching calls fail.
        retry_after_seconds
            Sent as ``Retry-After``; botocore parses it into ``retryAfterSeconds`` for qapps.
        message
            The error message.
        fields
            Extra members for the JSON error body (e.g. ``resourceId``).
        """
        if operation not in _OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {sorted(_OPERATIONS)}")
        modeled = _modeled_status(_OPERATIONS[operation], code)
        if status is None:
            if modeled is None:
                raise ValueError(f"{_OPERATIONS[operation]} models no {code}: give its HTTP status")
            status = modeled
        elif modeled is not None and status != modeled:
            raise ValueError(f"{_OPERATIONS[operation]} answers {code} with HTTP {modeled}, not {status}")
        fault = _ApiFault(code, status, times, retry_after_seconds, message, dict(fields or {}))
        with self._lock:
            self._api_faults[operation].append(fault)

    def expire_next_downloads(self, times: int = 1) -> None:
        """Answer the next ``times`` downloads 403 "Request has expired", whatever the link."""
        with self._lock:
            self._expire_faults += times

    def truncate_next_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """Make the next ``times`` downloads announce the full length, then close early."""
        with self._lock:
            self._truncate_faults.extend([after_bytes] * times)

    def fail_next_downloads(self, times: int = 1, *, status: int = 503) -> None:
        """Answer the next ``times`` downloads with an S3-style error of ``status``."""
        with self._lock:
            self._fail_faults.extend([status] * times)

    def stall_next_downloads(self, times: int = 1, *, after_bytes: int | None = 0) -> None:
        """Make the next ``times`` downloads go silent and hold the connection open.

        Parameters
        ----------
        times
            How many consecutive downloads stall.
        after_bytes
            Body bytes sent (after the full headers) before going silent; ``None`` stalls before
            even the status line, as a host that accepts the connection and never answers.

        Nothing sleeps on the test's side: the client's own read timeout ends the wait (give it
        a short one), and stopping the emulator releases every stalled connection.
        """
        stall = _Stall(before_headers=after_bytes is None, after_bytes=after_bytes or 0)
        with self._lock:
            self._stall_faults.extend([stall] * times)

    # -- introspection -------------------------------------------------------------------------

    def requests_for(self, operation: str) -> list[dict[str, Any]]:
        """Return what each call of ``operation`` received, oldest first.

        Returns
        -------
        list of dict
            Each with ``params`` (the input members by their botocore names, e.g.
            ``AwsAccountId``, ``ResourceArns``, ``instanceId``), ``access_key_id`` and
            ``security_token`` (from the request's signature, or None), ``request_id``, ``time``
            (virtual) and ``status`` (the HTTP status answered).
        """
        with self._lock:
            return [copy.deepcopy(r) for r in self._requests if r["operation"] == operation]

    def downloads(self) -> list[dict[str, Any]]:
        """Return one record per download request, oldest first.

        Returns
        -------
        list of dict
            Each with ``path``, ``range`` (the ``Range`` header or None), ``status``,
            ``bytes_sent``, ``content_length``, ``kind`` (``"quicksight-bundle"``,
            ``"qapps-session-csv"`` or None) and ``time`` (virtual).
        """
        with self._lock:
            return [dict(record) for record in self._downloads]

    def bundle_bytes(self, job_id: str) -> bytes:
        """Return the exact bytes the latest job with ``job_id`` serves (materialised: tests only)."""
        job = self._latest_job(job_id)
        if job.outcome != SUCCESSFUL:
            raise ValueError(f"job {job_id!r} fails, so it has no bundle")
        return self._bundle(job).read_all()

    def session_csv(self, instance_id: str, session_id: str) -> bytes:
        """Return the bytes registered for a session."""
        with self._lock:
            return self._sessions[(instance_id, session_id)].csv

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Return job id -> a summary of the latest job with that id, status as of now."""
        now = self.clock.now()
        with self._lock:
            return {
                job.job_id: {
                    "account_id": job.account_id,
                    "arn": job.arn,
                    "status": job.status_at(now),
                    "created_at": job.created_at,
                    "finishes_at": job.created_at + job.duration,
                    "resource_arns": list(job.params["ResourceArns"]),
                    "errors": copy.deepcopy(job.errors),
                    "warnings": copy.deepcopy(job.warnings),
                }
                for job in sorted(self._jobs.values(), key=lambda j: j.serial)
            }

    # -- request dispatch (called from handler threads) ----------------------------------------

    def _handle(self, request: _Request) -> _Response:
        if request.method in ("GET", "HEAD") and (
            "X-Amz-Signature" in request.query or "X-Amz-Algorithm" in request.query
        ):
            return self._handle_download(request)
        if request.method == "POST" and request.path == self._upload_path:
            return self._handle_upload(request)
        operation = _route(request)
        request_id = str(uuid.uuid4())
        if operation is None:
            message = f"The emulator does not implement {request.method} {request.path}"
            return self._error_response("quicksight", _ApiError("UnknownOperationException", 404, message), request_id)
        service = _OPERATIONS[operation]
        record = self._record_request(operation, request, request_id)
        try:
            self._raise_injected_fault(operation)
            payload, status = self._dispatch(operation, request, record["params"], request_id)
            response = _json_response(status, payload, request_id)
        except _ApiError as error:
            response = self._error_response(service, error, request_id)
        with self._lock:
            record["status"] = response.status
        return response

    def _dispatch(
        self, operation: str, request: _Request, params: dict[str, Any], request_id: str
    ) -> tuple[dict[str, Any], int]:
        if operation == "StartAssetBundleExportJob":
            return self._start_export(params, request_id), 202
        if operation == "DescribeAssetBundleExportJob":
            return self._describe_export(params, request_id), 200
        if operation == "ExportQAppSessionData":
            return self._export_session(params), 200
        if operation in _RESTORE_OPERATIONS:
            return self._dispatch_restore(operation, params, request_id)
        return self._get_qapp(params), 200

    def _record_request(self, operation: str, request: _Request, request_id: str) -> dict[str, Any]:
        access_key, token = _signing_identity(request.headers)
        record: dict[str, Any] = {
            "operation": operation,
            "params": _parse_params(operation, request),
            "access_key_id": access_key,
            "security_token": token,
            "request_id": request_id,
            "time": self.clock.now(),
            "status": None,
        }
        with self._lock:
            self._requests.append(record)
        return record

    def _raise_injected_fault(self, operation: str) -> None:
        with self._lock:
            faults = self._api_faults[operation]
            if not faults:
                return
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
        raise _ApiError(
            fault.code,
            fault.status,
            fault.message,
            retry_after_seconds=fault.retry_after_seconds,
            **fault.fields,
        )

    def _error_response(self, service: str, error: _ApiError, request_id: str) -> _Response:
        body: dict[str, Any]
        if service == "quicksight":
            body = {"Message": error.message, "RequestId": request_id}
        else:
            body = {"message": error.message, **_QAPPS_ERROR_DEFAULTS.get(error.code, {})}
        body.update(error.fields)
        response = _json_response(error.status, body, request_id)
        # botocore reads the code from this header first (rest-json), see RestJSONParser.
        response.headers["x-amzn-ErrorType"] = error.code
        if error.retry_after_seconds is not None:
            response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response

    # -- QuickSight ----------------------------------------------------------------------------

    def _start_export(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        _validate_start(params)
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        now = self.clock.now()
        with self._lock:
            previous = self._jobs.get((account_id, job_id))
            if previous is not None and previous.status_at(now) in (QUEUED, IN_PROGRESS):
                raise _ApiError("ConflictException", 409, f"Export job {job_id} is still running.")
            running = sum(
                1
                for job in self._jobs.values()
                if job.account_id == account_id and job.status_at(now) in (QUEUED, IN_PROGRESS)
            )
            if running >= self.max_concurrent_jobs:
                message = f"You can run at most {self.max_concurrent_jobs} export jobs at the same time."
                raise _ApiError("LimitExceededException", 409, message)
            job = self._new_job(params, now)
            self._jobs[(account_id, job_id)] = job
            self._jobs_by_serial[job.serial] = job
        return {"Arn": job.arn, "AssetBundleExportJobId": job_id, "RequestId": request_id, "Status": 202}

    def _new_job(self, params: dict[str, Any], now: float) -> _ExportJob:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        strict = bool(params.get("ValidationStrategy", {}).get("StrictModeForAllResources", False))
        exported, missing = self._resolve(params["ResourceArns"], bool(params.get("IncludeAllDependencies")))
        errors = [
            {"Arn": arn, "Type": "ResourceNotFoundException", "Message": f"Resource {arn} was not found."}
            for arn in missing
        ]
        warnings: list[dict[str, str]] = []
        for resource in exported:
            if not resource.fails_strict_validation:
                continue
            kind = _arn_parts(resource.arn)[0].capitalize()
            if strict:
                message = f"{kind} {resource.arn} has associated errors and cannot be exported."
                errors.append({"Arn": resource.arn, "Type": "InvalidParameterValueException", "Message": message})
            else:
                message = f"{kind} {resource.arn} has associated errors that were skipped by relaxed validation."
                warnings.append({"Arn": resource.arn, "Message": message})
        return _ExportJob(
            account_id=account_id,
            job_id=job_id,
            serial=next(self._serials),
            arn=f"arn:aws:quicksight:{self.region}:{account_id}:asset-bundle-export-job/{job_id}",
            params=copy.deepcopy(params),
            created_at=now,
            duration=self._duration_for(job_id, params["ResourceArns"]),
            exported=exported,
            errors=errors,
            warnings=warnings,
            padding_bytes=self._padding_bytes,
        )

    def _resolve(self, arns: Sequence[str], with_dependencies: bool) -> tuple[list[_Resource], list[str]]:
        """Return the registered resources a job exports (in a stable order) and the unknown ARNs."""
        exported: list[_Resource] = []
        missing: list[str] = []
        pending, seen = deque(arns), set()
        while pending:
            arn = pending.popleft()
            if arn in seen:
                continue
            seen.add(arn)
            resource = self._resources.get(arn)
            if resource is None:
                missing.append(arn)
                continue
            exported.append(resource)
            if with_dependencies:
                pending.extend(resource.dependencies)
        return exported, missing

    def _duration_for(self, job_id: str, arns: Sequence[str]) -> float:
        for match, seconds in reversed(self._durations):
            if match in job_id or any(match in arn for arn in arns):
                return seconds
        return self.export_duration_seconds

    def _describe_export(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        now = self.clock.now()
        with self._lock:
            job = self._jobs.get((account_id, job_id))
        if job is None or now - job.created_at > _JOB_RETENTION_SECONDS:
            raise _ApiError("ResourceNotFoundException", 404, f"Export job {job_id} was not found.")
        status = job.status_at(now)
        described: dict[str, Any] = {
            "JobStatus": status,
            "Arn": job.arn,
            "CreatedTime": job.created_at,
            "AssetBundleExportJobId": job.job_id,
            "AwsAccountId": job.account_id,
            "ResourceArns": list(job.params["ResourceArns"]),
            "IncludeAllDependencies": bool(job.params.get("IncludeAllDependencies", False)),
            "ExportFormat": job.params["ExportFormat"],
            "IncludePermissions": bool(job.params.get("IncludePermissions", False)),
            "IncludeTags": bool(job.params.get("IncludeTags", False)),
            "ValidationStrategy": {"StrictModeForAllResources": job.strict},
            "RequestId": request_id,
            "Status": 200,
        }
        for echoed in (
            "CloudFormationOverridePropertyConfiguration",
            "IncludeFolderMemberships",
            "IncludeFolderMembers",
        ):
            if echoed in job.params:
                described[echoed] = job.params[echoed]
        if status == FAILED:
            described["Errors"] = copy.deepcopy(job.errors)
        if status == SUCCESSFUL:
            described["DownloadUrl"] = self._bundle_link(job)
            if job.warnings:
                described["Warnings"] = copy.deepcopy(job.warnings)
        return described

    def _bundle_link(self, job: _ExportJob) -> str:
        path = (
            f"/quicksight-asset-bundle-export-{self.region}/{job.account_id}/{job.job_id}/{job.serial}"
            f"/assetbundle-{job.job_id}.qs"
        )
        with self._lock:
            self._objects[path] = lambda: self._bundle(job)
        url, _ = self._presign(path)
        return url

    def _bundle(self, job: _ExportJob) -> _Blob:
        with self._lock:
            built = job.bundle
        if built is None:
            # Built outside the lock: hashing big padding takes a while, and building is
            # deterministic, so two threads racing here produce the same bundle.
            built = _build_bundle(job)
            with self._lock:
                job.bundle = job.bundle or built
        return job.bundle or built

    def _latest_job(self, job_id: str) -> _ExportJob:
        with self._lock:
            candidates = [job for (_, jid), job in self._jobs.items() if jid == job_id]
        if not candidates:
            raise KeyError(job_id)
        return max(candidates, key=lambda j: j.serial)

    # -- Q Apps --------------------------------------------------------------------------------

    def _qapps_arn_prefix(self, instance_id: str) -> str:
        return f"arn:aws:qapps:{self.region}:{self.account_id}:application/{instance_id}"

    def _export_session(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id, session_id = params.get("instanceId"), params.get("sessionId")
        if not instance_id:
            raise _ApiError("ValidationException", 400, "The instance-id header is required.")
        if not isinstance(session_id, str) or not _UUID_RE.match(session_id):
            raise _ApiError("ValidationException", 400, f"Invalid sessionId: {session_id!r}.")
        with self._lock:
            known_instance = any(key[0] == instance_id for key in (*self._sessions, *self._qapps))
            session = self._sessions.get((instance_id, session_id))
        if session is None:
            resource_id, resource_type = (session_id, "QAppSession") if known_instance else (instance_id, "Instance")
            message = f"{resource_type} {resource_id} was not found."
            raise _ApiError(
                "ResourceNotFoundException", 404, message, resourceId=resource_id, resourceType=resource_type
            )
        with self._lock:
            export = next(self._serials)
        path = (
            f"/qapps-session-export-{self.region}/{instance_id}/{session.app_id}/{session_id}/{export}/{session_id}.csv"
        )
        blob = _Blob(
            [_BytesSource(session.csv)],
            content_type="text/csv",
            etag=hashlib.md5(session.csv, usedforsecurity=False).hexdigest(),
            last_modified=self.clock.now(),
        )
        with self._lock:
            self._objects[path] = lambda: blob
        url, expires = self._presign(path)
        return {
            "csvFileLink": url,
            "expiresAt": _iso8601(expires),
            "sessionArn": f"{self._qapps_arn_prefix(instance_id)}/qapp/{session.app_id}/session/{session_id}",
        }

    def _get_qapp(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id, app_id, version = params.get("instanceId"), params.get("appId"), params.get("appVersion")
        if not instance_id:
            raise _ApiError("ValidationException", 400, "The instance-id header is required.")
        if not isinstance(app_id, str) or not _UUID_RE.match(app_id):
            raise _ApiError("ValidationException", 400, f"Invalid appId: {app_id!r}.")
        if version is not None and not isinstance(version, int):
            raise _ApiError("ValidationException", 400, f"Invalid appVersion: {version!r}.")
        return copy.deepcopy(self._stored_app(instance_id, app_id, version))

    def _stored_app(self, instance_id: str, app_id: str, version: int | None = None) -> dict[str, Any]:
        """The stored app (not a copy) at ``version``, or its latest; ResourceNotFoundException if there is none."""
        with self._lock:
            versions = self._qapps.get((instance_id, app_id), {})
            app = versions.get(version if version is not None else max(versions, default=-1))
        if app is None:
            raise _ApiError(
                "ResourceNotFoundException",
                404,
                f"QApp {app_id} was not found.",
                resourceId=app_id,
                resourceType="QApp",
            )
        return app

    # -- downloads -----------------------------------------------------------------------------

    def _presign(self, path: str) -> tuple[str, int]:
        """Return a presigned-looking link to ``path`` and its expiry (epoch seconds)."""
        issued = int(self.clock.now())  # X-Amz-Date has second resolution
        stamp = datetime.fromtimestamp(issued, UTC)
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"ASIAEMULATOREXAMPLE0/{stamp:%Y%m%d}/{self.region}/s3/aws4_request",
            "X-Amz-Date": f"{stamp:%Y%m%dT%H%M%SZ}",
            "X-Amz-Expires": str(self.link_ttl_seconds),
            "X-Amz-SignedHeaders": "host",
            # A fresh token per link makes every issued URL distinct, as the real service's are.
            "X-Amz-Security-Token": secrets.token_urlsafe(24),
        }
        params["X-Amz-Signature"] = self._signature("GET", path, params)
        return (
            f"{self.endpoint_url}{quote(path)}?{urlencode(params, quote_via=quote)}",
            issued + self.link_ttl_seconds,
        )

    def _signature(self, method: str, path: str, params: Mapping[str, str]) -> str:
        canonical_query = "&".join(
            f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()) if k != "X-Amz-Signature"
        )
        message = f"{method}\n{path}\n{canonical_query}".encode()
        return hmac.new(self._link_secret, message, hashlib.sha256).hexdigest()

    def _handle_download(self, request: _Request) -> _Response:
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
        response = self._download_response(request, record)
        if response.stream is not None:
            response.download = record  # count object bytes only, not error documents
        with self._lock:
            record["status"] = response.status
            record["content_length"] = len(response.body) if response.stream is None else response.stream_length
        return response

    def _download_response(self, request: _Request, record: dict[str, Any]) -> _Response:
        now = self.clock.now()
        with self._lock:
            expire = self._expire_faults > 0
            self._expire_faults -= int(expire)
            fail_status = self._fail_faults.popleft() if not expire and self._fail_faults else None
        if fail_status is not None:
            code, message = _S3_ERROR_CODES.get(fail_status, ("InternalError", "Injected failure"))
            return _s3_error(fail_status, code, message)
        query = request.query
        expected = self._signature(request.method, request.path, query)
        if not expire and not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            message = "The request signature we calculated does not match the signature you provided."
            return _s3_error(403, "SignatureDoesNotMatch", message)
        try:
            issued = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            expires_at = issued + int(query["X-Amz-Expires"])
        except (KeyError, ValueError):
            expires_at = now  # tampered links fail the signature check first; injected expiry lands here
        if expire or now > expires_at:
            extra = {
                "X-Amz-Expires": query.get("X-Amz-Expires", ""),
                "Expires": _iso8601(expires_at),
                "ServerTime": _iso8601(now),
            }
            return _s3_error(403, "AccessDenied", "Request has expired", extra)
        with self._lock:
            factory = self._objects.get(request.path)
        if factory is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.", {"Key": request.path})
        blob = factory()
        with self._lock:
            record["kind"] = "quicksight-bundle" if request.path.endswith(".qs") else "qapps-session-csv"
        return self._serve_blob(request, blob)

    def _serve_blob(self, request: _Request, blob: _Blob) -> _Response:
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() not in ("*", f'"{blob.etag}"', blob.etag):
            return _s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        try:
            span = _parse_range(request.headers.get("range"), blob.size)
        except _RangeNotSatisfiable:
            response = _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
            response.headers["Content-Range"] = f"bytes */{blob.size}"
            return response
        start, stop = span or (0, blob.size)
        headers = {
            "Content-Type": blob.content_type,
            "Accept-Ranges": "bytes",
            "ETag": f'"{blob.etag}"',
            "Last-Modified": _http_date(blob.last_modified),
            "x-amz-request-id": secrets.token_hex(8).upper(),
        }
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{blob.size}"
        with self._lock:
            truncate = self._truncate_faults.popleft() if self._truncate_faults else None
            stall = self._stall_faults.popleft() if self._stall_faults else None
        return _Response(
            206 if span is not None else 200,
            headers,
            stream=blob.iter_range(start, stop),
            stream_length=stop - start,
            truncate_after=truncate if stall is None else stall.after_bytes,
            stall=stall,
        )

    def _count_sent(self, record: dict[str, Any], count: int) -> None:
        with self._lock:
            record["bytes_sent"] += count

    # -- restores: QuickSight imports, Q Apps uploads --------------------------------------------

    def reject_next_uploads(self, times: int = 1, *, status: int = 503) -> None:
        """Answer the next ``times`` Q Apps file uploads with an S3-style error of ``status``, storing nothing."""
        with self._lock:
            self._upload_faults.extend([status] * times)

    def fail_next_imports(self, times: int = 1, *, message: str = "Injected by the service emulator") -> None:
        """Make the next ``times`` import jobs end failed (rolled back if asked), with ``message`` as their error."""
        with self._lock:
            self._import_faults.extend([message] * times)

    def uploaded_files(self) -> list[dict[str, Any]]:
        """Return one record per Q Apps file stored by an upload, oldest first.

        Returns
        -------
        list of dict
            Each with ``fileId``, ``instanceId``, ``appId``, ``cardId``, ``scope``, ``sessionId``,
            ``fileName``, ``bytes`` (the exact content), ``sha256`` (Base64, as checked) and ``time``.
        """
        with self._lock:
            return [dict(record) for record in self._uploads]

    def import_jobs(self) -> dict[str, dict[str, Any]]:
        """Return import job id -> what the job imported, status as of now.

        Each with ``status``, ``source`` (``"inline"`` or ``"s3Uri"``), ``s3_uri``, ``bundle_sha256``
        (hex), ``resources`` (as in the bundle, e.g. ``dashboard/sales``), ``restored_ids`` (with the
        prefix applied), ``prefix``, ``failure_action``, ``override_parameters`` and ``errors``.
        """
        now = self.clock.now()
        with self._lock:
            jobs = sorted(self._import_jobs.values(), key=lambda j: j.created_at)
        return {job.job_id: {**job.summary(), "status": job.status_at(now)} for job in jobs}

    @property
    def _upload_path(self) -> str:
        return f"/qapps-uploads-{self.region}/"

    def _dispatch_restore(self, operation: str, params: dict[str, Any], request_id: str) -> tuple[dict[str, Any], int]:
        if operation == "StartAssetBundleImportJob":
            return self._start_import(params, request_id), 202
        if operation == "DescribeAssetBundleImportJob":
            return self._describe_import(params, request_id), 200
        return self._create_presigned_url(params), 200

    def _read_bundle(self, source: Mapping[str, Any]) -> tuple[bytes, str | None]:
        if "Body" in source:
            return base64.b64decode(source["Body"]), None
        uri = source.get("S3Uri")
        match = re.match(r"^s3://([^/]+)/(.+)$", uri or "")
        if match is None:
            raise _invalid("AssetBundleImportSource must hold a Body or an s3://bucket/key S3Uri.")
        import boto3  # moto's S3, when the caller runs under mock_aws

        s3 = boto3.client("s3", region_name=self.region)
        try:
            return s3.get_object(Bucket=match[1], Key=match[2])["Body"].read(), uri
        except s3.exceptions.ClientError as error:
            code = error.response["Error"]["Code"]
            raise _ApiError("AccessDeniedException", 401, f"QuickSight could not read {uri}: {code}") from None

    def _start_import(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params.get("AwsAccountId", ""), params.get("AssetBundleImportJobId", "")
        if not _ACCOUNT_ID_RE.match(account_id) or not _JOB_ID_RE.match(job_id):
            raise _invalid("AwsAccountId and AssetBundleImportJobId must match the model's patterns.")
        if params.get("FailureAction", "DO_NOTHING") not in ("DO_NOTHING", "ROLLBACK"):
            raise _invalid("FailureAction must be DO_NOTHING or ROLLBACK.")
        now = self.clock.now()
        with self._lock:
            previous = self._import_jobs.get((account_id, job_id))
        if previous is not None and previous.status_at(now) in (QUEUED, IN_PROGRESS):
            raise _ApiError("ConflictException", 409, f"Import job {job_id} is still running.")
        body, uri = self._read_bundle(params.get("AssetBundleImportSource") or {})
        overrides = params.get("OverrideParameters") or {}
        job = _ImportJob(
            account_id=account_id,
            job_id=job_id,
            arn=f"arn:aws:quicksight:{self.region}:{account_id}:asset-bundle-import-job/{job_id}",
            created_at=now,
            duration=self.import_duration_seconds,
            s3_uri=uri,
            bundle_sha256=hashlib.sha256(body).hexdigest(),
            failure_action=params.get("FailureAction", "DO_NOTHING"),
            override_parameters=copy.deepcopy(overrides),
            prefix=overrides.get("ResourceIdOverrideConfiguration", {}).get("PrefixForAllResources", ""),
        )
        job.read_bundle(body)
        with self._lock:
            if self._import_faults:
                fault = self._import_faults.popleft()
                job.errors.append({"Arn": job.arn, "Type": "InvalidParameterValueException", "Message": fault})
            self._import_jobs[(account_id, job_id)] = job
        return {"Arn": job.arn, "AssetBundleImportJobId": job_id, "RequestId": request_id, "Status": 202}

    def _describe_import(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleImportJobId"]
        with self._lock:
            job = self._import_jobs.get((account_id, job_id))
        if job is None:
            raise _ApiError("ResourceNotFoundException", 404, f"Import job {job_id} was not found.")
        status = job.status_at(self.clock.now())
        described: dict[str, Any] = {
            "JobStatus": status,
            "Arn": job.arn,
            "CreatedTime": job.created_at,
            "AssetBundleImportJobId": job_id,
            "AwsAccountId": account_id,
            "AssetBundleImportSource": {"S3Uri": job.s3_uri} if job.s3_uri else {},
            "FailureAction": job.failure_action,
            "OverrideParameters": copy.deepcopy(job.override_parameters),
            "RequestId": request_id,
            "Status": 200,
        }
        if status.startswith(FAILED):
            described["Errors"] = copy.deepcopy(job.errors)
        return described

    def _create_presigned_url(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id = params.get("instanceId")
        if not instance_id:
            raise _ApiError("ValidationException", 400, "The instance-id header is required.")
        for name in ("appId", "cardId", *(("sessionId",) if "sessionId" in params else ())):
            if not isinstance(params.get(name), str) or not _UUID_RE.match(params[name]):
                raise _ApiError("ValidationException", 400, f"Invalid {name}: {params.get(name)!r}.")
        checksum, file_name, scope = params.get("fileContentsSha256"), params.get("fileName"), params.get("scope")
        if not isinstance(checksum, str) or not _SHA256_B64_RE.match(checksum):
            raise _ApiError("ValidationException", 400, "fileContentsSha256 must be a Base64 SHA-256 digest.")
        if not isinstance(file_name, str) or len(file_name) > 100:
            raise _ApiError("ValidationException", 400, "fileName must be at most 100 characters.")
        if scope not in ("APPLICATION", "SESSION") or (scope == "SESSION") != ("sessionId" in params):
            raise _ApiError("ValidationException", 400, "scope must be APPLICATION, or SESSION with a sessionId.")
        card = self._file_card(instance_id, params["appId"], params["cardId"])
        if scope == "SESSION":
            with self._lock:
                known = (instance_id, params["sessionId"]) in self._sessions
            if not known:
                raise _ApiError(
                    "ResourceNotFoundException",
                    404,
                    f"QAppSession {params['sessionId']} was not found.",
                    resourceId=params["sessionId"],
                    resourceType="QAppSession",
                )
        file_id = str(uuid.uuid4())
        key = f"{instance_id}/{params['appId']}/{card['id']}/{scope.lower()}/{file_id}/{file_name}"
        fields, expires = self._upload_form(key, checksum)
        with self._lock:
            self._upload_forms[key] = {
                "fileId": file_id,
                "instanceId": instance_id,
                "appId": params["appId"],
                "cardId": card["id"],
                "scope": scope,
                "sessionId": params.get("sessionId"),
                "fileName": file_name,
            }
        return {
            "fileId": file_id,
            "presignedUrl": f"{self.endpoint_url}{self._upload_path}",
            "presignedUrlFields": fields,
            "presignedUrlExpiration": _iso8601(expires),
        }

    def _file_card(self, instance_id: str, app_id: str, card_id: str) -> dict[str, Any]:
        app = self._stored_app(instance_id, app_id)
        for card in app["appDefinition"]["cards"]:
            kind, body = next(iter(card.items()))
            if body.get("id") == card_id:
                if kind != "fileUpload":
                    raise _ApiError("ValidationException", 400, f"Card {card_id} is not a file upload card.")
                return dict(body)
        raise _ApiError("ValidationException", 400, f"Card {card_id} was not found in QApp {app_id}.")

    def _upload_form(self, key: str, checksum: str) -> tuple[dict[str, str], int]:
        """The fields of an S3 POST form for ``key``, signed like S3's: the policy binds key, checksum, expiry."""
        issued = int(self.clock.now())
        expires = issued + self.link_ttl_seconds
        stamp = datetime.fromtimestamp(issued, UTC)
        fields = {
            "key": key,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": f"ASIAEMULATOREXAMPLE0/{stamp:%Y%m%d}/{self.region}/s3/aws4_request",
            "x-amz-date": f"{stamp:%Y%m%dT%H%M%SZ}",
            "x-amz-security-token": secrets.token_urlsafe(24),
            "x-amz-checksum-sha256": checksum,
        }
        policy = {
            "expiration": _iso8601(expires),
            "conditions": [
                {"bucket": f"qapps-uploads-{self.region}"},
                *({name: value} for name, value in fields.items()),
                ["content-length-range", 0, self.qapps_max_file_bytes],
            ],
        }
        fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
        fields["x-amz-signature"] = hmac.new(self._link_secret, fields["policy"].encode(), hashlib.sha256).hexdigest()
        return fields, expires

    def _handle_upload(self, request: _Request) -> _Response:
        with self._lock:
            fault = self._upload_faults.popleft() if self._upload_faults else None
        if fault is not None:
            code, message = _S3_ERROR_CODES.get(fault, ("InternalError", "Injected failure"))
            return _s3_error(fault, code, message)
        try:
            fields, content = _parse_form(request)
        except ValueError as error:
            return _s3_error(400, "MalformedPOSTRequest", str(error))
        policy_text = fields.get("policy", "")
        signature = hmac.new(self._link_secret, policy_text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, fields.get("x-amz-signature", "")):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        policy = json.loads(base64.b64decode(policy_text))
        expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        if self.clock.now() > expires:
            return _s3_error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        for condition in policy["conditions"]:
            if isinstance(condition, list):
                _, smallest, largest = condition
                if not smallest <= len(content) <= largest:
                    code = "EntityTooLarge" if len(content) > largest else "EntityTooSmall"
                    return _s3_error(400, code, "Your proposed upload is outside the allowed size.")
                continue
            ((name, value),) = condition.items()
            if name != "bucket" and fields.get(name) != value:
                return _s3_error(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {name}")
        computed = base64.b64encode(hashlib.sha256(content).digest()).decode()
        if computed != fields["x-amz-checksum-sha256"]:
            return _s3_error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
        with self._lock:
            form = self._upload_forms.pop(fields["key"], None)
            if form is None:
                return _s3_error(403, "AccessDenied", "This upload form was used already.")
            self._uploads.append({**form, "bytes": content, "sha256": computed, "time": self.clock.now()})
        return _Response(204, {"x-amz-request-id": secrets.token_hex(8).upper(), "ETag": f'"{computed}"'})


# --------------------------------------------------------------------------------------------
# Helpers: routing, parsing, validation, bundles
# --------------------------------------------------------------------------------------------

# QuickSight's asset-bundle jobs, exports and imports alike: POST .../asset-bundle-{kind}-jobs/{kind} starts
# one (its id in the body), GET .../asset-bundle-{kind}-jobs/{job id} describes one.
_JOB_PATH = re.compile(r"^/accounts/(?P<account>[^/]+)/asset-bundle-(?P<kind>export|import)-jobs/(?P<job>[^/]+)$")


class _JobOperations(NamedTuple):
    start: str
    describe: str
    job_id: str  # the parameter that names the job


_JOB_OPERATIONS = {
    "export": _JobOperations("StartAssetBundleExportJob", "DescribeAssetBundleExportJob", "AssetBundleExportJobId"),
    "import": _JobOperations("StartAssetBundleImportJob", "DescribeAssetBundleImportJob", "AssetBundleImportJobId"),
}


def _route(request: _Request) -> str | None:
    job = _JOB_PATH.match(request.path)
    if job is not None:
        operations = _JOB_OPERATIONS[job["kind"]]
        if request.method == "POST" and job["job"] == job["kind"]:
            return operations.start
        if request.method == "GET":
            return operations.describe
    if request.method == "POST" and request.path == "/runtime.exportQAppSessionData":
        return "ExportQAppSessionData"
    if request.method == "GET" and request.path == "/apps.get":
        return "GetQApp"
    if request.method == "POST" and request.path == "/apps.createPresignedUrl":
        return "CreatePresignedUrl"
    return None


def _parse_params(operation: str, request: _Request) -> dict[str, Any]:
    """Return the operation's input as botocore names it, from path, query, headers and body."""
    try:
        body = json.loads(request.body) if request.body else {}
    except ValueError:
        body = {}
    params: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
    job = _JOB_PATH.match(request.path)
    if job is not None:
        params["AwsAccountId"] = job["account"]
        operations = _JOB_OPERATIONS[job["kind"]]
        if operation == operations.describe:
            params[operations.job_id] = job["job"]
        return params
    if "instance-id" in request.headers:
        params["instanceId"] = request.headers["instance-id"]
    if operation == "GetQApp":
        for name in ("appId", "appVersion"):
            if name in request.query:
                params[name] = request.query[name]
        version = params.get("appVersion")
        if isinstance(version, str) and version.isdigit():
            params["appVersion"] = int(version)
    return params


def _signing_identity(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    match = re.search(r"Credential=([^/,\s]+)/", headers.get("authorization", ""))
    return (match[1] if match else None), headers.get("x-amz-security-token")


def _invalid(message: str) -> _ApiError:
    return _ApiError("InvalidParameterValueException", 400, message)


def _validate_start(params: Mapping[str, Any]) -> None:
    """Check a StartAssetBundleExportJob input against the model's constraints, like the service."""
    account_id = params.get("AwsAccountId", "")
    if not _ACCOUNT_ID_RE.match(account_id):
        raise _invalid(f"Value '{account_id}' at 'awsAccountId' failed to satisfy constraint: ^[0-9]{{12}}$")
    job_id = params.get("AssetBundleExportJobId")
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= 512 or not _JOB_ID_RE.match(job_id):
        raise _invalid(
            f"Value '{job_id}' at 'assetBundleExportJobId' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [\w\-]+ and have length between 1 and 512"
        )
    arns = params.get("ResourceArns")
    if not isinstance(arns, list) or not 1 <= len(arns) <= 100:
        count = len(arns) if isinstance(arns, list) else 0
        raise _invalid(f"ResourceArns must contain between 1 and 100 ARNs; got {count}.")
    for arn in arns:
        if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") < 5:
            raise _invalid(f"Invalid resource ARN: {arn!r}.")
    if params.get("ExportFormat") not in _EXPORT_FORMATS:
        raise _invalid(f"ExportFormat must be one of {', '.join(_EXPORT_FORMATS)}.")
    strategy = params.get("ValidationStrategy", {})
    if not isinstance(strategy, dict):
        raise _invalid("ValidationStrategy must be an object.")


class _RangeNotSatisfiable(Exception):
    pass


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return ``(start, stop)`` for a single-range header, or None to serve the whole object.

    Like S3, a malformed or multi-range header is ignored (the whole object is served) and a
    range starting at or beyond the end is not satisfiable.
    """
    match = _RANGE_RE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _RangeNotSatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _RangeNotSatisfiable
    return start, (min(int(last) + 1, size) if last else size)


def _s3_error(status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> _Response:
    request_id = secrets.token_hex(8).upper()
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (extra or {}).items())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(32)}</HostId></Error>"
    )
    return _Response(status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, xml.encode())


def file_upload_card_id(app_id: str) -> str:
    """The id of the file-upload card in an app registered with the default cards."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/file-upload"))


def text_input_card_id(app_id: str) -> str:
    """The id of the text-input card in an app registered with the default cards."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/text-input"))


def cards_with_file_upload(app_id: str) -> list[dict[str, Any]]:
    """The default cards plus a file-upload card (id :func:`file_upload_card_id`) that takes a reference document."""
    file_upload = {
        "id": file_upload_card_id(app_id),
        "title": "Reference document",
        "dependencies": [],
        "type": "file-upload",
        "allowOverride": True,
    }
    return [*_default_cards(app_id), {"fileUpload": file_upload}]


def _default_cards(app_id: str) -> list[dict[str, Any]]:
    # Card ids must be UUIDs; derive them from the app so a definition is stable across runs.
    text_id = text_input_card_id(app_id)
    query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/q-query"))
    return [
        {"textInput": {"id": text_id, "title": "Topic", "dependencies": [], "type": "text-input"}},
        {
            "qQuery": {
                "id": query_id,
                "title": "Answer",
                "dependencies": [text_id],
                "type": "q-query",
                "prompt": f"Summarise what we know about @{text_id}",
                "outputSource": "approved-sources",
            }
        },
    ]


def _arn_parts(arn: str) -> tuple[str, str]:
    """Return the resource type and id of a QuickSight resource ARN."""
    match = _QS_ARN_RE.match(arn)
    if match is None:
        raise ValueError(f"not a QuickSight resource ARN: {arn!r}")
    return match["type"], match["id"]


def _resource_document(resource: _Resource, job: _ExportJob) -> dict[str, Any]:
    resource_type, resource_id = _arn_parts(resource.arn)
    document: dict[str, Any] = {
        "resourceType": resource_type,
        "resourceId": resource_id,
        "arn": resource.arn,
        "name": resource.name,
        "exportFormat": job.params["ExportFormat"],
        "dependencies": list(resource.dependencies),
    }
    if job.params.get("IncludePermissions"):
        principal = f"arn:aws:quicksight:{job.arn.split(':')[3]}:{job.account_id}:user/default/emulator-admin"
        document["permissions"] = [{"Principal": principal, "Actions": ["quicksight:DescribeDashboard"]}]
    if job.params.get("IncludeTags"):
        document["tags"] = [{"Key": "source", "Value": "service-emulator"}]
    return document


def _build_bundle(job: _ExportJob) -> _Blob:
    """Build a job's ``assetbundle-{jobId}.qs``: one JSON file per exported resource, plus padding."""
    members = []
    for resource in job.exported:
        resource_type, resource_id = _arn_parts(resource.arn)
        data = json.dumps(_resource_document(resource, job), indent=2, sort_keys=True).encode()
        members.append(_ZipMember.deflated(f"{resource_type}/{resource_id}.json", data))
    if job.padding_bytes:
        padding = _PaddingSource(seed=f"{job.job_id}:{job.serial}", length=job.padding_bytes)
        members.append(_ZipMember.stored_padding("emulator-padding.bin", padding))
    etag = hashlib.md5(f"{job.arn}:{job.serial}".encode(), usedforsecurity=False).hexdigest()
    return _zip_blob(members, modified=job.created_at, etag=etag)


# --------------------------------------------------------------------------------------------
# Restores: import jobs, upload forms
# --------------------------------------------------------------------------------------------

_RESTORE_OPERATIONS = ("StartAssetBundleImportJob", "DescribeAssetBundleImportJob", "CreatePresignedUrl")
_SHA256_B64_RE = re.compile(r"^(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{42}==|[A-Za-z0-9+/]{44})$")
#: The largest file the emulator's upload policy accepts (the real limit is not in the API reference).
_QAPPS_MAX_FILE_BYTES = 50 * 1024 * 1024
_BUNDLE_MEMBER = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>[^/]+)\.json$")


@dataclass
class _ImportJob:
    account_id: str
    job_id: str
    arn: str
    created_at: float
    duration: float
    s3_uri: str | None
    bundle_sha256: str
    failure_action: str
    override_parameters: dict[str, Any]
    prefix: str
    resources: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def read_bundle(self, body: bytes) -> None:
        """List the bundle's resources, as QuickSight does before it imports them."""
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(body)) as bundle:
                names = bundle.namelist()
        except zipfile.BadZipFile:
            self.errors.append({"Arn": self.arn, "Type": "InvalidParameterValueException", "Message": "Not a bundle."})
            return
        self.resources = [f"{m['type']}/{m['id']}" for name in names if (m := _BUNDLE_MEMBER.match(name))]
        if not self.resources:
            self.errors.append({"Arn": self.arn, "Type": "InvalidParameterValueException", "Message": "Empty bundle."})

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        if elapsed >= self.duration:
            if not self.errors:
                return SUCCESSFUL
            return "FAILED_ROLLBACK_COMPLETED" if self.failure_action == "ROLLBACK" else FAILED
        return QUEUED if elapsed < min(1.0, self.duration / 2) else IN_PROGRESS

    def summary(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "source": "s3Uri" if self.s3_uri else "inline",
            "s3_uri": self.s3_uri,
            "bundle_sha256": self.bundle_sha256,
            "resources": list(self.resources),
            "restored_ids": [f"{r.split('/', 1)[0]}/{self.prefix}{r.split('/', 1)[1]}" for r in self.resources],
            "prefix": self.prefix,
            "failure_action": self.failure_action,
            "override_parameters": copy.deepcopy(self.override_parameters),
            "errors": copy.deepcopy(self.errors),
        }


def _parse_form(request: _Request) -> tuple[dict[str, str], bytes]:
    """The text fields and the file of a ``multipart/form-data`` S3 POST (the file must come last)."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", request.headers.get("content-type", ""))
    if not request.headers.get("content-type", "").startswith("multipart/form-data") or match is None:
        raise ValueError("The body of your POST request is not well-formed multipart/form-data.")
    delimiter = b"--" + match[1].encode()
    body = request.body
    if not body.startswith(delimiter) or not body.rstrip(b"\r\n").endswith(delimiter + b"--"):
        raise ValueError("The body of your POST request is not well-formed multipart/form-data.")
    fields: dict[str, str] = {}
    # Each part is "\r\n<headers>\r\n\r\n<content>", and the CRLF before a delimiter belongs to it.
    for part in body[len(delimiter) : body.rindex(b"\r\n" + delimiter + b"--")].split(b"\r\n" + delimiter):
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name is None:
            raise ValueError("A form part has no name.")
        if name[1] == b"file":
            return fields, content
        fields[name[1].decode()] = content.decode()
    raise ValueError("Bucket POST must contain a field named 'file'.")


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so ``stop()`` leaks nothing."""

    daemon_threads = True  # a wedged handler must never keep the test process alive

    def __init__(self, emulator: ServiceEmulator) -> None:
        self.emulator = emulator
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall for seconds offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="emulator-handler",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        with self._open_lock:
            threads = list(self._open.values())
        for thread in threads:
            thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    timeout = 30  # idle keep-alive connections end on their own
    server: _Server

    def version_string(self) -> str:
        return "ServiceEmulator"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the virtual clock, as a real server's follows real time.
        return _http_date(self.server.emulator.clock.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        emulator = self.server.emulator
        try:
            response = emulator._handle(self._read_request())
        except Exception:
            _LOG.exception("emulator failure on %s %s", self.command, self.path)
            response = _json_response(500, {"message": "Emulator failure"}, str(uuid.uuid4()))
            response.headers["x-amzn-ErrorType"] = "InternalFailure"
        self._write(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def _read_request(self) -> _Request:
        parts = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return _Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _go_silent(self) -> None:
        """Hold the connection open, sending nothing, until the client or the emulator gives up."""
        self.server.emulator._stalls_released.wait(_MAX_STALL_SECONDS)
        self.close_connection = True

    def _write(self, response: _Response) -> None:
        if response.stall is not None and response.stall.before_headers:
            self._go_silent()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        length = len(response.body) if response.stream is None else response.stream_length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunks: Iterator[bytes] = iter([response.body]) if response.stream is None else response.stream
        budget = response.truncate_after
        try:
            for chunk in chunks:
                if budget is not None:
                    chunk, budget = chunk[:budget], budget - len(chunk[:budget])
                if chunk:
                    self._send_chunk(response, chunk)
                if budget == 0:
                    # Announced the full length but end the connection early, as a dropped
                    # transfer would: the client sees fewer bytes than Content-Length.
                    if response.stall is not None:
                        self._go_silent()
                    self.close_connection = True
                    return
        except OSError:
            self.close_connection = True  # the client went away mid-transfer

    def _send_chunk(self, response: _Response, chunk: bytes) -> None:
        record = response.download
        # Count before writing: a client that has read everything may look at the records
        # before this thread gets to run again.
        if record is not None:
            self.server.emulator._count_sent(record, len(chunk))
        try:
            self.wfile.write(chunk)
        except OSError:
            if record is not None:
                self.server.emulator._count_sent(record, -len(chunk))
            raise
