"""AWS clients, created on first use and reused for the life of the execution environment."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries absorb short bursts of throttling inside a step; longer outages surface as
# named errors that the state machine's Retry rules handle with their own back-off.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, user_agent_appid="archiver")
# QuickSight and Q Apps calls are not retried inside the step: botocore would ignore the
# services' Retry-After and wait in a running function. Their errors leave the step named
# (archiver.service_errors) and the state machine retries them, waiting as long as asked.
_SERVICE_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid="archiver")


@cache
def s3() -> Any:
    return boto3.client("s3", config=_CONFIG)


@cache
def quicksight() -> Any:
    return boto3.client("quicksight", config=_SERVICE_CONFIG)


@cache
def qapps() -> Any:
    return boto3.client("qapps", config=_SERVICE_CONFIG)


def reset() -> None:
    """Forget every client (tests and the local runner switch endpoints between runs)."""
    for factory in (s3, quicksight, qapps):
        factory.cache_clear()
