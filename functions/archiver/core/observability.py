"""The one place that owns the Logger, Tracer and Metrics every step uses."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from archiver.core import metric_names as names

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


def export_ready_at(previous: float | None, *, ready: bool) -> float | None:
    """When a polled export became ready: the earlier mark, else now if this poll found it ready."""
    if previous is not None:
        return previous
    return time.time() if ready else None


def count_artifact(
    kind: str, size: int, *, already_archived: bool, link_refreshes: int = 0, ready_at: float | None = None
) -> None:
    """Record one archived artifact in the run's metrics.

    ``ready_at`` is when its export was ready (epoch seconds), if known: an artifact newly archived then
    reports ``ExportReadyToArchived``, how long the data waited to be safe.
    """
    metrics.add_dimension(name=names.ITEM_KIND, value=kind)
    metrics.add_metric(name=names.ARTIFACTS_ARCHIVED, unit=MetricUnit.Count, value=0 if already_archived else 1)
    metrics.add_metric(name=names.BYTES_ARCHIVED, unit=MetricUnit.Bytes, value=0 if already_archived else size)
    metrics.add_metric(name=names.LINK_REFRESHES, unit=MetricUnit.Count, value=link_refreshes)
    if ready_at is not None and not already_archived:
        waited = max(0.0, time.time() - ready_at)
        metrics.add_metric(name=names.EXPORT_READY_TO_ARCHIVED, unit=MetricUnit.Seconds, value=waited)


def count_failure(kind: str, error: str) -> None:
    """Record one failed item under the reason an operator acts on (``metric_names.FAILURE_REASONS``)."""
    metrics.add_dimension(name=names.ITEM_KIND, value=kind)
    metrics.add_dimension(name=names.REASON, value=names.failure_reason(error))
    metrics.add_metric(name=names.ITEMS_FAILED, unit=MetricUnit.Count, value=1)


def failure_noted(log_message: str, *, item_id: str, kind: str, error: str, message: str) -> dict[str, str]:
    """Count and log an item's recorded failure; return ``{itemId, error}`` (the message stays in the outcome)."""
    count_failure(kind, error)
    logger.warning(log_message, extra={"item_id": item_id, "error": error, "reason": message})
    return {"itemId": item_id, "error": error}
