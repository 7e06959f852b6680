"""Reading a download: open a presigned link, then read its body as parts, hashing every byte once.

Memory is what bounds a copy, so a body is read in parts of exactly the part size, each asked for in
one read straight from the socket, and nothing else of it is kept. Every byte goes through SHA-256 as
it is read (the manifest's ``sha256``), and a body whose length differs from its ``Content-Length``
fails before its last part reaches S3.
"""

from __future__ import annotations

import hashlib

import urllib3

from archiver.core.connections import NETWORK_ERRORS
from archiver.core.errors import DownloadFailedError
from archiver.core.links import origin

MIB = 1024 * 1024

# The look-ahead read after each part (telling a last part when the length is unknown).
READ_SIZE = 1 * MIB


class LinkRefused(Exception):
    """The download host answered 403: a presigned link that expired (or was denied)."""


def open_download(link: str, pool: urllib3.PoolManager, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
    """GET ``link``: the response, body unread; a 403 raises ``LinkRefused`` (only the caller can get a new link)."""
    try:
        response = pool.request(
            "GET",
            link,
            # The archive keeps the bytes exactly as served, never a decompressed copy.
            headers={"Accept-Encoding": "identity"},
            timeout=timeout,
            # No retries (the state machine owns them) and no redirects: a redirect could lead
            # to a host the policy never saw, and a presigned S3 link has no business redirecting.
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
    except NETWORK_ERRORS as error:
        # urllib3's messages may quote the link, query included: name only the error's class.
        raise DownloadFailedError(f"Could not download from {origin(link)}: {type(error).__name__}") from None
    if response.status == 200:
        return response
    # An error body is of no use, and reading it could take long: drop the connection.
    response.close()
    response.release_conn()
    if response.status == 403:
        raise LinkRefused()
    raise DownloadFailedError(f"The download from {origin(link)} answered HTTP {response.status}")


def content_length(response: urllib3.BaseHTTPResponse, link: str) -> int | None:
    """The body's announced length, if the host announced one; a malformed one fails the download."""
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise DownloadFailedError(f"The download from {origin(link)} sent an invalid Content-Length")
    return int(raw)


class PartReader:
    """Reads a response body as parts of exactly ``part_size`` bytes (the last may be shorter).

    It hashes the whole body with SHA-256 as it goes, each read while it is fresh in the cache,
    and refuses a body whose length differs from its ``Content-Length``, so a short download
    fails before its last part reaches S3.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, link: str, *, part_size: int, expected_size: int | None
    ) -> None:
        self.whole = hashlib.sha256()
        self.part_size = part_size
        self._response = response
        self._origin = origin(link)
        self._expected_size = expected_size
        self._size = 0
        self._ended = False
        self._lookahead = b""
        self._first_part: bytes | None = None

    @property
    def finished(self) -> bool:
        """Whether the body is exhausted (its last part has been read)."""
        return self._ended and not self._lookahead

    @property
    def size(self) -> int:
        """Bytes read so far (the whole body's size once it is exhausted)."""
        return self._size

    def read_first_part(self) -> None:
        """Read the first part and keep it (``finished`` then tells whether it is the whole body)."""
        self._first_part = self.read_part()

    def take_first_part(self) -> bytes:
        """Hand the first part over, keeping no reference to it (an uploaded part is freed at once)."""
        part, self._first_part = self._first_part, None
        if part is None:
            raise RuntimeError("the first part was not read, or was taken already")
        return part

    def read_part(self) -> bytes:
        """Read and return the next part (empty only for an empty body)."""
        chunks = [self._lookahead] if self._lookahead else []
        filled = len(self._lookahead)
        self._lookahead = b""
        # A part is asked for in one read: urllib3 and http.client fill it straight from the
        # socket, and a single chunk needs no join (b"".join returns it as is).
        wanted = self.part_size
        if self._expected_size is not None:
            wanted = min(wanted, self._expected_size - self._size + filled)
        while filled < wanted and not self._ended:
            chunk = self._read(wanted - filled)
            chunks.append(chunk)
            filled += len(chunk)
        if not self._ended and (self._expected_size is None or self._size >= self._expected_size):
            # One read of look-ahead tells whether this was the last part: for a body of unknown
            # length, or to find the end (an empty read) of one read to its length.
            self._lookahead = self._read(READ_SIZE)
        return b"".join(chunks)

    def _read(self, size: int) -> bytes:
        try:
            chunk = self._response.read(size, decode_content=False)
        except NETWORK_ERRORS as error:
            raise DownloadFailedError(
                f"The download from {self._origin} broke off after {self._size} bytes: {type(error).__name__}"
            ) from None
        self._size += len(chunk)
        self.whole.update(chunk)
        if not chunk:
            self._ended = True
            self._check_complete()
        elif self._expected_size is not None and self._size > self._expected_size:
            raise DownloadFailedError(f"The download from {self._origin} is longer than its Content-Length")
        return chunk

    def _check_complete(self) -> None:
        if self._expected_size is not None and self._size != self._expected_size:
            raise DownloadFailedError(
                f"The download from {self._origin} was truncated: {self._size} of {self._expected_size} bytes received"
            )
