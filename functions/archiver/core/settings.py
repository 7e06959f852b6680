"""The functions' configuration, read from the environment once and validated.

Every step function gets the same environment (set by one CDK construct), so a single
settings model serves them all. What the stack always sets (the bucket, the account, the download
allowlist, the export deadline, the plans prefix) has no default here: its one home is the deployment's
settings (cdk.json), and a missing one is a ConfigurationError naming it. Local runs take the template's environment
(``tests.local.engine.local_environment``). The transfer and polling knobs, which the stack leaves unset,
have their one default here. Nothing here runs at import time: ``get_settings()`` reads
the environment on first use and caches the result for the life of the execution
environment.

The Q Apps steps may get more: ``QAPPS_*`` settings saying how their Q Apps client gets its
credentials (``get_qapps_access()``, read when that client is built).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from archiver.core.errors import ConfigurationError

MIB = 1024 * 1024


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
    plans_prefix: str


def _int(name: str, default: int | None, *, minimum: int, maximum: int) -> int:
    """The whole number ``name`` holds; ``default`` when unset, or, without one, a ConfigurationError."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ConfigurationError(f"{name} is not set: the function cannot run without it")
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
        download_allowlist=_required("DOWNLOAD_ALLOWLIST"),
        # S3 parts must be 5 MiB to 5 GiB; a copy's memory is about part size x (parts in flight + 1).
        # 6 MiB x 4 (make bench): faster than boto3's upload_fileobj and than one PutObject, in under
        # half of upload_fileobj's memory; 4 parts keep the network busy while the next is read.
        part_size_bytes=_int("TRANSFER_PART_SIZE_MIB", 6, minimum=5, maximum=512) * MIB,
        max_parts_in_flight=_int("TRANSFER_MAX_PARTS_IN_FLIGHT", 4, minimum=1, maximum=16),
        max_link_refreshes=_int("TRANSFER_MAX_LINK_REFRESHES", 3, minimum=0, maximum=10),
        connect_timeout_seconds=float(_int("TRANSFER_CONNECT_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)),
        read_timeout_seconds=float(_int("TRANSFER_READ_TIMEOUT_SECONDS", 60, minimum=1, maximum=900)),
        poll_initial_seconds=_int("EXPORT_POLL_INITIAL_SECONDS", 5, minimum=1, maximum=3600),
        poll_max_seconds=_int("EXPORT_POLL_MAX_SECONDS", 60, minimum=1, maximum=3600),
        export_deadline_seconds=_int("EXPORT_DEADLINE_SECONDS", None, minimum=60, maximum=86400),
        # Where plans given by reference live in the archive bucket (cdk.json's plansPrefix).
        plans_prefix=_required("PLANS_PREFIX"),
    )


# -- Q Apps credentials ---------------------------------------------------------------------------------

QAPPS_CREDENTIALS = "QAPPS_CREDENTIALS"
ROLE_MODE = "role"
IDENTITY_CENTER_MODE = "identity-center"
QAPPS_CREDENTIALS_MODES = (ROLE_MODE, IDENTITY_CENTER_MODE)

# The formats of the settings below, shared with the CDK app's validation of the same values.
SECRET_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+")
APPLICATION_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sso::\d{12}:application/ssoins-[A-Za-z0-9.-]+/apl-[A-Za-z0-9.-]+")
ROLE_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9/_+=,.@-]+")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
APPLICATION_ARN_EXPECTED = "an Identity Center application ARN (arn:aws:sso::<account>:application/ssoins-…/apl-…)"


@dataclass(frozen=True)
class IdentityCenterAccess:
    """Where the Q Apps steps get the archive user's identity (``QAPPS_CREDENTIALS=identity-center``)."""

    secret_arn: str
    """The Secrets Manager secret holding the user's JWT, or how to fetch one (see ``archiver.core.identity``)."""
    application_arn: str
    """The Identity Center customer-managed application that trusts the token issuer (jwt-bearer grant)."""
    role_arn: str
    """The role assumed with the user's identity context; it holds the ``qapps:`` permissions."""
    region: str | None
    """Identity Center's region, when it is not the function's own."""


@dataclass(frozen=True)
class QAppsAccess:
    """How the Q Apps client gets its credentials: the function's role, or a user through Identity Center."""

    mode: str
    identity_center: IdentityCenterAccess | None = None


def get_qapps_access() -> QAppsAccess:
    """Read the Q Apps credentials settings (the Q Apps client caches what it builds from them).

    Raises
    ------
    ConfigurationError
        ``QAPPS_CREDENTIALS`` is not a known mode, or a setting that mode needs is missing or malformed.
    """
    mode = os.environ.get(QAPPS_CREDENTIALS, "").strip() or ROLE_MODE
    if mode not in QAPPS_CREDENTIALS_MODES:
        raise ConfigurationError(
            f"{QAPPS_CREDENTIALS} must be one of {', '.join(QAPPS_CREDENTIALS_MODES)}, got {mode!r}"
        )
    if mode == ROLE_MODE:
        return QAppsAccess(mode)
    region = os.environ.get("QAPPS_IDENTITY_CENTER_REGION", "").strip() or None
    if region is not None and not REGION_PATTERN.fullmatch(region):
        raise ConfigurationError(
            f"QAPPS_IDENTITY_CENTER_REGION must be an AWS region such as eu-west-1, got {region!r}"
        )
    return QAppsAccess(
        mode,
        IdentityCenterAccess(
            secret_arn=_arn("QAPPS_IDENTITY_SECRET_ARN", SECRET_ARN_PATTERN, "a Secrets Manager secret ARN"),
            application_arn=_arn("QAPPS_IDENTITY_APPLICATION_ARN", APPLICATION_ARN_PATTERN, APPLICATION_ARN_EXPECTED),
            role_arn=_arn("QAPPS_ROLE_ARN", ROLE_ARN_PATTERN, "an IAM role ARN"),
            region=region,
        ),
    )


def _arn(name: str, pattern: re.Pattern[str], expected: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set: {QAPPS_CREDENTIALS}={IDENTITY_CENTER_MODE} needs {expected}")
    if not pattern.fullmatch(value):
        raise ConfigurationError(f"{name} must be {expected}, got {value!r}")
    return value
