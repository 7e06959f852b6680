"""How every workflow builds a Lambda step, and the retry policies the steps share.

Both state machines (archive and restore) call their handlers the same way: the payload names what
the step needs, the handler's result lands at one path, Lambda's own service errors are retried, and
a step's transient errors are retried with exponential back-off and full jitter.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from archiver.core.errors import RETRY_AFTER_WAITS, retry_after_error_name
from infra.nag import acknowledge, acknowledge_wildcard

# Error names raised by the handlers (see functions/archiver/core/errors.py) or by botocore, whose
# exception classes are named after the service's error code (for handlers that do not name
# their errors through archiver.core.service_errors), and Lambda's own throttling of invocations.
SERVICE_BUSY = [
    "ServiceBusyError",
    "ThrottlingException",
    "InternalServerException",
    "LimitExceededException",
    "Lambda.TooManyRequestsException",
]
# A copy cut short: by the download host, or by Lambda ending the function mid-copy (a timeout
# is reported as Lambda.Unknown, or Sandbox.Timedout). A retried copy starts clean: nothing
# partial is ever visible in the archive, and the write-once key keeps one object.
TRANSFER_INTERRUPTED = ["DownloadFailedError", "Lambda.Unknown", "Sandbox.Timedout"]
# QuickSight runs five export jobs per account, shared with other runs: wait for a slot on a
# slower schedule than throttling (up to about half an hour in all).
EXPORT_SLOTS_BUSY = ["ExportSlotsBusyError"]
# How often a step honours each Retry-After wait before its item fails.
RETRY_AFTER_ATTEMPTS = 3


def lambda_step(
    scope: Construct,
    state_id: str,
    function: lambda_.IFunction,
    payload: dict[str, Any],
    *,
    result_path: str,
    retry_on: list[str] | None = None,
    honour_retry_after: bool = True,
) -> tasks.LambdaInvoke:
    """A Lambda step: the payload names what the step needs, the result lands at ``result_path``.

    Lambda's own service errors are retried by every step (``retry_on_service_exceptions``);
    ``retry_on`` adds the step's transient errors, with exponential back-off and full jitter, and
    (unless ``honour_retry_after`` is false: steps that only talk to S3) a service's Retry-After.
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
    # The task lets the state machine invoke any version or alias of the function it names.
    acknowledge_wildcard(scope, f"{function.function_arn}:*", "Invokes this function's versions and aliases only")
    if retry_on and honour_retry_after:
        _retry_after(task)
    if retry_on:
        _back_off(task, retry_on, first=Duration.seconds(5), cap=Duration.minutes(2), attempts=5)
    return task


def validate_input_step(
    scope: Construct,
    state_id: str,
    function: lambda_.IFunction,
    *,
    refused_with: str,
    fail_as: str,
    read_problems_id: str,
    retry_on: list[str] | None = None,
) -> tasks.LambdaInvoke:
    """A workflow's first step: the handler checks the execution's input and returns its plan as the state.

    The handler gets the input and the execution's id, name and start time. When it refuses the input
    (error ``refused_with``), the execution ends at once in a Fail state ``fail_as`` (error ``fail_as``)
    whose cause is only the handler's message, which names every bad field.
    """
    validate = lambda_step(
        scope,
        state_id,
        function,
        {
            "input.$": "$",
            "execution": {
                "id.$": "$$.Execution.Id",
                "name.$": "$$.Execution.Name",
                "startTime.$": "$$.Execution.StartTime",
            },
        },
        result_path="$",
        retry_on=retry_on,
    )
    read_problems = sfn.Pass(scope, read_problems_id, parameters={"report.$": "States.StringToJson($.Cause)"})
    invalid = sfn.Fail(scope, fail_as, error=fail_as, cause_path="$.report.errorMessage")
    # The caught error replaces the state: the input may not even be an object.
    validate.add_catch(read_problems.next(invalid), errors=[refused_with], result_path="$")
    return validate


def _back_off(task: tasks.LambdaInvoke, errors: list[str], *, first: Duration, cap: Duration, attempts: int) -> None:
    """Retry ``errors`` with waits doubling from ``first`` up to ``cap``, each drawn at random below it."""
    task.add_retry(
        errors=errors,
        interval=first,
        backoff_rate=2,
        max_attempts=attempts,
        max_delay=cap,
        jitter_strategy=sfn.JitterType.FULL,
    )


def _retry_after(task: tasks.LambdaInvoke) -> None:
    """Honour a service's ``Retry-After``: wait at least as long as it asked, a bounded number of times.

    A Retry rule cannot read its wait from the error, and a Catch to a Wait state with
    ``SecondsPath`` would need an attempt counter carried in the state and three more states
    per step (and history events per item, in every run). Instead the handler rounds the wait
    up to one of a few lengths and names it in the error (``RetryAfter30sError``); each length
    is a retrier with that fixed interval and no jitter (jitter would wait less than asked).
    """
    for seconds in RETRY_AFTER_WAITS:
        task.add_retry(
            errors=[retry_after_error_name(seconds)],
            interval=Duration.seconds(seconds),
            backoff_rate=1,
            max_attempts=RETRY_AFTER_ATTEMPTS,
        )


def add_export_slot_retry(task: tasks.LambdaInvoke) -> None:
    """Wait for one of the account's five QuickSight export slots (see EXPORT_SLOTS_BUSY)."""
    _back_off(task, EXPORT_SLOTS_BUSY, first=Duration.seconds(30), cap=Duration.minutes(5), attempts=8)


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


class _ItemsReader(sfn.S3JsonItemReader):
    """CDK's JSON item reader, granting nothing itself: its key comes from the state, so it could only
    grant the whole bucket; the workflow's grants name the items' keys (``infra/archive/grants.py``)."""

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []


class _ResultWriter(sfn.ResultWriterV2):
    """CDK's result writer, granting nothing itself, for the same reason: the grants name its prefix."""

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []


def distributed_item_map(
    scope: Construct,
    state_id: str,
    *,
    bucket: s3.IBucket,
    items_key_path: str,
    results_prefix: str,
    selector: dict[str, str],
    kind: str,
    context: str,
    max_concurrency: int,
) -> sfn.DistributedMap:
    """A Distributed Map over the items of one ``kind`` that the first step wrote to ``bucket`` (a JSON array).

    Each item runs in a child execution of its own, with its own history: the parent's history and
    state stay the same size whatever the plan's size, and no state carries an item list. The item
    gets ``context`` and ``selector`` from the parent's (small) state, as :func:`item_map`'s do.

    Children are Standard: a bundle export is polled for minutes, and a service's Retry-After is
    honoured for up to 900 s (``RETRY_AFTER_WAITS``), past Express's five-minute cap; Standard's
    price (per state transition) is also what the measured transitions per item make cheapest
    for one-step items (docs/how-it-works.md). The children's results are written to S3
    (``ResultWriter``), never returned into the parent's state, and the Map tolerates failed
    children: every step of a child catches its own failure and records it, so a child that still
    dies (its outcome unrecorded) is found missing by the manifest, and the other items go on.
    """
    return sfn.DistributedMap(
        scope,
        state_id,
        item_reader=_ItemsReader(bucket=bucket, key=sfn.JsonPath.string_at(items_key_path)),
        item_selector={**selector, f"{context}.$": f"$.{context}", f"{kind}.$": "$$.Map.Item.Value"},
        max_concurrency=max_concurrency,
        map_execution_type=sfn.StateMachineType.STANDARD,
        result_writer_v2=_ResultWriter(bucket=bucket, prefix=results_prefix),
        tolerated_failure_percentage=100,
        result_path=sfn.JsonPath.DISCARD,
    )


def standard_state_machine(
    scope: Construct, definition: sfn.IChainable, *, timeout: Duration
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard state machine as every workflow here has it: logged at ALL, traced, with a timeout.

    Returns the state machine and its execution log group (kept a year, and kept when the stack goes:
    it is the record of what was archived or restored, and when).
    """
    log_group = logs.LogGroup(
        scope, "ExecutionLogs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
    )
    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )
    acknowledge(
        state_machine,
        "AwsSolutions-IAM5[Resource::*]",
        "CloudWatch Logs' log-delivery actions and X-Ray's trace actions accept no resource but *",
    )
    return state_machine, log_group
