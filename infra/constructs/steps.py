"""How every workflow builds a Lambda step, and the retry policies the steps share.

Both state machines (archive and restore) call their handlers the same way: the payload names what
the step needs, the handler's result lands at one path, Lambda's own service errors are retried, and
a step's transient errors are retried with exponential back-off and full jitter.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Error names raised by the handlers (see functions/archiver/errors.py) or by botocore, whose
# exception classes are named after the service's error code.
SERVICE_BUSY = ["ThrottlingException", "InternalServerException", "LimitExceededException"]
TRANSFER_INTERRUPTED = ["DownloadFailedError"]


def lambda_step(
    scope: Construct,
    state_id: str,
    function: lambda_.IFunction,
    payload: dict[str, Any],
    *,
    result_path: str,
    retry_on: list[str] | None = None,
) -> tasks.LambdaInvoke:
    """A Lambda step: the payload names what the step needs, the result lands at ``result_path``.

    Lambda's own service errors are retried by every step (``retry_on_service_exceptions``);
    ``retry_on`` adds the step's transient errors, with exponential back-off and full jitter.
    """
    task = tasks.LambdaInvoke(
        scope,
        state_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload),
        payload_response_only=True,
        retry_on_service_exceptions=True,
        result_path=result_path,
    )
    if retry_on:
        task.add_retry(
            errors=retry_on,
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=5,
            max_delay=Duration.minutes(2),
            jitter_strategy=sfn.JitterType.FULL,
        )
    return task


def item_map(
    scope: Construct,
    state_id: str,
    *,
    items_path: str,
    selector: dict[str, str],
    kind: str,
    context: str,
    max_concurrency: int,
) -> sfn.Map:
    """An inline Map over a plan's items of one ``kind``: each iteration gets the item, ``context`` and ``selector``.

    ``context`` names what every item carries along (``run`` for an archive run, ``restore`` for a
    restore); the Map's results are discarded, since each item records its own outcome.
    """
    return sfn.Map(
        scope,
        state_id,
        items_path=items_path,
        item_selector={**selector, f"{context}.$": f"$.{context}", f"{kind}.$": "$$.Map.Item.Value"},
        max_concurrency=max_concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
