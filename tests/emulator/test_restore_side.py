"""The emulator's restore side, through real boto3 clients and real HTTP: import jobs, presigned uploads."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.local.emulator import ServiceEmulator, cards_with_file_upload, file_upload_card_id, text_input_card_id

ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP_ID = "0f5e7a52-3c1d-4b6e-9a8f-2d4c6e8a0b1c"
SESSION_ID = "7d3f2a10-5b6c-4e8d-9f01-23456789abcd"
CONTENT = b"a reference document\r\n--not a boundary\r\n" * 100


def bundle(*members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in members:
            archive.writestr(member, json.dumps({"name": member}))
    return buffer.getvalue()


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as emu:
        emu.add_qapp(instance_id=INSTANCE, app_id=APP_ID, title="Survey", cards=cards_with_file_upload(APP_ID))
        emu.add_session(instance_id=INSTANCE, app_id=APP_ID, session_id=SESSION_ID, csv=b"")
        yield emu


def presign(qapps: BaseClient, *, content: bytes = CONTENT, **overrides: Any) -> dict[str, Any]:
    request = {
        "instanceId": INSTANCE,
        "appId": APP_ID,
        "cardId": file_upload_card_id(APP_ID),
        "fileContentsSha256": b64_sha256(content),
        "fileName": "reference.txt",
        "scope": "APPLICATION",
        **overrides,
    }
    response: dict[str, Any] = qapps.create_presigned_url(**request)
    return response


def post(url: str, fields: dict[str, str], content: bytes) -> urllib3.BaseHTTPResponse:
    # A browser-style form: the fields, then the file last.
    return urllib3.request("POST", url, fields={**fields, "file": ("reference.txt", content)}, retries=False)


def test_a_presigned_upload_stores_the_file_once_checksum_checked(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    # Given a presigned form for a file-upload card
    presigned = presign(qapps)
    fields = presigned["presignedUrlFields"]
    assert fields["x-amz-checksum-sha256"] == b64_sha256(CONTENT)
    assert presigned["presignedUrlExpiration"].timestamp() == emulator.clock.now() + emulator.link_ttl_seconds

    # When the file is posted with it
    response = post(presigned["presignedUrl"], fields, CONTENT)

    # Then S3 answers 204 and the emulator holds the exact bytes, for that card
    assert response.status == 204
    (upload,) = emulator.uploaded_files()
    assert upload["bytes"] == CONTENT and upload["sha256"] == b64_sha256(CONTENT)
    assert (upload["fileId"], upload["cardId"], upload["scope"]) == (
        presigned["fileId"],
        file_upload_card_id(APP_ID),
        "APPLICATION",
    )
    # And a form is good for one upload
    assert post(presigned["presignedUrl"], fields, CONTENT).status == 403


def test_the_policy_binds_the_checksum_and_the_expiry(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    presigned = presign(qapps)
    url, fields = presigned["presignedUrl"], presigned["presignedUrlFields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"x-amz-checksum-sha256": b64_sha256(CONTENT)} in policy["conditions"]

    # Other bytes than the checksum announced are refused
    wrong = post(url, fields, CONTENT + b"!")
    assert (wrong.status, b"BadDigest" in wrong.data) == (400, True)
    # A changed checksum field breaks the policy
    tampered = post(url, {**fields, "x-amz-checksum-sha256": b64_sha256(b"other")}, b"other")
    assert tampered.status == 403
    # And once the clock passes the expiry, the form is refused
    emulator.clock.advance(emulator.link_ttl_seconds + 1)
    expired = post(url, fields, CONTENT)
    assert (expired.status, b"Policy expired" in expired.data) == (403, True)
    assert emulator.uploaded_files() == []


def test_session_scope_needs_a_known_session(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    presigned = presign(qapps, scope="SESSION", sessionId=SESSION_ID)
    assert post(presigned["presignedUrl"], presigned["presignedUrlFields"], CONTENT).status == 204
    assert emulator.uploaded_files()[0]["sessionId"] == SESSION_ID

    with pytest.raises(ClientError) as unknown:
        presign(qapps, scope="SESSION", sessionId="7d3f2a10-5b6c-4e8d-9f01-000000000000")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as missing:
        presign(qapps, scope="SESSION")
    assert missing.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cardId": text_input_card_id(APP_ID)}, "is not a file upload card"),
        ({"cardId": "7d3f2a10-5b6c-4e8d-9f01-000000000000"}, "was not found in QApp"),
        ({"fileName": "x" * 101}, "at most 100 characters"),
        ({"fileContentsSha256": "not-base64"}, "Base64 SHA-256"),
    ],
)
def test_create_presigned_url_refuses_what_the_service_refuses(
    qapps: BaseClient, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        presign(qapps, **overrides)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert message in refused.value.response["Error"]["Message"]


def test_rejected_uploads_store_nothing(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    emulator.reject_next_uploads(status=503)
    presigned = presign(qapps)
    assert post(presigned["presignedUrl"], presigned["presignedUrlFields"], CONTENT).status == 503
    assert emulator.uploaded_files() == []


def test_an_inline_import_moves_through_its_statuses_on_the_virtual_clock(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given an import of a bundle sent inline, with a prefix for every resource id
    body = bundle("dashboard/sales.json", "dataset/orders.json")
    started = quicksight.start_asset_bundle_import_job(
        AwsAccountId=ACCOUNT,
        AssetBundleImportJobId="restore-1-0",
        AssetBundleImportSource={"Body": body},
        OverrideParameters={"ResourceIdOverrideConfiguration": {"PrefixForAllResources": "drill-"}},
        FailureAction="ROLLBACK",
    )
    assert started["Arn"].endswith(":asset-bundle-import-job/restore-1-0")

    def status() -> str:
        job = quicksight.describe_asset_bundle_import_job(AwsAccountId=ACCOUNT, AssetBundleImportJobId="restore-1-0")
        return str(job["JobStatus"])

    # Then it is queued, runs, and succeeds as the clock moves
    assert status() == "QUEUED_FOR_IMMEDIATE_EXECUTION"
    emulator.clock.advance(2)
    assert status() == "IN_PROGRESS"
    # And a second start of the same job while it runs is a conflict
    with pytest.raises(ClientError) as conflict:
        quicksight.start_asset_bundle_import_job(
            AwsAccountId=ACCOUNT, AssetBundleImportJobId="restore-1-0", AssetBundleImportSource={"Body": body}
        )
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    emulator.clock.advance(emulator.import_duration_seconds)
    assert status() == "SUCCESSFUL"
    job = emulator.import_jobs()["restore-1-0"]
    assert (job["source"], job["bundle_sha256"]) == ("inline", hashlib.sha256(body).hexdigest())
    assert job["resources"] == ["dashboard/sales", "dataset/orders"]
    assert job["restored_ids"] == ["dashboard/drill-sales", "dataset/drill-orders"]


def test_an_import_reads_its_s3_uri_and_a_bad_bundle_fails_with_errors(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        s3.put_object(Bucket="archive", Key="quicksight/b.qs", Body=bundle("analysis/a.json"))
        s3.put_object(Bucket="archive", Key="quicksight/bad.qs", Body=b"not a zip")
        for job_id, key in (("good", "quicksight/b.qs"), ("bad", "quicksight/bad.qs")):
            quicksight.start_asset_bundle_import_job(
                AwsAccountId=ACCOUNT,
                AssetBundleImportJobId=job_id,
                AssetBundleImportSource={"S3Uri": f"s3://archive/{key}"},
                FailureAction="ROLLBACK",
            )
        with pytest.raises(ClientError) as unreadable:
            quicksight.start_asset_bundle_import_job(
                AwsAccountId=ACCOUNT,
                AssetBundleImportJobId="missing",
                AssetBundleImportSource={"S3Uri": "s3://archive/quicksight/missing.qs"},
            )
    assert unreadable.value.response["Error"]["Code"] == "AccessDeniedException"
    emulator.clock.advance(emulator.import_duration_seconds)
    jobs = emulator.import_jobs()
    assert (jobs["good"]["status"], jobs["good"]["resources"]) == ("SUCCESSFUL", ["analysis/a"])
    assert jobs["good"]["s3_uri"] == "s3://archive/quicksight/b.qs"
    bad = quicksight.describe_asset_bundle_import_job(AwsAccountId=ACCOUNT, AssetBundleImportJobId="bad")
    assert bad["JobStatus"] == "FAILED_ROLLBACK_COMPLETED"
    assert bad["Errors"][0]["Message"] == "Not a bundle."
