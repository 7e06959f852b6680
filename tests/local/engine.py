"""Run the synthesized state machine locally: moto's ASL engine, the real handlers in process.

moto executes Amazon States Language when asked to (``execute_state_machine``); its Lambda
tasks call ``lambda.invoke`` through boto3's default session, which this module answers by
calling the step's real handler, shaped like Lambda's reply. Wait states and retry back-off
advance a virtual clock instead of sleeping, so a run that polls for an hour takes
milliseconds and the emulated services see the hour go by.

A Distributed Map's children run inside the parent's execution in moto, their events dropped; this module
gives each child an event list of its own and keeps it (``ExecutionResult.children``), as Step Functions
keeps each child's history. moto cannot parse ``ProcessorConfig.ExecutionType``, which CDK writes: the
definition is created through ``tests.local.template.for_local_engine``, the one change a local run makes.

Virtual time is one clock for the whole run: waits in parallel branches add up rather than
overlap, so the emulated services see at least as much time pass as they would in AWS: a link
expires, if anything, sooner than it would there, the conservative direction for the copy steps.

moto internals are patched here and nowhere else (moto is pinned in requirements.txt).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TextIO
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
    resource_eval_s3 as item_reader_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as distributed_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as result_writer_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.utils import TMP_THREADS

from tests.local.emulator import VirtualClock
from tests.local.template import LOCAL_ACCOUNT, LOCAL_REGION, SynthesizedWorkflow, for_local_engine

# The emulator serves its links over plain http on the loopback address.
LOCAL_DOWNLOAD_ALLOWLIST = "http://127.0.0.1"

_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/archiver-local"


@dataclass
class LocalContext:
    """The parts of Lambda's context object that the handlers (and Powertools) read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass(frozen=True)
class Invocation:
    """One handler call, as a test would want to inspect it."""

    function: str
    event: dict[str, Any]
    response: Any
    error_type: str | None
    seconds: float = 0.0
    """How long the handler ran (what Lambda would bill, as fast as the local services answer)."""


@dataclass(frozen=True)
class ChildExecution:
    """One item's child execution of a Distributed Map: the Map's state name, the item's index, its history."""

    map_state: str
    index: int
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    """The parent's history (what GetExecutionHistory returns for the run's execution)."""
    children: list[ChildExecution] = field(default_factory=list)

    def all_events(self) -> list[dict[str, Any]]:
        """The parent's history, then every child's."""
        return [*self.history, *(event for child in self.children for event in child.history)]

    def states_entered(self) -> list[str]:
        """Every state entered, in the parent and in its Distributed Maps' children."""
        return [e["stateEnteredEventDetails"]["name"] for e in self.all_events() if "stateEnteredEventDetails" in e]


class ChildHistories:
    """Gives each Distributed Map child its own event list, and keeps it by the parent's execution ARN.

    moto evaluates every child of a Map Run with one shared EventManager that it then drops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_execution: dict[str, list[ChildExecution]] = {}

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        evaluate = distributed_worker.DistributedItemProcessorWorker._eval_job
        recorder = self

        def eval_job(worker: Any, env: Any, job: Any) -> None:
            env.event_manager = EventManager()
            try:
                evaluate(worker, env, job)
            finally:
                execution = env.states.context_object.context_object_data["Execution"]["Id"]
                child = ChildExecution(worker._work_name, job.job_index, env.event_manager.get_event_history())
                with recorder._lock:
                    recorder.by_execution.setdefault(execution, []).append(child)

        with mock.patch.object(distributed_worker.DistributedItemProcessorWorker, "_eval_job", eval_job):
            yield


class _ReplyBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def swap_log_stream(handler: logging.Handler, stream: TextIO | None) -> TextIO | None:
    """Point the handlers' log handler at ``stream``; returns the stream it wrote to before.

    Not ``setStream``: it flushes the previous stream, which may be a test's captured output that pytest
    has closed since.
    """
    assert isinstance(handler, logging.StreamHandler), "Powertools' Logger writes through a StreamHandler"
    previous: TextIO | None = handler.stream
    handler.stream = stream
    return previous


class LocalLambda:
    """Answers moto's ``lambda.invoke`` calls with the real handlers, one call at a time.

    One call at a time, like a single Lambda execution environment: the handlers share
    Powertools' Logger and Metrics, which expect one invocation at once.
    """

    def __init__(self, workflow: SynthesizedWorkflow, *, log_stream: TextIO) -> None:
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._workflow = workflow
        self._log_stream = log_stream
        self._lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self.fault: Callable[[str, dict[str, Any]], None] | None = None
        # Called after each invocation, in the execution's thread, so virtual time is exact.
        self.on_invocation: Callable[[Invocation], None] | None = None

    def load_handlers(self) -> TextIO | None:
        """Import every handler; send their logs to the log stream. Returns where logs went before."""
        for logical_id, spec in self._workflow.functions.items():
            module_name, _, attribute = spec.handler.rpartition(".")
            self._handlers[logical_id] = getattr(importlib.import_module(module_name), attribute)
        from archiver.core import observability

        return swap_log_stream(observability.logger.registered_handler, self._log_stream)

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        logical_id = request.url.split("/functions/")[1].split("/")[0].split("%3A")[-1].split(":")[-1]
        event = json.loads(request.body or b"{}")
        spec = self._workflow.functions[logical_id]
        context = LocalContext(function_name=logical_id, invoked_function_arn=spec.arn)
        headers: dict[str, str] = {}
        error_type = None
        with self._lock, contextlib.redirect_stdout(self._log_stream):
            started = time.perf_counter()
            try:
                if self.fault:
                    self.fault(spec.handler.split(".")[0], event)
                response = self._handlers[logical_id](event, context)
            except Exception as error:
                error_type = type(error).__name__
                headers["X-Amz-Function-Error"] = "Unhandled"
                response = {
                    "errorType": error_type,
                    "errorMessage": str(error),
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            seconds = time.perf_counter() - started
            invocation = Invocation(spec.handler.split(".")[0], event, response, error_type, seconds)
            self.invocations.append(invocation)
        if self.on_invocation:
            self.on_invocation(invocation)
        return AWSResponse(request.url, 200, headers, _ReplyBody(json.dumps(response).encode()))


@contextlib.contextmanager
def fast_forward(clock: VirtualClock) -> Iterator[None]:
    """Make Wait states and Retry back-off advance ``clock`` instead of sleeping."""

    def wait(self: Any, env: Any, wait_seconds: int) -> None:
        clock.advance(wait_seconds)

    with (
        mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait),
        mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=clock.advance)),
    ):
        yield


class _ParsedOnce:
    """moto's ASL parser, remembering each definition it parsed (~0.5 s each, twice per run).

    The parsed program is a tree of stateless components (an execution's state lives in its
    environment: inline Map iterations already share one tree at once), so executions of the
    same definition can share it.
    """

    parse = staticmethod(functools.cache(AmazonStateLanguageParser.parse))


@contextlib.contextmanager
def parse_each_definition_once() -> Iterator[None]:
    """Parse a definition once per process, not at every create_state_machine and execution."""
    with (
        mock.patch.object(parser_models, "AmazonStateLanguageParser", _ParsedOnce),
        mock.patch.object(execution_worker, "AmazonStateLanguageParser", _ParsedOnce),
    ):
        yield


@contextlib.contextmanager
def flat_cost_per_item() -> Iterator[None]:
    """Take out what makes moto's engine cost more per item, or more as a Map Run grows; none of it changes a result.

    Measured with ``make bench-scale`` (docs/benchmark.md, "Scale"), moto 5.2.5:

    - It builds a boto3 client for every Lambda task and every ItemReader/ResultWriter call (a fifth of a
      session item's CPU): one client per service and region serves them all, as one would in AWS.
      ``state_credentials`` is not used by moto's ``boto_client_for``, so sharing loses nothing.
    - It builds a new JSONPath parser (ply's yacc tables) for every path it evaluates: each path is parsed
      once. A parsed path is immutable (``find``/``update`` read it, they change the data they are given).
    - A Distributed Map worker runs its next item by calling itself (``_eval_pool`` recurses once per
      item): a worker of 10,000 sessions / 10 at a time goes 1,000 frames deep, past Python's recursion
      limit, and each item's frame stays alive to the end. The same steps, in a loop.
    """
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    build = boto_client.boto_client_for

    def shared_client(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[region, service] = build(region=region, service=service)
            return clients[region, service]

    worker = distributed_worker.DistributedItemProcessorWorker

    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        # moto's _eval_pool, unrolled: the same frame handling and job closing, in the same order.
        while job is not None:
            job_frame = worker_frame.open_inner_frame()
            self._eval_job(env=job_frame, job=job)
            worker_frame.delete_frame(job_frame)
            if isinstance(job.job_output, Exception) or self.stopped():
                break
            next_job = self._job_pool.next_job()
            if next_job is None:
                break
            self._job_pool.close_job(job)
            job = next_job
        self._env.delete_frame(worker_frame)
        if job is not None:
            self._job_pool.close_job(job)

    with contextlib.ExitStack() as patches:
        for module in (lambda_eval_utils, item_reader_s3, result_writer_s3):
            patches.enter_context(mock.patch.object(module, "boto_client_for", shared_client))
        for module in (json_path, result_path):
            patches.enter_context(mock.patch.object(module, "parse", functools.cache(module.parse)))
        patches.enter_context(mock.patch.object(worker, "_eval_pool", eval_pool))
        yield


@functools.cache
def _service_models() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _session_sharing_models() -> botocore.session.Session:
    """A fresh botocore session that reads the services' JSON models once per process, not per run."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _service_models())
    return session


def local_environment(
    workflow: SynthesizedWorkflow, *, bucket: str, endpoint: str | None, **overrides: str
) -> dict[str, str]:
    """What every function sees locally: the template's environment, with local stand-ins.

    ``endpoint`` (the emulator's) answers QuickSight and Q Apps; ``None`` leaves them to the
    standard ``AWS_ENDPOINT_URL_*`` variables of the caller's environment.
    """
    # Every step gets the same environment from the one construct that defines them.
    environment = {name: str(value) for name, value in workflow.function_named("archive_bundle").environment.items()}
    environment.update(
        {
            "ARCHIVE_BUCKET": bucket,
            "DEFAULT_AWS_ACCOUNT_ID": LOCAL_ACCOUNT,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "DOWNLOAD_ALLOWLIST": os.environ.get("DOWNLOAD_ALLOWLIST", LOCAL_DOWNLOAD_ALLOWLIST),
            "POWERTOOLS_SERVICE_NAME": "archiver",
            "POWERTOOLS_METRICS_NAMESPACE": "Archiver",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    if endpoint:
        environment["AWS_ENDPOINT_URL_QUICKSIGHT"] = endpoint
        environment["AWS_ENDPOINT_URL_QAPPS"] = endpoint
    environment.update(overrides)
    return environment


class LocalStepFunctions:
    """The synthesized archive workflow, deployed on moto, ready to run executions.

    Use as a context manager; ``environment`` is what every function sees (the template's
    environment, with local values for the bucket, endpoints and trusted download hosts).
    """

    def __init__(
        self,
        workflow: SynthesizedWorkflow,
        *,
        clock: VirtualClock,
        environment: dict[str, str],
        log_stream: TextIO | None = None,
    ) -> None:
        self.workflow = workflow
        self.clock = clock
        self.environment = environment
        self.log_stream = log_stream or io.StringIO()
        self.lambdas = LocalLambda(workflow, log_stream=self.log_stream)
        self._stack = contextlib.ExitStack()
        self.state_machine_arn = ""
        self._sfn: Any = None
        self.children = ChildHistories()

    def __enter__(self) -> LocalStepFunctions:
        stack = self._stack
        stack.enter_context(mock.patch.dict(os.environ, self.environment))
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        stack.enter_context(fast_forward(self.clock))
        stack.enter_context(parse_each_definition_once())
        stack.enter_context(self.children.recording())
        stack.enter_context(flat_cost_per_item())
        # moto's engine logs every failed state at ERROR; the run's own report says what failed.
        stack.enter_context(_quiet("moto.stepfunctions"))
        from archiver.core import clients
        from archiver.core.settings import get_settings

        clients.reset()
        get_settings.cache_clear()
        stack.callback(clients.reset)
        stack.callback(get_settings.cache_clear)
        boto3.setup_default_session(botocore_session=_session_sharing_models())
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-send.lambda.Invoke", self.lambdas)
        previous_log_stream = self.lambdas.load_handlers()
        from archiver.core import observability

        stack.callback(swap_log_stream, observability.logger.registered_handler, previous_log_stream)
        self._sfn = boto3.client("stepfunctions", region_name=LOCAL_REGION)
        self.state_machine_arn = self._sfn.create_state_machine(
            name="archiver-local", definition=json.dumps(for_local_engine(self.workflow.definition)), roleArn=_ROLE_ARN
        )["stateMachineArn"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def add_state_machine(self, workflow: SynthesizedWorkflow, name: str) -> str:
        """Deploy another state machine of the same stack (e.g. the restore) beside the first; returns its ARN.

        Its functions must be among the first workflow's (one template holds them all).
        """
        return str(
            self._sfn.create_state_machine(
                name=name, definition=json.dumps(for_local_engine(workflow.definition)), roleArn=_ROLE_ARN
            )["stateMachineArn"]
        )

    def start(self, document: Any, *, name: str | None = None, state_machine_arn: str | None = None) -> str:
        """Start an execution (of the first state machine unless told); returns its ARN (the run id is its name)."""
        self._threads_before = len(TMP_THREADS)
        return str(
            self._sfn.start_execution(
                stateMachineArn=state_machine_arn or self.state_machine_arn,
                name=name or f"run-{uuid.uuid4().hex[:12]}",
                input=json.dumps(document),
            )["executionArn"]
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def wait(self, execution_arn: str) -> ExecutionResult:
        """Join the execution's worker threads (no polling sleeps), then describe it."""
        while alive := [t for t in TMP_THREADS[self._threads_before :] if t.is_alive()]:
            alive[0].join()
        described = self._sfn.describe_execution(executionArn=execution_arn)
        events = self.history(execution_arn)
        output = json.loads(described["output"]) if described.get("output") else None
        return ExecutionResult(
            execution_arn=execution_arn,
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            history=events,
            children=sorted(
                self.children.by_execution.get(execution_arn, []), key=lambda child: (child.map_state, child.index)
            ),
        )

    def run(self, document: Any, *, name: str | None = None, state_machine_arn: str | None = None) -> ExecutionResult:
        return self.wait(self.start(document, name=name, state_machine_arn=state_machine_arn))


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    log = logging.getLogger(logger_name)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)
