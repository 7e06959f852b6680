"""Archive, then restore: what an operator sees come back, and what a bad restore request is told."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from archiver.core import layout
from tests.local.demo import demo_input, seed_emulator
from tests.local.emulator import ServiceEmulator, VirtualClock, file_upload_card_id, text_input_card_id
from tests.local.engine import ExecutionResult, LocalStepFunctions, local_environment
from tests.local.template import LOCAL_REGION, RESTORE_WORKFLOW, SynthesizedWorkflow, load_workflow
from tests.workflow.conftest import BUCKET, LocalArchive

INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP = "9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53"
SESSION = "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"
DRILL_SESSION = "4c8e2a6b-9d1f-4e3a-8b5c-7d9e1f3a5b7c"
# Anything that would betray the upload form: its signature, policy or the upload endpoint.
UPLOAD_CREDENTIAL = re.compile(r"x-amz-signature|x-amz-credential|\"policy\"|qapps-uploads-", re.IGNORECASE)


class Restorer:
    """The restore state machine deployed beside the archive's, on the same engine and bucket."""

    def __init__(self, archive: LocalArchive, template: dict[str, Any]) -> None:
        self.archive = archive
        workflow = load_workflow(template, bucket_name=BUCKET, construct=RESTORE_WORKFLOW)
        self.arn = archive.engine.add_state_machine(workflow, "restore-local")

    def run(self, document: Any, *, name: str = "restore-1") -> ExecutionResult:
        return self.archive.engine.run(document, name=name, state_machine_arn=self.arn)

    def report(self, name: str = "restore-1") -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.archive.read(layout.restore_report_key(name)))
        return report


@pytest.fixture
def restorer(archive: LocalArchive, synthesized_template: dict[str, Any]) -> Restorer:
    return Restorer(archive, synthesized_template)


def last_nights_plan() -> dict[str, Any]:
    """The demo plan's bundles and one of its sessions (with its app)."""
    document = demo_input()
    document["qapps"] = {**document["qapps"], "sessions": document["qapps"]["sessions"][:1], "apps": [APP]}
    return document


@pytest.fixture(scope="module")
def last_nights_archive(synthesized_workflow: SynthesizedWorkflow) -> dict[str, tuple[bytes, str]]:
    """Last night's archive, archived once per module by the real run: every key, with its bytes and tags."""
    clock = VirtualClock()
    document = last_nights_plan()
    with ServiceEmulator(clock=clock) as emulator:
        seed_emulator(emulator, document)
        environment = local_environment(synthesized_workflow, bucket=BUCKET, endpoint=emulator.endpoint_url)
        with LocalStepFunctions(synthesized_workflow, clock=clock, environment=environment) as engine:
            s3 = boto3.client("s3", region_name=LOCAL_REGION)
            s3.create_bucket(Bucket=BUCKET)
            assert engine.run(document, name="nightly-1").status == "SUCCEEDED"
            objects = {}
            for entry in s3.list_objects_v2(Bucket=BUCKET)["Contents"]:
                tags = s3.get_object_tagging(Bucket=BUCKET, Key=entry["Key"])["TagSet"]
                body = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
                objects[entry["Key"]] = (body, urlencode({tag["Key"]: tag["Value"] for tag in tags}))
    return objects


@pytest.fixture
def archived(archive: LocalArchive, last_nights_archive: dict[str, tuple[bytes, str]]) -> LocalArchive:
    """The archive as last night's run left it, and the services it archived from."""
    seed_emulator(archive.emulator, last_nights_plan())
    for key, (body, tagging) in last_nights_archive.items():
        archive.s3.put_object(Bucket=BUCKET, Key=key, Body=body, Tagging=tagging)
    return archive


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def finance_bundle(**options: Any) -> dict[str, Any]:
    return {"from": {"manifest": "nightly-1", "itemId": "bundle/finance"}, **options}


def session_file(**options: Any) -> dict[str, Any]:
    return {
        "from": {"manifest": "nightly-1", "itemId": f"session/{SESSION}"},
        "appId": APP,
        "cardId": file_upload_card_id(APP),
        "fileName": "survey-answers.csv",
        **options,
    }


def request(*, bundles: list[dict[str, Any]] = (), files: list[dict[str, Any]] = (), **top: Any) -> dict[str, Any]:  # type: ignore[assignment]
    document: dict[str, Any] = dict(top)
    if bundles:
        document["quicksight"] = {"bundles": list(bundles)}
    if files:
        document["qapps"] = {"instanceId": INSTANCE, "files": list(files)}
    return document


def artifact_key(archive: LocalArchive, item_id: str) -> str:
    return next(a["key"] for a in archive.manifest("nightly-1")["artifacts"] if a["itemId"] == item_id)


def test_a_restore_puts_back_byte_identical_content(archived: LocalArchive, restorer: Restorer) -> None:
    # Given last night's archive, and a request naming its finance bundle and a session's answers
    emulator = archived.emulator
    bundle_bytes = archived.read(artifact_key(archived, "bundle/finance"))
    csv_bytes = archived.read(artifact_key(archived, f"session/{SESSION}"))

    # When the restore runs
    result = restorer.run(request(bundles=[finance_bundle()], files=[session_file()]))

    # Then it succeeds, and says so in a short summary
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {
        "restoreId": "restore-1",
        "mode": "restore",
        "items": 2,
        "restored": 2,
        "validated": 0,
        "failed": 0,
        "reportBucket": BUCKET,
        "reportKey": "restores/restore-1.json",
    }
    # And Q Apps received the archived CSV, byte for byte, as the card's default file, checksum checked
    (upload,) = emulator.uploaded_files()
    assert upload["bytes"] == csv_bytes
    assert upload["sha256"] == b64_sha256(csv_bytes)
    assert (upload["appId"], upload["cardId"], upload["scope"]) == (APP, file_upload_card_id(APP), "APPLICATION")
    assert upload["fileName"] == "survey-answers.csv"
    # And QuickSight imported the archived bundle, sent inline (it is small), with every resource, over the originals
    (job,) = emulator.import_jobs().values()
    assert job["status"] == "SUCCESSFUL"
    assert (job["source"], job["bundle_sha256"]) == ("inline", hashlib.sha256(bundle_bytes).hexdigest())
    assert job["restored_ids"] == job["resources"] == ["dashboard/finance-overview", "analysis/finance-drilldown"]
    assert job["failure_action"] == "ROLLBACK"
    # And the report says where each item came from and where it went, with the file's id
    report = restorer.report()
    by_kind = {item["kind"]: item for item in report["items"]}
    assert by_kind["file"]["result"]["fileId"] == upload["fileId"]
    assert by_kind["bundle"]["source"]["key"] == artifact_key(archived, "bundle/finance")
    assert by_kind["bundle"]["result"]["resources"] == job["resources"]
    # And the upload form (a credential) appears in no state, log or report
    history = json.dumps(result.history, default=str)
    for text in (history, archived.logs(), json.dumps(report)):
        assert not UPLOAD_CREDENTIAL.search(text)


def test_a_drill_restores_beside_the_originals_and_reports(archived: LocalArchive, restorer: Restorer) -> None:
    # Given a drill session for the app, and last night's archive named as "latest"
    emulator = archived.emulator
    emulator.add_session(instance_id=INSTANCE, app_id=APP, session_id=DRILL_SESSION, csv=b"")
    latest_bundle = {"from": {"manifest": "latest", "itemId": "bundle/operations"}, "importSource": "s3Uri"}

    # When a drill runs, the bundle read by QuickSight from the archive
    document = request(
        mode="drill",
        drill={"resourcePrefix": "drill-", "sessionId": DRILL_SESSION},
        bundles=[latest_bundle],
        files=[session_file(scope="APPLICATION")],
    )
    result = restorer.run(document, name="drill-1")

    # Then every resource id carries the drill prefix, so the originals are untouched
    assert result.status == "SUCCEEDED", result.cause
    (job,) = emulator.import_jobs().values()
    assert job["source"] == "s3Uri" and job["s3_uri"] == f"s3://{BUCKET}/{artifact_key(archived, 'bundle/operations')}"
    assert job["prefix"] == "drill-"
    assert job["restored_ids"] == ["dashboard/drill-ops-daily"]
    # And the file went to the drill session only, not to the app's default
    (upload,) = emulator.uploaded_files()
    assert (upload["scope"], upload["sessionId"]) == ("SESSION", DRILL_SESSION)
    # And the drill report records the proof
    report = restorer.report("drill-1")
    assert report["restore"]["mode"] == "drill"
    assert report["drill"] == {"resourcePrefix": "drill-", "sessionId": DRILL_SESSION}
    assert [item["status"] for item in report["items"]] == ["restored", "restored"]
    assert report["items"][0]["result"]["resourceIdPrefix"] == "drill-"


def test_validate_mode_checks_everything_and_changes_nothing(archived: LocalArchive, restorer: Restorer) -> None:
    # When only validating
    result = restorer.run(request(mode="validate", bundles=[finance_bundle()], files=[session_file()]), name="v-1")

    # Then nothing is imported or uploaded
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["validated"] == 2 and result.output["restored"] == 0
    assert archived.emulator.import_jobs() == {} and archived.emulator.uploaded_files() == []
    assert archived.emulator.requests_for("CreatePresignedUrl") == []
    # But the report lists what the bundle holds (it opens as a zip) and the card that would take the file
    items = restorer.report("v-1")["items"]
    assert items[0]["result"]["resources"] == ["dashboard/finance-overview", "analysis/finance-drilldown"]
    assert items[1]["target"]["cardId"] == file_upload_card_id(APP)
    assert [item["status"] for item in items] == ["validated", "validated"]


def test_a_bad_request_is_refused_naming_every_field_before_anything_is_uploaded(
    archived: LocalArchive, restorer: Restorer
) -> None:
    # Given a request with an unknown key, a wrong card, a bad id, a name too long and a session without scope
    document = request(
        bundles=[{"from": {"key": "quicksight/123456789012/finance/2026-11-22/missing.qs"}}],
        files=[
            session_file(cardId=text_input_card_id(APP)),
            session_file(appId="not-a-uuid", fileName="x" * 101),
            session_file(sessionId=DRILL_SESSION),
            session_file(**{"from": {"manifest": "nightly-1", "itemId": "session/unknown"}}),
        ],
    )

    # When it runs
    result = restorer.run(document, name="bad-1")

    # Then it ends at once, every problem named
    assert result.status == "FAILED" and result.error == "InvalidRestoreInput"
    cause = result.cause or ""
    assert "qapps.files[1].appId: expected a lower-case version 4 or 5 UUID" in cause
    assert "qapps.files[1].fileName: expected at most 100 characters, got 101" in cause
    # (schema problems come first: the archive and the targets are checked once the document is sound)
    fixed = request(
        bundles=[{"from": {"key": "quicksight/123456789012/finance/2026-11-22/missing.qs"}}],
        files=[
            session_file(cardId=text_input_card_id(APP)),
            session_file(sessionId=DRILL_SESSION),
            session_file(**{"from": {"manifest": "nightly-1", "itemId": "session/unknown"}}),
        ],
    )
    cause = restorer.run(fixed, name="bad-2").cause or ""
    assert (
        "quicksight.bundles[0].from.key: no archived object at 'quicksight/123456789012/finance/2026-11-22/missing.qs'"
        in cause
    )
    assert f"qapps.files[0].cardId: card {text_input_card_id(APP)} of app {APP} is a text-input card" in cause
    assert "qapps.files[1].sessionId: only allowed when scope is SESSION" in cause
    assert "qapps.files[2].from.itemId: no item 'session/unknown' in the manifest of run nightly-1" in cause
    # And nothing reached either service
    assert archived.emulator.import_jobs() == {} and archived.emulator.uploaded_files() == []


def test_an_archived_object_that_changed_is_not_restored(archived: LocalArchive, restorer: Restorer) -> None:
    # Given a session's archived CSV overwritten since it was archived
    key = artifact_key(archived, f"session/{SESSION}")
    archived.s3.put_object(Bucket=BUCKET, Key=key, Body=b"tampered")

    # When it is restored
    result = restorer.run(request(files=[session_file()]), name="tampered-1")

    # Then the restore is refused before anything is uploaded
    assert result.error == "InvalidRestoreInput"
    assert f"qapps.files[0].from: {key} does not match the SHA-256 recorded when it was archived" in (
        result.cause or ""
    )
    assert archived.emulator.requests_for("CreatePresignedUrl") == []


def test_a_bundle_too_big_to_send_inline_is_refused_and_auto_reads_it_from_s3(
    archive: LocalArchive, restorer: Restorer
) -> None:
    # Given an archived bundle of 21 MiB, more than an inline import takes
    document = {
        "quicksight": {
            "bundles": [{"name": "big", "resourceArns": ["arn:aws:quicksight:us-east-1:123456789012:dashboard/big"]}]
        }
    }
    seed_emulator(archive.emulator, document)
    archive.emulator.bundle_padding_bytes = 21 * 1024 * 1024
    assert archive.run(document, name="nightly-1").status == "SUCCEEDED"
    big = {"from": {"manifest": "nightly-1", "itemId": "bundle/big"}}

    # When it is asked for inline, the restore is refused before anything is sent
    refused = restorer.run(request(bundles=[{**big, "importSource": "inline"}]), name="inline-1")
    assert refused.error == "InvalidRestoreInput"
    assert re.search(
        r"quicksight\.bundles\[0\]\.importSource: quicksight/\S+/big/\S+\.qs is 22,0\d\d,\d{3} bytes \(22\.0 MB\), "
        r"more than an inline import takes \(20,971,520 bytes \(21\.0 MB\)\): use importSource s3Uri or auto",
        refused.cause or "",
    ), refused.cause
    assert archive.emulator.import_jobs() == {}

    # And with the default (auto) QuickSight reads it from the archive instead
    result = restorer.run(request(bundles=[big]), name="auto-1")
    assert result.status == "SUCCEEDED", result.cause
    (job,) = archive.emulator.import_jobs().values()
    assert job["source"] == "s3Uri"
    assert job["bundle_sha256"] == hashlib.sha256(archive.read(artifact_key(archive, "bundle/big"))).hexdigest()


def test_a_refused_upload_stores_nothing_and_says_why(archived: LocalArchive, restorer: Restorer) -> None:
    # Given an upload host that refuses the next upload
    archived.emulator.reject_next_uploads(status=403)

    # When a file and a bundle are restored
    result = restorer.run(request(bundles=[finance_bundle()], files=[session_file()]), name="refused-1")

    # Then the restore fails, the bundle is restored all the same, and no file is stored
    assert result.status == "FAILED" and result.error == "RestoreItemsFailed"
    assert json.loads(result.cause or "{}")["failed"] == 1
    assert archived.emulator.uploaded_files() == []
    (job,) = archived.emulator.import_jobs().values()
    assert job["status"] == "SUCCESSFUL"
    # And the report says why, without the upload form
    failed = next(item for item in restorer.report("refused-1")["items"] if item["status"] == "failed")
    assert failed["error"]["type"] == "UploadRejectedError"
    assert "answered HTTP 403 (AccessDenied: Access Denied); no file was stored" in failed["error"]["message"]
    assert not UPLOAD_CREDENTIAL.search(json.dumps(failed))


def test_a_failed_import_is_reported_with_quicksight_errors(archived: LocalArchive, restorer: Restorer) -> None:
    # Given QuickSight fails the next import (and rolls it back, as asked)
    archived.emulator.fail_next_imports(message="Data source warehouse: credentials are missing")

    # When a bundle is restored
    result = restorer.run(request(bundles=[finance_bundle()]), name="import-failed-1")

    # Then the restore fails, and the report says what QuickSight said
    assert result.status == "FAILED" and result.error == "RestoreItemsFailed"
    (item,) = restorer.report("import-failed-1")["items"]
    assert item["error"]["type"] == "BundleImportFailed"
    assert item["error"]["message"].startswith("FAILED_ROLLBACK_COMPLETED: ")
    assert "credentials are missing" in item["error"]["details"][0]["Message"]


def test_an_interrupted_upload_is_retried_with_a_fresh_form(archived: LocalArchive, restorer: Restorer) -> None:
    # Given an upload host that fails once with a 503
    archived.emulator.reject_next_uploads(status=503)

    # When a file is restored
    result = restorer.run(request(files=[session_file()]), name="retried-1")

    # Then the step is retried with a new form and the file arrives once
    assert result.status == "SUCCEEDED", result.cause
    assert len(archived.emulator.requests_for("CreatePresignedUrl")) == 2
    (upload,) = archived.emulator.uploaded_files()
    assert upload["bytes"] == archived.read(artifact_key(archived, f"session/{SESSION}"))


@pytest.mark.parametrize(
    ("operation", "retry_after"),
    [("StartAssetBundleImportJob", 20), ("DescribeAssetBundleImportJob", 20), ("CreatePresignedUrl", 40)],
)
def test_a_throttled_restore_waits_as_long_as_the_service_asked(
    archived: LocalArchive, restorer: Restorer, operation: str, retry_after: int
) -> None:
    # Given the service throttles the next call, asking to come back after a while
    archived.emulator.inject_api_error(operation, "ThrottlingException", retry_after_seconds=retry_after)

    # When a bundle and a file are restored
    result = restorer.run(request(bundles=[finance_bundle()], files=[session_file()]), name="throttled-1")

    # Then the restore succeeds, having called again no sooner than asked
    assert result.status == "SUCCEEDED", result.cause
    refused, again = archived.emulator.requests_for(operation)[:2]
    assert refused["status"] == 429 and again["time"] - refused["time"] >= retry_after


def test_a_quicksight_5xx_of_an_unlisted_code_is_retried_not_failed(archived: LocalArchive, restorer: Restorer) -> None:
    # Given QuickSight answers the next two describes 503 ResourceUnavailableException (a code no mapping lists)
    archived.emulator.inject_api_error("DescribeAssetBundleImportJob", "ResourceUnavailableException", times=2)

    # When a bundle is restored
    result = restorer.run(request(bundles=[finance_bundle()]), name="unavailable-1")

    # Then the import is polled again until it settles, and the bundle is restored
    assert result.status == "SUCCEEDED", result.cause
    statuses = [call["status"] for call in archived.emulator.requests_for("DescribeAssetBundleImportJob")]
    assert statuses[:3] == [503, 503, 200]
    (job,) = archived.emulator.import_jobs().values()
    assert job["status"] == "SUCCESSFUL"
