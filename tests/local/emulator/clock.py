"""Virtual time: export jobs progress and links expire only when a test moves the clock, so no test sleeps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import formatdate

#: Where every :class:`VirtualClock` starts unless told otherwise (2026-11-22T03:00:00Z).
DEFAULT_EPOCH: float = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC).timestamp()


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


def iso8601(epoch: float) -> str:
    """The services' timestamp format, to the millisecond: ``2026-11-22T03:00:00.000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso8601(text: str) -> float:
    """The epoch seconds of an :func:`iso8601` timestamp."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def http_date(epoch: float) -> str:
    """An HTTP ``Date``/``Last-Modified`` value."""
    return formatdate(epoch, usegmt=True)


def amz_date(epoch: float) -> str:
    """SigV4's ``X-Amz-Date`` (second resolution): ``20261122T030000Z``."""
    return f"{datetime.fromtimestamp(epoch, UTC):%Y%m%dT%H%M%SZ}"


def parse_amz_date(text: str) -> float:
    """The epoch seconds of an :func:`amz_date` value; ValueError if it is not one."""
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
