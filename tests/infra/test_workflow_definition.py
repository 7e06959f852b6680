"""The synthesized state machine definition: the limits and error handling a run relies on."""

from __future__ import annotations

from typing import Any


def retried_errors(state: dict[str, Any]) -> set[str]:
    return {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}


def test_no_more_than_five_bundles_export_at_once(states: dict[str, dict[str, Any]]) -> None:
    # QuickSight runs at most five export jobs per account; a sixth is refused.
    assert states["ExportBundles"]["MaxConcurrency"] == 5


def test_every_lambda_step_retries_lambda_service_errors(states: dict[str, dict[str, Any]]) -> None:
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert len(tasks) >= 8
    for name, state in tasks.items():
        assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"} <= (
            retried_errors(state)
        ), name


def test_item_steps_retry_a_busy_service_and_record_any_other_failure(states: dict[str, dict[str, Any]]) -> None:
    for name in ("StartBundleExport", "CheckBundleExport", "ArchiveBundle", "ArchiveSession", "ArchiveAppDefinition"):
        state = states[name]
        assert {"ThrottlingException", "InternalServerException"} <= retried_errors(state), name
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert states[catch["Next"]]["Type"] == "Task" and catch["Next"].startswith("Record"), name
    assert "DownloadFailedError" in retried_errors(states["ArchiveBundle"])
    assert "DownloadFailedError" in retried_errors(states["ArchiveSession"])


def test_polling_waits_as_long_as_the_last_check_said(states: dict[str, dict[str, Any]]) -> None:
    assert states["WaitForBundleExport"]["SecondsPath"] == "$.export.waitSeconds"
    assert states["WaitForBundleExport"]["Next"] == "CheckBundleExport"
