"""Discovery's calls, retried inside the step when the service is busy, within the step's time.

Discovery makes thousands of List, Describe and tag calls in one step: a throttled one must not make the
state machine start the whole listing again, so each call is retried here first, with exponential back-off
and full jitter (and at least a service's own ``Retry-After``). Only a call still busy after that, or one
whose next wait would outlast the function's time, leaves the step as a busy error, for the state
machine's Retry. The clients themselves never retry (``archiver.core.clients``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from archiver.core.service_errors import BUSY_CODES

T = TypeVar("T")

# Back-off from the first wait to its cap, a bounded number of attempts: about 40 s of waiting in all.
ATTEMPTS = 7
FIRST_WAIT_SECONDS = 0.5
WAIT_CAP_SECONDS = 16.0
# What the step keeps for itself after discovering: writing the plan and its outcome.
TIME_RESERVED_SECONDS = 30.0


def _busy_wait(error: ClientError) -> float | None:
    """How long the service asked to wait (0 when it did not say), or None when it is not busy."""
    response: dict[str, Any] = error.response
    if response.get("Error", {}).get("Code") not in BUSY_CODES:
        return None
    asked = response.get("retryAfterSeconds") or response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get(
        "retry-after"
    )
    try:
        return max(0.0, float(asked)) if asked is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Pacer:
    """Calls a service, retrying its busy answers while the step has time.

    ``seconds_left`` says how long the function may still run (Lambda's remaining time); ``sleep`` is
    ``time.sleep`` (module-level, so a local run's virtual clock can stand in for it).
    """

    seconds_left: Callable[[], float]
    attempts: int = ATTEMPTS

    def call(self, operation: Callable[..., T], **params: Any) -> T:
        """``operation(**params)``; a busy answer retried up to ``attempts`` times, the last one raised."""
        for attempt in range(1, self.attempts + 1):
            try:
                return operation(**params)
            except ClientError as error:
                asked = _busy_wait(error)
                if asked is None or attempt == self.attempts:
                    raise
                wait = max(asked, random.uniform(0, min(WAIT_CAP_SECONDS, FIRST_WAIT_SECONDS * 2**attempt)))
                if wait > self.seconds_left() - TIME_RESERVED_SECONDS:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def lambda_time(context: Any) -> Callable[[], float]:
    """The seconds a Lambda invocation has left, from its context."""
    return lambda: float(context.get_remaining_time_in_millis()) / 1000
