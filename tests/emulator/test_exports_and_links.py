"""Contract tests of the emulator's QuickSight exports and their links, through real boto3 clients and HTTP.

Nothing here sleeps: export jobs and link lifetimes follow the emulator's virtual clock.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.exports import (
    ACCOUNT,
    BROKEN_DASHBOARD,
    DASHBOARD,
    DATASET,
    describe,
    error_of,
    fetch,
    finished_link,
    start_job,
)
from tests.local.emulator import DEFAULT_EPOCH, ServiceEmulator, VirtualClock

# ---------------------------------------------------------------------------------------------
# Virtual clock
# ---------------------------------------------------------------------------------------------


def test_virtual_clock_starts_at_the_fixed_epoch_and_only_moves_forward() -> None:
    # Given a fresh clock
    clock = VirtualClock()
    # When it is advanced
    clock.advance(90)
    # Then it has moved exactly that far from the epoch, and refuses to go back
    assert clock.now() == DEFAULT_EPOCH + 90
    assert clock.now_datetime().isoformat() == "2026-11-22T03:01:30+00:00"
    with pytest.raises(ValueError):
        clock.advance(-1)


# ---------------------------------------------------------------------------------------------
# QuickSight export jobs
# ---------------------------------------------------------------------------------------------


def test_export_job_moves_through_its_statuses_and_serves_a_real_zip(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a started export job
    started = start_job(quicksight)
    assert started["Status"] == 202
    assert started["Arn"] == f"arn:aws:quicksight:us-east-1:{ACCOUNT}:asset-bundle-export-job/job-1"

    # When virtual time passes, Then the job is queued, runs, and succeeds after 20 s
    assert describe(quicksight)["JobStatus"] == "QUEUED_FOR_IMMEDIATE_EXECUTION"
    emulator.clock.advance(1)
    assert describe(quicksight)["JobStatus"] == "IN_PROGRESS"
    assert "DownloadUrl" not in describe(quicksight)
    emulator.clock.advance(19)
    described = describe(quicksight)
    assert described["JobStatus"] == "SUCCESSFUL"
    assert described["ResourceArns"] == [DASHBOARD]
    assert described["ExportFormat"] == "QUICKSIGHT_JSON"
    assert described["IncludeAllDependencies"] is True
    assert described["ValidationStrategy"] == {"StrictModeForAllResources": False}
    assert described["CreatedTime"].timestamp() == DEFAULT_EPOCH

    # And its link serves a zip of one JSON file per exported resource, the bytes of bundle_bytes
    fetched = fetch(http, described["DownloadUrl"])
    assert fetched.status == 200
    assert fetched.headers["Content-Length"] == str(len(fetched.body))
    assert fetched.body == emulator.bundle_bytes("job-1")
    assert urlsplit(described["DownloadUrl"]).path.endswith("/assetbundle-job-1.qs")
    with zipfile.ZipFile(io.BytesIO(fetched.body)) as bundle:
        assert bundle.testzip() is None
        assert sorted(bundle.namelist()) == ["dashboard/sales.json", "dataset/orders.json"]
        assert json.loads(bundle.read("dashboard/sales.json"))["arn"] == DASHBOARD
    assert emulator.downloads()[-1] | {"time": None} == {
        "path": urlsplit(described["DownloadUrl"]).path,
        "range": None,
        "status": 200,
        "bytes_sent": len(fetched.body),
        "content_length": len(fetched.body),
        "kind": "quicksight-bundle",
        "time": None,
    }


def test_download_link_looks_like_a_presigned_s3_url(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a finished job, When it is described
    link = finished_link(emulator, quicksight)
    # Then the link carries SigV4 query authentication valid for 300 s
    query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    assert list(query)[:5] == [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    ]
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].endswith("/20261122/us-east-1/s3/aws4_request")
    assert query["X-Amz-Date"] == "20261122T030020Z"
    assert query["X-Amz-Expires"] == "300"
    assert len(query["X-Amz-Signature"]) == 64
    int(query["X-Amz-Signature"], 16)


def test_every_describe_issues_a_fresh_link_valid_from_that_moment(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a finished job and a first link
    first = finished_link(emulator, quicksight)
    # When 200 s pass and the job is described again
    emulator.clock.advance(200)
    second = describe(quicksight)["DownloadUrl"]
    # Then the new link differs, and outlives the first one
    assert second != first
    emulator.clock.advance(150)
    assert fetch(http, first).status == 403
    assert fetch(http, second).status == 200


def test_link_expires_after_300_virtual_seconds(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a link issued now
    link = finished_link(emulator, quicksight)
    # When exactly 300 s pass, Then it still works
    emulator.clock.advance(300)
    assert fetch(http, link).status == 200
    # When one more second passes, Then S3 answers 403 "Request has expired"
    emulator.clock.advance(1)
    fetched = fetch(http, link)
    assert fetched.status == 403
    assert fetched.headers["Content-Type"] == "application/xml"
    assert b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>" in fetched.body
    assert b"<X-Amz-Expires>300</X-Amz-Expires>" in fetched.body
    # And a fresh describe gives a working link again
    assert fetch(http, describe(quicksight)["DownloadUrl"]).status == 200


def test_tampered_link_is_refused(emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager) -> None:
    # Given a valid link
    link = finished_link(emulator, quicksight)
    # When its expiry is stretched or its signature changed
    stretched = link.replace("X-Amz-Expires=300", "X-Amz-Expires=9999")
    forged = link[:-1] + ("0" if link[-1] != "0" else "1")
    # Then S3 refuses both with SignatureDoesNotMatch
    for bad in (stretched, forged):
        fetched = fetch(http, bad)
        assert fetched.status == 403
        assert b"<Code>SignatureDoesNotMatch</Code>" in fetched.body


@pytest.mark.parametrize("header", [{"Range": "bytes=100-"}, {"If-Match": '"0000"'}])
def test_a_download_asking_to_resume_is_refused_as_not_implemented(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager, header: dict[str, str]
) -> None:
    # Given a finished job's link, When part of it is asked for (the archiver never resumes a download)
    fetched = fetch(http, finished_link(emulator, quicksight), **header)
    # Then S3's NotImplemented answers, rather than bytes no test checks
    assert fetched.status == 501
    assert b"<Code>NotImplemented</Code>" in fetched.body
    assert emulator.downloads()[-1]["bytes_sent"] == 0


def test_padding_makes_a_large_valid_bundle_streamed_in_chunks(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given 21 MiB of padding, enough to need a multipart copy
    emulator.bundle_padding_bytes = 21 * 1024 * 1024
    link = finished_link(emulator, quicksight)
    # When the bundle is streamed
    response = http.request("GET", link, preload_content=False)
    digest, size, reads = hashlib.sha256(), 0, 0
    for chunk in response.stream(1024 * 1024):
        digest.update(chunk)
        size, reads = size + len(chunk), reads + 1
    response.release_conn()
    # Then it is the announced size, matches bundle_bytes, and is a zip holding the stored padding
    whole = emulator.bundle_bytes("job-1")
    assert size == int(response.headers["Content-Length"]) == len(whole) > 21 * 1024 * 1024
    assert digest.hexdigest() == hashlib.sha256(whole).hexdigest()
    with zipfile.ZipFile(io.BytesIO(whole)) as bundle:
        padding = bundle.getinfo("emulator-padding.bin")
        assert padding.file_size == padding.compress_size == 21 * 1024 * 1024
        assert padding.compress_type == zipfile.ZIP_STORED
        assert bundle.testzip() is None


def test_unknown_arn_makes_the_job_fail_with_errors(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a job that exports an ARN the emulator does not know
    missing = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:analysis/ghost"
    start_job(quicksight, ResourceArns=[DASHBOARD, missing])
    # When it finishes
    emulator.clock.advance(20)
    described = describe(quicksight)
    # Then it failed, naming the ARN, and offers no link
    assert described["JobStatus"] == "FAILED"
    assert "DownloadUrl" not in described
    assert [(e["Arn"], e["Type"]) for e in described["Errors"]] == [(missing, "ResourceNotFoundException")]
    assert missing in described["Errors"][0]["Message"]


def test_strict_validation_fails_and_relaxed_validation_warns(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a dashboard that fails strict validation, exported strictly and relaxed
    start_job(
        quicksight,
        "strict",
        ResourceArns=[BROKEN_DASHBOARD],
        ValidationStrategy={"StrictModeForAllResources": True},
    )
    start_job(
        quicksight,
        "relaxed",
        ResourceArns=[BROKEN_DASHBOARD],
        ValidationStrategy={"StrictModeForAllResources": False},
    )
    # When both finish
    emulator.clock.advance(20)
    strict, relaxed = describe(quicksight, "strict"), describe(quicksight, "relaxed")
    # Then the strict one failed like QuickSight does, and the relaxed one succeeded with a warning
    assert strict["JobStatus"] == "FAILED"
    assert strict["Errors"][0]["Arn"] == BROKEN_DASHBOARD
    assert "has associated errors and cannot be exported" in strict["Errors"][0]["Message"]
    assert "Warnings" not in strict
    assert relaxed["JobStatus"] == "SUCCESSFUL"
    assert [w["Arn"] for w in relaxed["Warnings"]] == [BROKEN_DASHBOARD]
    assert fetch(http, relaxed["DownloadUrl"]).status == 200


def test_starting_a_running_job_id_conflicts_but_a_finished_one_can_be_reused(
    emulator: ServiceEmulator, quicksight: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a running job
    start_job(quicksight)
    # When its id is used again while it runs, Then QuickSight answers ConflictException (409)
    with pytest.raises(quicksight.exceptions.ConflictException) as excinfo:
        start_job(quicksight)
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 409
    # When it has finished, Then the id starts a new job, and the old job's link keeps its bundle
    emulator.clock.advance(20)
    first_bundle_link = describe(quicksight)["DownloadUrl"]
    first_bundle = emulator.bundle_bytes("job-1")
    start_job(quicksight, ResourceArns=[DATASET], IncludeAllDependencies=False)
    assert describe(quicksight)["JobStatus"] == "QUEUED_FOR_IMMEDIATE_EXECUTION"
    assert fetch(http, first_bundle_link).body == first_bundle
    emulator.clock.advance(20)
    with zipfile.ZipFile(io.BytesIO(emulator.bundle_bytes("job-1"))) as bundle:
        assert bundle.namelist() == ["dataset/orders.json"]


def test_more_than_five_running_jobs_exceed_the_limit(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given five running jobs
    for index in range(5):
        start_job(quicksight, f"job-{index}")
    # When a sixth starts, Then QuickSight answers LimitExceededException
    with pytest.raises(quicksight.exceptions.LimitExceededException):
        start_job(quicksight, "job-5")
    # When the five have finished, Then there is room again
    emulator.clock.advance(20)
    start_job(quicksight, "job-5")
    assert emulator.jobs()["job-5"]["status"] == "QUEUED_FOR_IMMEDIATE_EXECUTION"
    assert {job["status"] for name, job in emulator.jobs().items() if name != "job-5"} == {"SUCCESSFUL"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"AwsAccountId": "12345678901x"},
        {"AssetBundleExportJobId": "has spaces"},
        {"AssetBundleExportJobId": "j" * 513},
        {"ResourceArns": [f"{DASHBOARD}-{i}" for i in range(101)]},
        {"ResourceArns": []},
        {"ExportFormat": "YAML"},
    ],
    ids=["account", "job-id-pattern", "job-id-length", "101-arns", "0-arns", "format"],
)
def test_invalid_start_arguments_are_rejected(emulator: ServiceEmulator, overrides: dict[str, Any]) -> None:
    # Given a client that skips its own checks, so the emulator sees the bad value
    client = emulator.client("quicksight", config=Config(parameter_validation=False))
    # When the job is started, Then QuickSight answers InvalidParameterValueException (400)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as excinfo:
        start_job(client, **overrides)
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert emulator.jobs() == {}


def test_describing_an_unknown_job_is_not_found(quicksight: BaseClient) -> None:
    # Given no job, When one is described, Then QuickSight answers ResourceNotFoundException (404)
    with pytest.raises(quicksight.exceptions.ResourceNotFoundException) as excinfo:
        describe(quicksight, "nope")
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_job_descriptions_expire_after_14_days(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a job, When 14 days and a second pass, Then it can no longer be described
    start_job(quicksight)
    emulator.clock.advance(14 * 24 * 3600 + 1)
    with pytest.raises(quicksight.exceptions.ResourceNotFoundException):
        describe(quicksight)


def test_export_duration_can_be_set_per_resource(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given exports of the sales dashboard take two minutes
    emulator.set_export_duration("dashboard/sales", 120)
    start_job(quicksight, "slow")
    start_job(quicksight, "fast", ResourceArns=[DATASET])
    # When 20 s pass, Then only the other job is done; after 120 s both are
    emulator.clock.advance(20)
    assert (describe(quicksight, "slow")["JobStatus"], describe(quicksight, "fast")["JobStatus"]) == (
        "IN_PROGRESS",
        "SUCCESSFUL",
    )
    emulator.clock.advance(100)
    assert describe(quicksight, "slow")["JobStatus"] == "SUCCESSFUL"


def test_requests_are_recorded_with_their_parsed_input(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a started job
    start_job(quicksight, IncludePermissions=True)
    # When the emulator is asked what it received
    (recorded,) = emulator.requests_for("StartAssetBundleExportJob")
    # Then it has the input by botocore's names, and who signed it
    assert recorded["params"] == {
        "AwsAccountId": ACCOUNT,
        "AssetBundleExportJobId": "job-1",
        "ResourceArns": [DASHBOARD],
        "ExportFormat": "QUICKSIGHT_JSON",
        "IncludeAllDependencies": True,
        "IncludePermissions": True,
    }
    assert recorded["access_key_id"] == "x"
    assert recorded["status"] == 202


def test_unimplemented_operations_fail_loudly(quicksight: BaseClient) -> None:
    # Given an operation the emulator does not implement, When it is called, Then it is a clear 404
    with pytest.raises(ClientError) as excinfo:
        quicksight.list_topics(AwsAccountId=ACCOUNT)
    assert error_of(excinfo)["Error"]["Code"] == "UnknownOperationException"
