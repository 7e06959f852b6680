"""The one place that owns the Logger, Tracer and Metrics every step uses."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Steps that only validate or record outcomes publish no metrics of their own, as intended.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Item steps' events carry the run, the manifest step's carries the whole plan, and the first
# step gets the raw execution: each finds the execution id where it is (restore steps carry "restore").
_CORRELATION_ID_PATH = (
    "run.executionId || plan.run.executionId || restore.executionId || plan.restore.executionId || execution.id"
)

Handler = Callable[[dict[str, Any], Any], Any]


def step_handler(handler: Handler) -> Handler:
    """Wrap a step's handler with logging (execution id as correlation id), tracing and metrics.

    Responses are not captured in traces: the handlers' own results hold no secrets, but a
    habit of capturing responses is how a presigned link ends up somewhere it should not.
    """

    @wraps(handler)
    @logger.inject_lambda_context(correlation_id_path=_CORRELATION_ID_PATH, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    return wrapped


def count_artifact(kind: str, size: int, *, already_archived: bool, link_refreshes: int = 0) -> None:
    """Record one archived artifact in the run's metrics."""
    metrics.add_dimension(name="ItemKind", value=kind)
    metrics.add_metric(name="ArtifactsArchived", unit=MetricUnit.Count, value=0 if already_archived else 1)
    metrics.add_metric(name="BytesArchived", unit=MetricUnit.Bytes, value=0 if already_archived else size)
    metrics.add_metric(name="LinkRefreshes", unit=MetricUnit.Count, value=link_refreshes)


def count_failure(kind: str, reason: str) -> None:
    """Record one failed item, by what went wrong."""
    metrics.add_dimension(name="ItemKind", value=kind)
    metrics.add_dimension(name="Reason", value=reason)
    metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=1)
