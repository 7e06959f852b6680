"""Every fault the services and the network can throw, one row each, on the real state machine.

Each row injects its fault through the emulator (or the S3 hooks), runs the synthesized
definition on the ASL engine with virtual time, and checks what an operator would see: how the
run ended, each item's entry in the manifest and its reason, what is in the archive, and how
often the service was called (and how long the run waited) before giving up or succeeding.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from archiver.archive.run_input import export_job_id
from archiver.core import clients, layout
from archiver.core.settings import get_settings
from tests.local.demo import seed_emulator
from tests.local.s3_faults import LambdaTimedOut, S3Faults
from tests.local.template import LOCAL_REGION, for_local_engine
from tests.workflow.conftest import BUCKET, LocalArchive

ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
SESSION = "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"
DASHBOARD = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/d-1"
BUNDLE_ITEM, SESSION_ITEM, APP_ITEM = "bundle/finance", f"session/{SESSION}", f"app/{APP}"
BUNDLE_KEY_PREFIX = f"quicksight/{ACCOUNT}/finance/"
MIB = 1024 * 1024
QUICKSIGHT_EXPORT_CALLS = ("StartAssetBundleExportJob", "DescribeAssetBundleExportJob")

BUNDLE_ONLY = {"quicksight": {"bundles": [{"name": "finance", "resourceArns": [DASHBOARD]}]}}
SESSION_ONLY = {"qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": SESSION}]}}
APP_ONLY = {"qapps": {"instanceId": INSTANCE, "apps": [APP]}}
EVERYTHING = {**BUNDLE_ONLY, **SESSION_ONLY}
JOB = export_job_id("run-1", "finance")
# The export options BUNDLE_ONLY's bundle asks for (the run input's defaults).
BUNDLE_OPTIONS = {
    "ExportFormat": "QUICKSIGHT_JSON",
    "IncludeAllDependencies": True,
    "IncludePermissions": False,
    "IncludeTags": False,
    "ValidationStrategy": {"StrictModeForAllResources": True},
}


@pytest.fixture(autouse=True)
def _short_download_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stalled download is noticed by the copy's own read timeout: keep it short (real time).
    monkeypatch.setenv("TRANSFER_READ_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("TRANSFER_CONNECT_TIMEOUT_SECONDS", "1")


@dataclass(frozen=True)
class Fault:
    """One row: the fault, the run it hits, and what the operator sees."""

    inject: Callable[[LocalArchive], None]
    document: dict[str, Any] = field(default_factory=lambda: BUNDLE_ONLY)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Item -> (reason type, text its message must hold); every other item is archived."""
    calls: dict[str, int] = field(default_factory=dict)
    """Operation (or "download") -> how many times it was called."""
    waited_at_least: tuple[str, float] | None = None
    """(operation, seconds): virtual time between its failed call and the next one."""
    multipart: bool = False
    check: Callable[[LocalArchive, dict[str, Any]], None] | None = None
    seed: dict[str, Any] | None = None
    """What the services hold, when not everything the document names."""


def api_error(operation: str, code: str, status: int, *, times: int = 1, retry_after: int | None = None) -> Any:
    def inject(archive: LocalArchive) -> None:
        archive.emulator.inject_api_error(operation, code, status=status, times=times, retry_after_seconds=retry_after)

    return inject


# What each operation archives, in a run of that item alone.
RUN_OF: dict[str, tuple[dict[str, Any], str]] = {
    "StartAssetBundleExportJob": (BUNDLE_ONLY, BUNDLE_ITEM),
    "ExportQAppSessionData": (SESSION_ONLY, SESSION_ITEM),
    "GetQApp": (APP_ONLY, APP_ITEM),
}


def fails_at_once(
    operation: str, code: str, status: int, *, reason: str, says: str, retry_after: int | None = None
) -> Fault:
    """An answer no retry can mend: the item fails after that one call, the message saying ``says``."""
    document, item = RUN_OF[operation]
    return Fault(
        api_error(operation, code, status, retry_after=retry_after),
        document=document,
        failed={item: (reason, says)},
        calls={operation: 1},
    )


def start_job_first(*resource_arns: str, **options: Any) -> Callable[[LocalArchive], None]:
    """Someone (an earlier attempt, or another run) already runs the bundle's export job, with ``options``."""

    def inject(archive: LocalArchive) -> None:
        archive.emulator.set_export_duration(JOB, 20)
        for arn in resource_arns:
            archive.emulator.add_quicksight_resource(arn)
        quicksight = boto3.client("quicksight", endpoint_url=archive.emulator.endpoint_url, region_name=LOCAL_REGION)
        quicksight.start_asset_bundle_export_job(
            AwsAccountId=ACCOUNT,
            AssetBundleExportJobId=JOB,
            ResourceArns=list(resource_arns),
            **{**BUNDLE_OPTIONS, **options},
        )

    return inject


def s3_fails(operation: str, **options: Any) -> Callable[[LocalArchive], None]:
    def inject(archive: LocalArchive) -> None:
        S3Faults(clients.s3()).fail(operation, **options)

    return inject


def timed_out_mid_copy(archive: LocalArchive) -> None:
    # The function ends in the middle of a part; a function that timed out never aborts its upload.
    faults = S3Faults(clients.s3())
    faults.fail("UploadPart", raises=LambdaTimedOut)
    faults.fail("AbortMultipartUpload")


def different_object_already_archived(archive: LocalArchive) -> None:
    key = f"{BUNDLE_KEY_PREFIX}{archive_date()}/{JOB}.qs"
    archive.s3.put_object(Bucket=BUCKET, Key=key, Body=b"someone else's bundle")


def archive_date() -> str:
    """The date in this run's keys: the execution's start date (the engine stamps real time)."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


def gets_warnings(archive: LocalArchive, manifest: dict[str, Any]) -> None:
    (artifact,) = manifest["artifacts"]
    assert artifact["warnings"] and "skipped by relaxed validation" in artifact["warnings"][0]["Message"]


def one_object(archive: LocalArchive, manifest: dict[str, Any]) -> None:
    (key,) = archive.keys(BUNDLE_KEY_PREFIX)
    assert len(archive.s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1


def keeps_the_original(archive: LocalArchive, manifest: dict[str, Any]) -> None:
    (key,) = archive.keys(BUNDLE_KEY_PREFIX)
    assert archive.read(key) == b"someone else's bundle"


def both(*faults: Callable[[LocalArchive], None]) -> Callable[[LocalArchive], None]:
    def inject(archive: LocalArchive) -> None:
        for fault in faults:
            fault(archive)

    return inject


def setting(name: str, value: str) -> Callable[[LocalArchive], None]:
    """Every step reads ``name`` as ``value`` (the engine restores the environment after the run)."""

    def inject(archive: LocalArchive) -> None:
        os.environ[name] = value
        get_settings.cache_clear()

    return inject


def step_dies(step: str, error_name: str) -> Callable[[LocalArchive], None]:
    """Every invocation of ``step`` (a handler's folder) fails as Lambda reports it, under ``error_name``."""
    died = type(error_name, (Exception,), {})

    def raise_in(handler: str, event: dict[str, Any]) -> None:
        if handler == step:
            raise died("the function ended before it returned")

    def inject(archive: LocalArchive) -> None:
        archive.engine.lambdas.fault = raise_in

    return inject


MATRIX: dict[str, Fault] = {
    # -- busy services: retried with back-off (and jitter), or as long as the service asked --------
    "quicksight-throttled-backoff": Fault(
        api_error("StartAssetBundleExportJob", "ThrottlingException", 429, times=2),
        calls={"StartAssetBundleExportJob": 3},
    ),
    "quicksight-internal-error-backoff": Fault(
        api_error("DescribeAssetBundleExportJob", "InternalServerException", 500, times=2),
        calls={"DescribeAssetBundleExportJob": 4},
    ),
    "quicksight-throttled-retry-after": Fault(
        api_error("DescribeAssetBundleExportJob", "ThrottlingException", 429, retry_after=20),
        calls={"DescribeAssetBundleExportJob": 3},
        waited_at_least=("DescribeAssetBundleExportJob", 20),
    ),
    "quicksight-export-slots-busy": Fault(
        api_error("StartAssetBundleExportJob", "LimitExceededException", 409, times=3),
        calls={"StartAssetBundleExportJob": 4},
    ),
    "qapps-throttled-retry-after": Fault(
        api_error("ExportQAppSessionData", "ThrottlingException", 429, retry_after=7),
        document=SESSION_ONLY,
        calls={"ExportQAppSessionData": 2},
        waited_at_least=("ExportQAppSessionData", 7),
    ),
    "qapps-internal-error-retry-after": Fault(
        api_error("GetQApp", "InternalServerException", 500, retry_after=3),
        document=APP_ONLY,
        calls={"GetQApp": 2},
        waited_at_least=("GetQApp", 3),
    ),
    "qapps-throttled-past-the-bound": Fault(
        api_error("GetQApp", "ThrottlingException", 429, times=50),
        document=APP_ONLY,
        failed={APP_ITEM: ("ServiceBusyError", f"Q Apps GetQApp for app {APP}")},
        calls={"GetQApp": 6},
    ),
    "qapps-retry-after-longer-than-a-run-waits": fails_at_once(
        "ExportQAppSessionData",
        "ThrottlingException",
        429,
        reason="RetryAfterTooLongError",
        says="asked to retry after 3600 s",
        retry_after=3600,
    ),
    # -- conflicts ---------------------------------------------------------------------------------
    "quicksight-conflict-same-job-still-running": Fault(
        start_job_first(DASHBOARD),
        calls={"StartAssetBundleExportJob": 2},
    ),
    "quicksight-conflict-other-resources": Fault(
        start_job_first(DASHBOARD.replace("d-1", "other")),
        failed={BUNDLE_ITEM: ("ResourceConflictError", f"export job {JOB} is QUEUED_FOR_IMMEDIATE_EXECUTION")},
        calls={"StartAssetBundleExportJob": 2},
    ),
    # The same resources exported with other options is another export: adopting it would keep a
    # bundle with tags (or without dependencies) as this one.
    "quicksight-conflict-other-options": Fault(
        start_job_first(DASHBOARD, IncludeTags=True),
        failed={BUNDLE_ITEM: ("ResourceConflictError", "for other resources or options (IncludeTags True)")},
        calls={"StartAssetBundleExportJob": 2},
    ),
    "qapps-conflict": fails_at_once(
        "ExportQAppSessionData",
        "ConflictException",
        409,
        reason="ResourceConflictError",
        says=f"session {SESSION} of app {APP}",
    ),
    # -- the item's own problem: fails at once, naming the resource ---------------------------------
    "quicksight-not-found": fails_at_once(
        "StartAssetBundleExportJob",
        "ResourceNotFoundException",
        404,
        reason="ResourceNotFoundError",
        says=f"bundle finance (export job {JOB}; {DASHBOARD})",
    ),
    "quicksight-invalid-parameter": fails_at_once(
        "StartAssetBundleExportJob",
        "InvalidParameterValueException",
        400,
        reason="RequestRejectedError",
        says=DASHBOARD,
    ),
    "qapps-not-found": fails_at_once(
        "ExportQAppSessionData",
        "ResourceNotFoundException",
        404,
        reason="ResourceNotFoundError",
        says=f"session {SESSION}",
    ),
    "qapps-validation": fails_at_once(
        "GetQApp", "ValidationException", 400, reason="RequestRejectedError", says=f"app {APP} (instance {INSTANCE})"
    ),
    "quicksight-job-failed-errors-in-manifest": Fault(
        lambda archive: None,
        seed=BUNDLE_ONLY,
        document={"quicksight": {"bundles": [{"name": "finance", "resourceArns": [DASHBOARD.replace("d-1", "gone")]}]}},
        failed={BUNDLE_ITEM: ("BundleExportFailed", "dashboard/gone: Resource")},
    ),
    "quicksight-job-warnings-in-manifest": Fault(
        lambda archive: None,
        document={
            "quicksight": {"bundles": [{"name": "finance", "resourceArns": [DASHBOARD], "strictValidation": False}]}
        },
        check=gets_warnings,
    ),
    # -- the deployment's problem: no retry, the message says what to fix ---------------------------
    "qapps-unauthorized": fails_at_once(
        "ExportQAppSessionData",
        "UnauthorizedException",
        401,
        reason="CredentialsRejectedError",
        says="Fix the credentials",
    ),
    "quicksight-access-denied": fails_at_once(
        "StartAssetBundleExportJob",
        "AccessDeniedException",
        401,  # QuickSight's status for it; Q Apps' is 403
        reason="PermissionDeniedError",
        says="allow quicksight:StartAssetBundleExportJob",
    ),
    "quicksight-unsupported-edition": fails_at_once(
        "StartAssetBundleExportJob",
        "UnsupportedUserEditionException",
        403,
        reason="UnsupportedEditionError",
        says="Enterprise edition",
    ),
    "qapps-quota-exceeded": fails_at_once(
        "GetQApp",
        "ServiceQuotaExceededException",
        402,
        reason="QuotaExceededError",
        says="raise L-EMULATED of qapps in Service Quotas",
    ),
    # -- faults in transit --------------------------------------------------------------------------
    "link-expired-refreshed": Fault(
        lambda archive: archive.emulator.expire_next_downloads(1),
        calls={"download": 2},
    ),
    "link-expired-every-time": Fault(
        lambda archive: archive.emulator.expire_next_downloads(4),
        failed={BUNDLE_ITEM: ("LinkExpiredError", "refused 4 links in a row")},
        calls={"download": 4},
    ),
    "link-expired-then-cut-off-mid-run": Fault(
        both(
            lambda a: a.emulator.expire_next_downloads(1),
            lambda a: a.emulator.truncate_next_downloads(1, after_bytes=100),
        ),
        calls={"download": 3},
    ),
    "download-truncated": Fault(
        lambda archive: archive.emulator.truncate_next_downloads(1, after_bytes=100),
        document=SESSION_ONLY,
        calls={"download": 2},
    ),
    "download-host-5xx": Fault(
        lambda archive: archive.emulator.fail_next_downloads(2, status=503),
        calls={"download": 3},
    ),
    "download-host-5xx-past-the-bound": Fault(
        lambda archive: archive.emulator.fail_next_downloads(20, status=500),
        failed={BUNDLE_ITEM: ("DownloadFailedError", "answered HTTP 500")},
        calls={"download": 6},
    ),
    "download-stalls-mid-body": Fault(
        lambda archive: archive.emulator.stall_next_downloads(1, after_bytes=100),
        calls={"download": 2},
    ),
    "download-stalls-before-answering": Fault(
        lambda archive: archive.emulator.stall_next_downloads(1, after_bytes=None),
        document=SESSION_ONLY,
        calls={"download": 2},
    ),
    "s3-fails-a-part": Fault(s3_fails("UploadPart"), multipart=True, calls={"download": 2}, check=one_object),
    "s3-fails-the-completion": Fault(
        s3_fails("CompleteMultipartUpload"), multipart=True, calls={"download": 2}, check=one_object
    ),
    "lambda-times-out-mid-copy": Fault(timed_out_mid_copy, multipart=True, calls={"download": 2}, check=one_object),
    "download-link-refused": Fault(
        setting("DOWNLOAD_ALLOWLIST", "https://*.amazonaws.com"),
        failed={BUNDLE_ITEM: ("DisallowedLinkError", "Download link to http://127.0.0.1 is not allowed")},
        calls={"download": 0},
    ),
    "export-past-its-deadline": Fault(
        both(
            setting("EXPORT_DEADLINE_SECONDS", "600"),
            lambda archive: archive.emulator.set_export_duration("run-1-finance", 3600),
        ),
        failed={BUNDLE_ITEM: ("BundleExportTimedOutError", "still IN_PROGRESS after")},
        calls={"download": 0},
    ),
    "lambda-dies-every-attempt": Fault(
        step_dies("archive_session", "Lambda.Unknown"),
        document=SESSION_ONLY,
        failed={SESSION_ITEM: ("Lambda.Unknown", "the function ended before it returned")},
    ),
    "failure-not-recorded": Fault(
        # The app fails, and S3 refuses its outcome through every retry: the manifest still lists it
        both(
            api_error("GetQApp", "ResourceNotFoundException", 404),
            s3_fails("PutObject", times=6, key_contains="/items/"),
        ),
        document=APP_ONLY,
        failed={APP_ITEM: ("NoOutcomeRecorded", "ended without recording an outcome")},
    ),
    "different-object-at-the-key": Fault(
        different_object_already_archived,
        failed={BUNDLE_ITEM: ("ArchiveConflictError", "already holds a different object")},
        check=keeps_the_original,
    ),
}


def planned_items(document: dict[str, Any]) -> list[str]:
    qapps = document.get("qapps", {})
    sessions = qapps.get("sessions", [])
    apps = dict.fromkeys([*qapps.get("apps", []), *(session["appId"] for session in sessions)])
    return [
        *(f"bundle/{bundle['name']}" for bundle in document.get("quicksight", {}).get("bundles", [])),
        *(f"session/{session['sessionId']}" for session in sessions),
        *(f"app/{app}" for app in apps),
    ]


def expected_source(document: dict[str, Any], item_id: str) -> dict[str, Any]:
    """What a failed item's ``source`` in the manifest says, from the run's document alone."""
    kind, _, name = item_id.partition("/")
    if kind == "bundle":
        (bundle,) = (b for b in document["quicksight"]["bundles"] if b["name"] == name)
        job_id = export_job_id("run-1", name)
        job_arn = f"arn:aws:quicksight:{LOCAL_REGION}:{ACCOUNT}:asset-bundle-export-job/{job_id}"
        return {"jobId": job_id, "jobArn": job_arn, "resourceArns": bundle["resourceArns"]}
    instance = document["qapps"]["instanceId"]
    if kind == "session":
        (session,) = (s for s in document["qapps"]["sessions"] if s["sessionId"] == name)
        return {"instanceId": instance, "appId": session["appId"], "sessionId": name}
    return {"instanceId": instance, "appId": name}


def names_of(item_id: str, source: dict[str, Any]) -> list[str]:
    """What a failed item's message must name: the bundle and its job, the session and its app, the app."""
    kind, _, name = item_id.partition("/")
    if kind == "bundle":
        return [f"bundle {name}", source["jobId"]]
    return [source["sessionId"], source["appId"]] if kind == "session" else [f"app {source['appId']}"]


def _calls(archive: LocalArchive, operation: str) -> list[dict[str, Any]]:
    if operation == "download":
        return archive.emulator.downloads()
    return archive.emulator.requests_for(operation)


def assert_archive_matches_manifest(archive: LocalArchive, manifest: dict[str, Any]) -> None:
    """Every archived object is whole: its bytes read back match the recorded SHA-256 and size."""
    for artifact in manifest["artifacts"]:
        body = archive.read(artifact["key"])
        assert (len(body), hashlib.sha256(body).hexdigest()) == (artifact["size"], artifact["sha256"])
    assert archive.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("fault", list(MATRIX.values()), ids=list(MATRIX))
def test_fault(archive: LocalArchive, fault: Fault) -> None:
    # Given the services hold what the run names, and the fault is armed
    seed_emulator(archive.emulator, fault.seed or fault.document)
    archive.emulator.export_duration_seconds = 0  # ready at the first poll: every call below is counted
    if fault.multipart:
        archive.emulator.bundle_padding_bytes = 6 * MIB  # two parts of 5 MiB
    fault.inject(archive)

    # When the run executes
    result = archive.run(fault.document)

    # Then it ends as the operator expects: FAILED (ItemsFailed) only if an item failed
    manifest = archive.manifest()
    assert result.status == ("FAILED" if fault.failed else "SUCCEEDED"), result.cause
    if fault.failed:
        assert result.error == "ItemsFailed"
    # And the manifest accounts for every item: archived, or failed with its reason
    items = planned_items(fault.document)
    failures = {failure["itemId"]: failure["error"] for failure in manifest["failures"]}
    assert {failed: error["type"] for failed, error in failures.items()} == {
        item: reason for item, (reason, _) in fault.failed.items()
    }
    for item, (_, text) in fault.failed.items():
        assert text in failures[item]["message"], failures[item]["message"]
    # And each failure says which item it is: its source, and a message naming it (never a link)
    for failure in manifest["failures"]:
        assert failure["source"] == expected_source(fault.document, failure["itemId"])
        message = failure["error"]["message"]
        for name in names_of(failure["itemId"], failure["source"]):
            assert name in message, message
        assert "X-Amz-" not in message and "?" not in message, message
    assert sorted(a["itemId"] for a in manifest["artifacts"]) == sorted(set(items) - set(fault.failed))
    assert_archive_matches_manifest(archive, manifest)
    # And the service was called as often as the retry policy says, no more
    for operation, count in fault.calls.items():
        assert len(_calls(archive, operation)) == count, operation
    if fault.waited_at_least:
        operation, seconds = fault.waited_at_least
        calls = _calls(archive, operation)
        refused = next(index for index, call in enumerate(calls) if call["status"] >= 429)
        assert calls[refused + 1]["time"] - calls[refused]["time"] >= seconds
    if fault.check:
        fault.check(archive, manifest)


def test_a_run_executed_again_archives_nothing_twice_and_loses_nothing(archive: LocalArchive) -> None:
    # Given a run that archived its bundle and app but lost its session to a 401
    seed_emulator(archive.emulator, EVERYTHING)
    archive.emulator.inject_api_error("ExportQAppSessionData", "UnauthorizedException", status=401)
    first = archive.run(EVERYTHING)
    assert first.status == "FAILED"
    kept = {a["itemId"]: a for a in archive.manifest()["artifacts"]}
    assert set(kept) == {BUNDLE_ITEM, APP_ITEM}
    keys_before = archive.keys()
    asked_before = {op: len(archive.emulator.requests_for(op)) for op in (*QUICKSIGHT_EXPORT_CALLS, "GetQApp")}

    # When the same run (same input, same run id) executes again, once the credentials are fixed
    result = run_again(archive, EVERYTHING, name="run-1")

    # Then it succeeds; the items already archived were not written again
    assert result.status == "SUCCEEDED", result.cause
    manifest = archive.manifest()
    assert {a["itemId"] for a in manifest["artifacts"]} == {BUNDLE_ITEM, SESSION_ITEM, APP_ITEM}
    for item, artifact in kept.items():
        again = next(a for a in manifest["artifacts"] if a["itemId"] == item)
        assert (again["key"], again["sha256"], again["versionId"]) == (
            artifact["key"],
            artifact["sha256"],
            artifact["versionId"],
        )
    # And neither QuickSight nor Q Apps was asked again for what the run holds: no export job was
    # started (none of the account's five slots taken), none polled, no app definition fetched
    for operation, count in asked_before.items():
        assert len(archive.emulator.requests_for(operation)) == count, operation
    assert "WaitForBundleExport" not in result.states_entered()
    # And the only new object is the session that was missing (beside the run's records)
    new = sorted(set(archive.artifact_keys()) - set(keys_before))
    assert new == [next(a["key"] for a in manifest["artifacts"] if a["itemId"] == SESSION_ITEM)]
    assert_archive_matches_manifest(archive, manifest)


def run_again(archive: LocalArchive, document: dict[str, Any], *, name: str) -> Any:
    """Execute ``document`` as run ``name`` again: on a redeployed state machine, as an operator would.

    Step Functions keeps an execution's name for 90 days, so the same run id runs again on a
    replacement of the state machine (or through a redrive); either way the run is the same.
    """
    engine = archive.engine
    sfn = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    original = engine.state_machine_arn
    engine.state_machine_arn = sfn.create_state_machine(
        name="archiver-local-redeployed",
        definition=json.dumps(for_local_engine(engine.workflow.definition)),
        roleArn=sfn.describe_state_machine(stateMachineArn=original)["roleArn"],
    )["stateMachineArn"]
    try:
        return archive.run(document, name=name)
    finally:
        engine.state_machine_arn = original


def test_an_identical_object_already_at_the_key_counts_as_archived(archive: LocalArchive) -> None:
    # Given the session's CSV already at its key (an attempt that wrote it, then died before recording it)
    seed_emulator(archive.emulator, SESSION_ONLY)
    key = layout.session_key(
        instance_id=INSTANCE, app_id=APP, session_id=SESSION, run_date=archive_date(), run_id="run-1"
    )
    body = archive.emulator.session_csv(INSTANCE, SESSION)
    archive.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        ChecksumAlgorithm="SHA256",
        Tagging=f"sha256={hashlib.sha256(body).hexdigest()}",
    )

    result = archive.run(SESSION_ONLY)

    assert result.status == "SUCCEEDED", result.cause
    artifact = next(a for a in archive.manifest()["artifacts"] if a["itemId"] == SESSION_ITEM)
    assert (artifact["key"], artifact["alreadyArchived"]) == (key, True)
    assert len(archive.s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1


FAULT_KINDS: list[Callable[[LocalArchive, Any], None]] = [
    lambda a, r: a.emulator.inject_api_error(
        r.choice(["StartAssetBundleExportJob", "DescribeAssetBundleExportJob", "ExportQAppSessionData", "GetQApp"]),
        # each at the status its service sends (the emulator takes it from the model)
        r.choice(["ThrottlingException", "InternalServerException"]),
        times=r.randint(1, 7),
        retry_after_seconds=r.choice([None, 2, 40]),
    ),
    lambda a, r: a.emulator.inject_api_error(
        r.choice(["StartAssetBundleExportJob", "ExportQAppSessionData", "GetQApp"]),
        r.choice(["ResourceNotFoundException", "AccessDeniedException"]),
    ),
    lambda a, r: a.emulator.expire_next_downloads(r.randint(1, 5)),
    lambda a, r: a.emulator.truncate_next_downloads(r.randint(1, 7), after_bytes=r.randint(0, 4096)),
    lambda a, r: a.emulator.fail_next_downloads(r.randint(1, 7), status=r.choice([500, 503])),
    lambda a, r: S3Faults(clients.s3()).fail("PutObject", times=r.randint(1, 3)),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_never_lose_an_item_nor_leave_a_wrong_object(archive: LocalArchive, seed: int) -> None:
    rng = random.Random(seed)
    # Given two bundles, three sessions and their apps, and a few random faults
    sessions = [{"appId": APP, "sessionId": f"7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c1{i}"} for i in range(3)]
    document = {
        "quicksight": {
            "bundles": [
                {"name": "finance", "resourceArns": [DASHBOARD]},
                {"name": "ops", "resourceArns": [DASHBOARD.replace("d-1", "d-2")]},
            ]
        },
        "qapps": {"instanceId": INSTANCE, "sessions": sessions, "apps": ["9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53"]},
    }
    seed_emulator(archive.emulator, document)
    archive.emulator.export_duration_seconds = rng.choice([0, 30])
    for _ in range(rng.randint(2, 5)):
        rng.choice(FAULT_KINDS)(archive, rng)

    # When the run executes
    result = archive.run(document)

    # Then items in = archived + failed, and every archived object reads back as recorded
    manifest = archive.manifest()
    summary = manifest["summary"]
    assert summary["items"] == 2 + 3 + 2 == summary["archived"] + summary["failed"]
    assert len(manifest["artifacts"]) == summary["archived"]
    assert result.status == ("SUCCEEDED" if summary["failed"] == 0 else "FAILED")
    assert_archive_matches_manifest(archive, manifest)
    archived_keys = {a["key"] for a in manifest["artifacts"]}
    assert set(archive.artifact_keys()) <= archived_keys


def bundle_of(*arns: str, name: str = "finance") -> dict[str, Any]:
    return {"quicksight": {"bundles": [{"name": name, "resourceArns": list(arns)}]}}


BAD_INPUT: dict[str, tuple[Any, str]] = {
    "empty-document": ({}, "(document): expected a 'quicksight' and/or a 'qapps' section"),
    "malformed-uuid": (
        {"qapps": {"instanceId": INSTANCE, "apps": ["3f1c6a52-8d4e"]}},
        "qapps.apps[0]: expected a lower-case version 4 UUID",
    ),
    "wrong-version-uuid": (
        {
            "qapps": {
                "instanceId": INSTANCE,
                "sessions": [{"appId": APP, "sessionId": SESSION.replace("-4a5b", "-1a5b")}],
            }
        },
        "qapps.sessions[0].sessionId: expected a lower-case version 4 or 5 UUID",
    ),
    "account-not-12-digits": (
        {"quicksight": {"awsAccountId": "12345678901", "bundles": bundle_of(DASHBOARD)["quicksight"]["bundles"]}},
        "quicksight.awsAccountId: expected a 12-digit AWS account id",
    ),
    "no-resource-arns": (bundle_of(), "quicksight.bundles[0].resourceArns: expected at least 1 items, got 0"),
    "too-many-resource-arns": (
        bundle_of(*(f"{DASHBOARD}{i}" for i in range(101))),
        "quicksight.bundles[0].resourceArns: expected at most 100 items, got 101",
    ),
    "arn-of-another-account": (
        bundle_of(DASHBOARD.replace(ACCOUNT, "210987654321")),
        "quicksight.bundles[0].resourceArns[0]: expected a resource of account 123456789012",
    ),
    "arn-not-quicksight": (
        bundle_of("arn:aws:s3:::my-bucket"),
        "quicksight.bundles[0].resourceArns[0]: expected a QuickSight analysis, dashboard",
    ),
    "duplicate-bundle-names": (
        {"quicksight": {"bundles": [*bundle_of(DASHBOARD)["quicksight"]["bundles"]] * 2}},
        "quicksight.bundles[1].name: expected a unique name, 'finance' is also bundles[0]",
    ),
    "unknown-key-typo": (
        {"qapps": {"instanceId": INSTANCE, "sesions": [], "apps": [APP]}},
        "qapps.sesions: unknown key (did you mean sessions?",
    ),
    "wrong-type": (
        {"quicksight": {"bundles": [{"resourceArns": [DASHBOARD], "includeTags": "yes"}]}},
        "quicksight.bundles[0].includeTags: expected boolean, got string",
    ),
    "over-the-input-limit": (
        {"qapps": {"instanceId": INSTANCE, "apps": [APP] * 7000}},
        "(document): expected at most 262,144 bytes (a state machine's input limit)",
    ),
}


@pytest.mark.parametrize(("document", "says"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input(archive: LocalArchive, document: Any, says: str) -> None:
    # When a run is given a bad document
    result = archive.run(document)

    # Then it ends FAILED with InvalidRunInput, naming the field, before anything is exported or written
    assert (result.status, result.error) == ("FAILED", "InvalidRunInput")
    assert says in (result.cause or ""), result.cause
    assert archive.keys() == []
    for operation in ("StartAssetBundleExportJob", "ExportQAppSessionData", "GetQApp"):
        assert archive.emulator.requests_for(operation) == []
