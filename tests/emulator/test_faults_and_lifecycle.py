"""Contract tests of the emulator's injected faults, and of living beside moto, endpoints and shutdown."""

from __future__ import annotations

import socket
import threading

import boto3
import pytest
import requests
import urllib3
from botocore.client import BaseClient
from moto import mock_aws

from tests.emulator.exports import (
    APP_ID,
    CSV,
    INSTANCE,
    SESSION_ID,
    describe,
    error_of,
    fetch,
    finished_link,
    start_job,
)
from tests.local.emulator import ServiceEmulator

# ---------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------


def test_injected_throttling_is_parsed_by_boto3_with_retry_after(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    # Given a session and two injected throttles
    emulator.add_session(instance_id=INSTANCE, app_id=APP_ID, session_id=SESSION_ID, csv=CSV)
    emulator.inject_api_error(
        "ExportQAppSessionData", "ThrottlingException", status=429, times=2, retry_after_seconds=7
    )
    # When the export is called three times
    for _ in range(2):
        with pytest.raises(qapps.exceptions.ThrottlingException) as excinfo:
            qapps.export_q_app_session_data(instanceId=INSTANCE, sessionId=SESSION_ID)
        # Then boto3 raises the modeled exception with its fields and Retry-After
        error = error_of(excinfo)
        assert error["Error"]["Code"] == "ThrottlingException"
        assert error["retryAfterSeconds"] == 7
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"
    # And the third call, past the injected two, succeeds
    assert qapps.export_q_app_session_data(instanceId=INSTANCE, sessionId=SESSION_ID)["csvFileLink"]
    assert [r["status"] for r in emulator.requests_for("ExportQAppSessionData")] == [429, 429, 200]


def test_injected_quicksight_errors_use_the_quicksight_error_shape(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given an injected throttle on StartAssetBundleExportJob
    emulator.inject_api_error("StartAssetBundleExportJob", "ThrottlingException", status=429, message="Slow down")
    # When a job is started, Then boto3 raises QuickSight's ThrottlingException and no job starts
    with pytest.raises(quicksight.exceptions.ThrottlingException) as excinfo:
        start_job(quicksight)
    assert error_of(excinfo)["Error"]["Message"] == "Slow down"
    assert emulator.jobs() == {}
    start_job(quicksight)


def test_an_injected_error_answers_with_the_status_the_real_service_sends(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given QuickSight's AccessDeniedException injected without a status
    emulator.inject_api_error("StartAssetBundleExportJob", "AccessDeniedException")
    # When a job is started, Then it answers 401, as QuickSight's model says (Q Apps' is a 403)
    with pytest.raises(quicksight.exceptions.AccessDeniedException) as excinfo:
        start_job(quicksight)
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 401


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("StartAssetBundleExportJob", "AccessDeniedException", 403),  # QuickSight sends 401
        ("GetQApp", "AccessDeniedException", 401),  # Q Apps sends 403
        ("GetQApp", "SomethingNew", None),  # no model to take the status from
    ],
)
def test_injecting_an_answer_the_service_never_sends_is_a_mistake(
    emulator: ServiceEmulator, operation: str, code: str, status: int | None
) -> None:
    with pytest.raises(ValueError, match=code):
        emulator.inject_api_error(operation, code, status=status)


def test_injecting_an_unknown_operation_is_a_mistake(emulator: ServiceEmulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject_api_error("StartAssetBundleExport", "ThrottlingException", status=429)


def test_download_faults_expire_fail_and_truncate(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a valid link and one of each download fault
    link = finished_link(emulator, quicksight)
    size = len(emulator.bundle_bytes("job-1"))
    emulator.expire_next_downloads()
    emulator.fail_next_downloads(status=503)
    emulator.truncate_next_downloads(after_bytes=100)
    # When the link is fetched four times, Then: expired, SlowDown, cut short, whole
    expired = fetch(http, link)
    assert (expired.status, b"Request has expired" in expired.body) == (403, True)
    failed = fetch(http, link)
    assert (failed.status, b"<Code>SlowDown</Code>" in failed.body) == (503, True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        fetch(http, link)
    assert fetch(http, link).status == 200
    assert [(d["status"], d["bytes_sent"], d["content_length"]) for d in emulator.downloads()] == [
        (403, 0, len(expired.body)),
        (503, 0, len(failed.body)),
        (200, 100, size),
        (200, size, size),
    ]


# ---------------------------------------------------------------------------------------------
# Living with moto, environment endpoints, and shutdown
# ---------------------------------------------------------------------------------------------


def test_works_while_moto_mock_aws_is_active(emulator: ServiceEmulator) -> None:
    with mock_aws():
        # Given moto's S3 and the emulator side by side in one process
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        quicksight = emulator.client("quicksight")
        # When an export runs and its bundle is downloaded with requests, then stored in moto's S3
        start_job(quicksight)
        emulator.clock.advance(20)
        link = describe(quicksight)["DownloadUrl"]
        body = requests.get(link, timeout=5).content
        s3.put_object(Bucket="archive", Key="bundle.qs", Body=body)
        # Then moto passed the emulator's traffic through and the bytes arrived intact
        assert s3.get_object(Bucket="archive", Key="bundle.qs")["Body"].read() == emulator.bundle_bytes("job-1")
        with urllib3.PoolManager() as pool:
            assert pool.request("GET", link).data == body


def test_clients_find_the_emulator_through_environment_endpoints(
    emulator: ServiceEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the per-service endpoint variables point at the emulator
    monkeypatch.setenv("AWS_ENDPOINT_URL_QUICKSIGHT", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_QAPPS", emulator.endpoint_url)
    emulator.add_qapp(instance_id=INSTANCE, app_id=APP_ID, title="Survey")
    kwargs = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    # When clients are created without endpoint_url, Then they reach the emulator
    start_job(boto3.client("quicksight", **kwargs))
    assert boto3.client("qapps", **kwargs).get_q_app(instanceId=INSTANCE, appId=APP_ID)["title"] == "Survey"


def test_stop_closes_the_port_and_leaves_no_threads() -> None:
    # Given a started emulator with an open keep-alive connection
    before = set(threading.enumerate())
    emulator = ServiceEmulator().start()
    port = int(emulator.endpoint_url.rsplit(":", 1)[1])
    client = emulator.client("quicksight")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        describe(client)
    # When it stops (twice: stop is idempotent)
    emulator.stop()
    emulator.stop()
    # Then no thread of it survives and nothing listens on its port
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_emulators_keep_separate_state(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a job on one emulator, When another emulator runs, Then it knows nothing of it
    start_job(quicksight)
    with ServiceEmulator() as other:
        assert other.jobs() == {}
        with pytest.raises(quicksight.exceptions.ResourceNotFoundException):
            describe(other.client("quicksight"))
