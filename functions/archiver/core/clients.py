"""AWS clients, created on first use and reused for the life of the execution environment."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from archiver.core.log_redaction import redact_botocore_wire_logs
from archiver.core.settings import IDENTITY_CENTER_MODE, get_qapps_access

# Adaptive retries absorb short bursts of throttling inside a step; longer outages surface as
# named errors that the state machine's Retry rules handle with their own back-off.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, user_agent_appid="archiver")
# QuickSight and Q Apps calls are not retried inside the step: botocore would ignore the
# services' Retry-After and wait in a running function. Their errors leave the step named
# (archiver.core.service_errors) and the state machine retries them, waiting as long as asked.
_SERVICE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid="archiver")
# The S3 client's connection pool: WriteManifest reads this many outcomes at once, one connection each
# (archiver.archive.manifest). botocore's default pool is 10; a thread beyond it waits for a connection.
S3_CONNECTIONS = 32
_S3_CONFIG = _CONFIG.merge(Config(max_pool_connections=S3_CONNECTIONS))


@cache
def s3() -> Any:
    redact_botocore_wire_logs()
    return boto3.client("s3", config=_S3_CONFIG)


@cache
def quicksight() -> Any:
    # Its answers carry presigned links: botocore's debug logs must not repeat them.
    redact_botocore_wire_logs()
    return boto3.client("quicksight", config=_SERVICE_CONFIG)


@cache
def qapps() -> Any:
    """The Q Apps client, signing as the function's role or, with Identity Center, as the archive user.

    Q Apps answers plain role credentials with ``UnauthorizedException`` in most setups: see
    ``archiver.core.identity`` and the README's Security section.
    """
    redact_botocore_wire_logs()
    access = get_qapps_access()
    if access.mode != IDENTITY_CENTER_MODE or access.identity_center is None:
        return boto3.client("qapps", config=_SERVICE_CONFIG)
    # Imported here: only the Identity Center mode needs it.
    from archiver.core.identity import IdentityCenterChain, identity_center_session

    identity = access.identity_center
    chain = IdentityCenterChain(
        identity,
        secrets=boto3.client("secretsmanager", config=_CONFIG),
        sso_oidc=boto3.client("sso-oidc", config=_CONFIG, region_name=identity.region),
        sts=boto3.client("sts", config=_CONFIG),
    )
    return identity_center_session(chain).client("qapps", config=_SERVICE_CONFIG)


@cache
def stepfunctions() -> Any:
    """The client a change trigger starts runs with."""
    return boto3.client("stepfunctions", config=_CONFIG)


def reset() -> None:
    """Forget every client (tests and the local runner switch endpoints between runs)."""
    for factory in (s3, quicksight, qapps, stepfunctions):
        factory.cache_clear()
