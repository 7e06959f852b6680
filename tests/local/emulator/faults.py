"""Fault injection: what the next calls, downloads, uploads and imports should suffer, taken in order."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from tests.local.emulator.wire import ApiError, Stall

T = TypeVar("T")


@dataclass
class _ApiFault:
    error: ApiError
    remaining: int


@dataclass
class DownloadFault:
    """What the next download suffers; at most one of ``expire`` and ``fail_status`` is set."""

    expire: bool = False
    fail_status: int | None = None


class Faults:
    """Queues of injected faults, each consumed by the part of the emulator that meets it.

    Parameters
    ----------
    operations
        The API operations an error may be injected into; any other name is a mistake in the test.
    """

    def __init__(self, operations: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._api: dict[str, deque[_ApiFault]] = {name: deque() for name in operations}
        self._expire_downloads = 0
        self._fail_downloads: deque[int] = deque()
        self._truncate_downloads: deque[int] = deque()
        self._stall_downloads: deque[Stall] = deque()
        self._reject_uploads: deque[int] = deque()
        self._fail_imports: deque[str] = deque()

    # -- queued by tests -----------------------------------------------------------------------

    def add_api_error(self, operation: str, error: ApiError, times: int) -> None:
        if operation not in self._api:
            raise ValueError(f"unknown operation {operation!r}; expected one of {sorted(self._api)}")
        with self._lock:
            self._api[operation].append(_ApiFault(error, times))

    def expire_downloads(self, times: int) -> None:
        with self._lock:
            self._expire_downloads += times

    def fail_downloads(self, times: int, status: int) -> None:
        self._repeat(self._fail_downloads, status, times)

    def truncate_downloads(self, times: int, after_bytes: int) -> None:
        self._repeat(self._truncate_downloads, after_bytes, times)

    def stall_downloads(self, times: int, stall: Stall) -> None:
        self._repeat(self._stall_downloads, stall, times)

    def reject_uploads(self, times: int, status: int) -> None:
        self._repeat(self._reject_uploads, status, times)

    def fail_imports(self, times: int, message: str) -> None:
        self._repeat(self._fail_imports, message, times)

    def _repeat(self, queue: deque[T], fault: T, times: int) -> None:
        with self._lock:
            queue.extend([fault] * times)

    # -- taken by the emulator -----------------------------------------------------------------

    def raise_api_error(self, operation: str) -> None:
        """Raise the error injected for this call of ``operation``, if any."""
        with self._lock:
            faults = self._api[operation]
            if not faults:
                return
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
        error = fault.error
        raise ApiError(
            error.code, error.status, error.message, retry_after_seconds=error.retry_after_seconds, **error.fields
        )

    def take_download_refusal(self) -> DownloadFault:
        """Whether this download is refused: an injected expiry comes before an injected failure."""
        with self._lock:
            if self._expire_downloads > 0:
                self._expire_downloads -= 1
                return DownloadFault(expire=True)
            return DownloadFault(fail_status=self._fail_downloads.popleft() if self._fail_downloads else None)

    def take_download_cut(self) -> tuple[int | None, Stall | None]:
        """How a served download is cut short: after how many bytes it is truncated, and whether it stalls."""
        with self._lock:
            truncate = self._truncate_downloads.popleft() if self._truncate_downloads else None
            stall = self._stall_downloads.popleft() if self._stall_downloads else None
        return truncate, stall

    def take_upload_rejection(self) -> int | None:
        with self._lock:
            return self._reject_uploads.popleft() if self._reject_uploads else None

    def take_import_failure(self) -> str | None:
        with self._lock:
            return self._fail_imports.popleft() if self._fail_imports else None
