"""AWS clients, created on first use and reused for the life of the execution environment."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries absorb short bursts of throttling inside a step; longer outages surface as
# named errors that the state machine's Retry rules handle with their own back-off.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, user_agent_appid="archiver")


@cache
def s3() -> Any:
    return boto3.client("s3", config=_CONFIG)


@cache
def quicksight() -> Any:
    return boto3.client("quicksight", config=_CONFIG)


@cache
def qapps() -> Any:
    return boto3.client("qapps", config=_CONFIG)


def reset() -> None:
    """Forget every client (tests and the local runner switch endpoints between runs)."""
    for factory in (s3, quicksight, qapps):
        factory.cache_clear()
