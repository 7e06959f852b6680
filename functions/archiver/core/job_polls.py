"""Polling a QuickSight asset-bundle job (an export or an import) from a workflow's Wait / check loop.

Neither kind of job announces that it finished, so the workflow waits, describes the job once,
and waits again: the wait doubles from ``poll_initial_seconds`` up to ``poll_max_seconds``, and a job
still running after ``export_deadline_seconds`` of waits fails its item. The polling state travels
in the execution's state between the steps; it holds ids and numbers only.
"""

from __future__ import annotations

from typing import Any

from archiver.core.settings import Settings
from archiver.core.wire import WireModel

STARTED = "STARTED"


class JobPoll(WireModel):
    """A job's polling state as the workflow carries it between the start, the Wait and the check."""

    job_id: str
    job_arn: str
    status: str
    wait_seconds: int | None = None
    waited_seconds: int | None = None


def job_errors(errors: list[dict[str, Any]], *, none: str) -> str:
    """A failed job's ``Errors`` (``Arn``, ``Message``) in one line, or ``none`` when QuickSight gave none."""
    return "; ".join(f"{error.get('Arn', '')}: {error.get('Message', '')}" for error in errors) or none


def first_poll(*, job_id: str, job_arn: str, settings: Settings) -> dict[str, Any]:
    """The polling state of a job just started (or found running): wait the initial interval, then describe it."""
    return {
        "jobId": job_id,
        "jobArn": job_arn,
        "status": STARTED,
        "waitSeconds": settings.poll_initial_seconds,
        "waitedSeconds": 0,
    }


def next_poll(
    poll: dict[str, Any],
    *,
    status: str,
    running: bool,
    settings: Settings,
    timed_out: type[Exception],
    job_kind: str,
) -> dict[str, Any]:
    """The polling state after one describe that found the job ``status``.

    Raises ``timed_out`` when the job is still ``running`` once the waits so far reach the deadline,
    naming the job (``job_kind`` says which: ``export`` or ``import``).
    """
    waited = poll["waitedSeconds"] + poll["waitSeconds"]
    if running and waited >= settings.export_deadline_seconds:
        raise timed_out(
            f"{job_kind} job {poll['jobId']} still {status} after {waited} s "
            f"(deadline {settings.export_deadline_seconds} s)"
        )
    return {
        **poll,
        "status": status,
        "waitedSeconds": waited,
        "waitSeconds": min(poll["waitSeconds"] * 2, settings.poll_max_seconds),
    }
