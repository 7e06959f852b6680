"""What the steps publish: failures under a reason an operator can act on, and how long exports waited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from archiver.core import errors, metric_names, observability


@pytest.fixture(autouse=True)
def _clean_metrics() -> Iterator[None]:
    observability.metrics.clear_metrics()
    yield
    observability.metrics.clear_metrics()


def _published(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    observability.metrics.flush_metrics()
    document: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return document


def test_every_error_the_archiver_names_has_a_reason_an_operator_can_act_on() -> None:
    # Given every exception class a step may end with (its name is the state's Error)
    named = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ArchiverError) and value is not errors.ArchiverError
    ]
    # Then each maps to a reason, except those that never fail an item: bad input ends the run, a base class or a
    # configuration error is never raised for one item, and the Retry-After family is matched by its pattern
    not_item_failures = {"InvalidRunInputError", "InvalidRestoreInputError", "ConfigurationError", "RetryAfterError"}
    unmapped = [n for n in named if n not in not_item_failures and metric_names.failure_reason(n) == "Other"]
    assert unmapped == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("BundleExportFailed", "ExportRejected"),
        ("BundleExportTimedOutError", "ExportTimedOut"),
        ("AccessDeniedException", "AccessDenied"),
        ("UnauthorizedException", "AccessDenied"),
        ("ThrottlingException", "Throttled"),
        ("DisallowedLinkError", "LinkRefused"),
        ("ChecksumMismatchError", "DownloadFailed"),
        # the archiver's own names for service errors, as the fault matrix's items fail with them
        ("RetryAfter30sError", "Throttled"),
        ("ServiceBusyError", "ServiceError"),
        ("ResourceNotFoundError", "NotFound"),
        ("PermissionDeniedError", "AccessDenied"),
        ("QAppsIdentityError", "AccessDenied"),
        ("ResourceConflictError", "Conflict"),
        ("UploadRejectedError", "UploadFailed"),
        ("SomethingNobodyForesaw", "Other"),
    ],
)
def test_a_failed_item_is_counted_under_a_fixed_reason(
    error: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    observability.count_failure("bundle", error)

    document = _published(capsys)
    assert document[metric_names.ITEMS_FAILED] in (1, [1])
    assert document[metric_names.REASON] == reason
    assert document[metric_names.ITEM_KIND] == "bundle"
    assert reason in metric_names.REASONS


def test_an_archived_export_reports_how_long_it_waited_since_it_was_ready(capsys: pytest.CaptureFixture[str]) -> None:
    # Given an export job first seen SUCCESSFUL at t=1000
    with mock.patch.object(observability.time, "time", return_value=1000.0):
        ready_at = observability.export_ready_at(None, ready=True)
    # And later polls keep that first moment
    assert observability.export_ready_at(ready_at, ready=True) == 1000.0

    # When its bundle is archived at t=1042.5
    with mock.patch.object(observability.time, "time", return_value=1042.5):
        observability.count_artifact("bundle", 10, already_archived=False, ready_at=ready_at)

    # Then the wait is published in seconds
    document = _published(capsys)
    assert document[metric_names.EXPORT_READY_TO_ARCHIVED] in (42.5, [42.5])
    units = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units[metric_names.EXPORT_READY_TO_ARCHIVED] == "Seconds"


def test_an_export_not_yet_ready_has_no_ready_time_and_a_repeat_reports_no_wait(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert observability.export_ready_at(None, ready=False) is None

    observability.count_artifact("session", 10, already_archived=True, ready_at=observability.time.time())

    assert metric_names.EXPORT_READY_TO_ARCHIVED not in _published(capsys)
