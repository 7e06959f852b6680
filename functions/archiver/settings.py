"""The functions' configuration, read from the environment once and validated.

Every step function gets the same environment (set by one CDK construct), so a single
settings model serves them all. Nothing here runs at import time: ``get_settings()`` reads
the environment on first use and caches the result for the life of the execution
environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from archiver.errors import ConfigurationError

MIB = 1024 * 1024

# Deployed default: presigned links from QuickSight and Q Apps point at AWS's own domains.
DEFAULT_DOWNLOAD_ALLOWLIST = "https://*.amazonaws.com,https://*.amazonaws.com.cn"


@dataclass(frozen=True)
class Settings:
    archive_bucket: str
    default_account_id: str
    download_allowlist: str
    part_size_bytes: int
    max_parts_in_flight: int
    max_link_refreshes: int
    connect_timeout_seconds: float
    read_timeout_seconds: float
    poll_initial_seconds: int
    poll_max_seconds: int
    export_deadline_seconds: int


def _int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set: the function cannot run without it")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the environment (once per execution environment)."""
    return Settings(
        archive_bucket=_required("ARCHIVE_BUCKET"),
        default_account_id=os.environ.get("DEFAULT_AWS_ACCOUNT_ID", "").strip(),
        download_allowlist=os.environ.get("DOWNLOAD_ALLOWLIST", DEFAULT_DOWNLOAD_ALLOWLIST),
        # S3 parts must be 5 MiB to 5 GiB; memory is bounded by part size x parts in flight.
        part_size_bytes=_int("TRANSFER_PART_SIZE_MIB", 8, minimum=5, maximum=512) * MIB,
        max_parts_in_flight=_int("TRANSFER_MAX_PARTS_IN_FLIGHT", 2, minimum=1, maximum=16),
        max_link_refreshes=_int("TRANSFER_MAX_LINK_REFRESHES", 3, minimum=0, maximum=10),
        connect_timeout_seconds=float(_int("TRANSFER_CONNECT_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)),
        read_timeout_seconds=float(_int("TRANSFER_READ_TIMEOUT_SECONDS", 60, minimum=1, maximum=900)),
        poll_initial_seconds=_int("EXPORT_POLL_INITIAL_SECONDS", 5, minimum=1, maximum=3600),
        poll_max_seconds=_int("EXPORT_POLL_MAX_SECONDS", 60, minimum=1, maximum=3600),
        export_deadline_seconds=_int("EXPORT_DEADLINE_SECONDS", 7200, minimum=60, maximum=86400),
    )
