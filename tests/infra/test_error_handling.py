"""The synthesized definition's error handling: which errors are retried, how, and which end the item."""

from __future__ import annotations

from typing import Any

import pytest

from archiver.core import errors
from archiver.core.errors import RETRY_AFTER_WAITS, retry_after_error_name

ITEM_STEPS = ("StartBundleExport", "CheckBundleExport", "ArchiveBundle", "ArchiveSession", "ArchiveAppDefinition")
# Errors that no retry can mend: the item fails at once (the run goes on).
FINAL = [
    errors.ResourceNotFoundError,
    errors.RequestRejectedError,
    errors.ResourceConflictError,
    errors.CredentialsRejectedError,
    errors.PermissionDeniedError,
    errors.UnsupportedEditionError,
    errors.QuotaExceededError,
    errors.RetryAfterTooLongError,
    errors.ArchiveConflictError,
    errors.ChecksumMismatchError,
    errors.LinkExpiredError,
    errors.DisallowedLinkError,
]


def retrier(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    return next((r for r in state.get("Retry", []) if error in r["ErrorEquals"]), None)


@pytest.mark.parametrize("step", ITEM_STEPS)
def test_a_retry_after_is_waited_out_in_full_a_bounded_number_of_times(
    states: dict[str, dict[str, Any]], step: str
) -> None:
    for seconds in RETRY_AFTER_WAITS:
        rule = retrier(states[step], retry_after_error_name(seconds))
        assert rule is not None, (step, seconds)
        # No jitter and no back-off: jitter would come back sooner than the service asked.
        assert (rule["IntervalSeconds"], rule.get("BackoffRate", 1), rule.get("JitterStrategy", "NONE")) == (
            seconds,
            1,
            "NONE",
        )
        assert 1 <= rule["MaxAttempts"] <= 3


@pytest.mark.parametrize("step", ITEM_STEPS)
def test_a_busy_service_is_retried_with_backoff_and_full_jitter(states: dict[str, dict[str, Any]], step: str) -> None:
    rule = retrier(states[step], "ServiceBusyError")
    assert rule is not None
    assert rule["BackoffRate"] > 1 and rule["JitterStrategy"] == "FULL"
    assert rule["MaxAttempts"] <= 5 and rule["MaxDelaySeconds"] <= 300


def test_waiting_for_an_export_slot_is_slower_but_bounded(states: dict[str, dict[str, Any]]) -> None:
    rule = retrier(states["StartBundleExport"], "ExportSlotsBusyError")
    assert rule is not None
    assert rule["IntervalSeconds"] >= 30 and rule["JitterStrategy"] == "FULL"
    longest = sum(min(rule["IntervalSeconds"] * rule["BackoffRate"] ** n, rule["MaxDelaySeconds"]) for n in range(8))
    assert rule["MaxAttempts"] <= 8 and longest <= 3600


@pytest.mark.parametrize("step", ["ArchiveBundle", "ArchiveSession"])
def test_a_copy_cut_short_is_retried(states: dict[str, dict[str, Any]], step: str) -> None:
    for error in ("DownloadFailedError", "Lambda.Unknown", "Sandbox.Timedout"):
        assert retrier(states[step], error), (step, error)


@pytest.mark.parametrize("step", ITEM_STEPS)
def test_what_no_retry_can_mend_fails_the_item_at_once(states: dict[str, dict[str, Any]], step: str) -> None:
    state = states[step]
    for error in FINAL:
        assert retrier(state, error.__name__) is None, (step, error.__name__)
    (catch,) = state["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert catch["Next"].startswith("Record")


@pytest.mark.parametrize("step", ["WriteManifest", "RecordBundleFailure", "RecordSessionFailure", "RecordAppFailure"])
def test_recording_outcomes_survives_a_busy_s3(states: dict[str, dict[str, Any]], step: str) -> None:
    assert retrier(states[step], "ServiceBusyError")
    assert retrier(states[step], retry_after_error_name(RETRY_AFTER_WAITS[0])) is None
