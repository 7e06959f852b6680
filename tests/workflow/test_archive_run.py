"""A whole run, as an operator sees it: the state it ends in, what is in the archive, the manifest."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from archiver.archive.run_input import MAX_INPUT_BYTES, export_job_id
from tests.local.demo import seed_emulator
from tests.workflow.conftest import BUCKET, LocalArchive

ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP_A = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
APP_B = "5d2e8f14-6a3b-4c9d-8e1f-3a5b7c9d1e42"
SESSIONS = [
    (APP_A, "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"),
    (APP_A, "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c12"),
    (APP_B, "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c13"),
]
# History events measured on the synthesized workflow: the parent's own states, whatever the plan's size; a
# session's or an app definition's child; a bundle's child, without its polls and per poll (a Wait, a check
# and the Choice on its status).
EVENTS_PER_RUN = 60
EVENTS_PER_QAPPS_ITEM = 12
EVENTS_PER_BUNDLE = 14
EVENTS_PER_BUNDLE_POLL = 9
SIGNED_LINK = re.compile(r"X-Amz-Signature|X-Amz-Credential|127\.0\.0\.1:\d+/download", re.IGNORECASE)


def arn(resource: str) -> str:
    return f"arn:aws:quicksight:us-east-1:{ACCOUNT}:{resource}"


def bundle(name: str, *resources: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "resourceArns": [arn(r) for r in resources], **options}


def qapps(*sessions: tuple[str, str], apps: list[str] | None = None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "instanceId": INSTANCE,
        "sessions": [{"appId": a, "sessionId": s} for a, s in sessions],
    }
    if apps:
        section["apps"] = apps
    return section


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_full_run_archives_every_bundle_session_and_app(archive: LocalArchive) -> None:
    # Given two bundles (one of ~6 MiB, so multipart), three sessions of two apps and one more app
    document = {
        "quicksight": {
            "awsAccountId": ACCOUNT,
            "bundles": [
                bundle("finance", "dashboard/finance-overview", "analysis/finance-drilldown"),
                bundle("operations", "dashboard/ops-daily"),
            ],
        },
        "qapps": qapps(*SESSIONS, apps=["9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53"]),
    }
    seed_emulator(archive.emulator, document)
    archive.emulator.bundle_padding_bytes = 6 * 1024 * 1024

    # When the run executes
    result = archive.run(document, name="nightly-1")

    # Then it succeeds with a short summary as its output
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {
        "runId": "nightly-1",
        "items": 8,
        "archived": 8,
        "failed": 0,
        "unchanged": 0,
        "deletedUpstream": 0,
        "unsupported": 0,
        "bytes": result.output["bytes"],
        "manifestBucket": "archive-under-test",
        "manifestKey": "manifests/nightly-1.json",
    }
    # And each bundle is in the archive, byte for byte, at its documented key
    date = archive.manifest("nightly-1")["run"]["date"]
    for name in ("finance", "operations"):
        job_id = export_job_id("nightly-1", name)
        key = f"quicksight/{ACCOUNT}/{name}/{date}/{job_id}.qs"
        assert archive.read(key) == archive.emulator.bundle_bytes(job_id)
    # And each session's CSV sits beside its app, and each app's definition once per version
    for app_id, session_id in SESSIONS:
        key = f"qapps/{INSTANCE}/{app_id}/sessions/{session_id}/{date}/nightly-1.csv"
        assert archive.read(key) == archive.emulator.session_csv(INSTANCE, session_id)
    definitions = archive.keys(f"qapps/{INSTANCE}/")
    assert sum("/definition/v" in key for key in definitions) == 3
    # And the manifest lists every artifact with its size, checksum and source
    manifest = archive.manifest("nightly-1")
    assert manifest["failures"] == []
    for artifact in manifest["artifacts"]:
        stored = archive.read(artifact["key"])
        assert (artifact["size"], artifact["sha256"]) == (len(stored), sha256(stored))
        assert artifact["source"]
    assert result.output["bytes"] == sum(a["size"] for a in manifest["artifacts"])
    sources = {a["itemId"]: a["source"] for a in manifest["artifacts"]}
    assert sources["bundle/finance"]["jobArn"].endswith(
        f":asset-bundle-export-job/{export_job_id('nightly-1', 'finance')}"
    )
    assert sources[f"session/{SESSIONS[2][1]}"]["sessionArn"]
    assert sources[f"app/{APP_B}"]["appVersion"] >= 1


def test_an_export_job_that_fails_is_recorded_and_the_rest_is_archived(archive: LocalArchive) -> None:
    # Given a bundle naming a dashboard QuickSight does not have, beside a good bundle and a session
    document = {
        "quicksight": {"bundles": [bundle("good", "dashboard/d-1"), bundle("broken", "dashboard/missing")]},
        "qapps": qapps(SESSIONS[0]),
    }
    seed_emulator(
        archive.emulator,
        {"quicksight": {"bundles": [bundle("good", "dashboard/d-1")]}, "qapps": qapps(SESSIONS[0])},
    )

    # When the run executes
    result = archive.run(document)

    # Then the run ends FAILED (so the alarm fires) after archiving everything else
    assert result.status == "FAILED"
    assert result.error == "ItemsFailed"
    assert json.loads(result.cause or "{}")["failed"] == 1
    manifest = archive.manifest()
    assert sorted(a["itemId"] for a in manifest["artifacts"]) == sorted(
        ["bundle/good", f"session/{SESSIONS[0][1]}", f"app/{APP_A}"]
    )
    # And the failure carries QuickSight's own errors, naming the resource
    (failure,) = manifest["failures"]
    assert failure["itemId"] == "bundle/broken"
    assert failure["error"]["type"] == "BundleExportFailed"
    assert any(detail["Arn"] == arn("dashboard/missing") for detail in failure["error"]["details"])
    assert not archive.keys("quicksight/" + ACCOUNT + "/broken/")


def test_polling_waits_longer_each_time_up_to_the_cap(archive: LocalArchive) -> None:
    # Given an export that takes four virtual minutes
    document = {"quicksight": {"bundles": [bundle("slow", "dashboard/d-1")]}}
    seed_emulator(archive.emulator, document)
    archive.emulator.set_export_duration("slow", 240)

    # When the run executes
    result = archive.run(document)

    # Then it polled with waits of 5 s doubling to the 60 s cap, and archived the bundle
    assert result.status == "SUCCEEDED", result.cause
    waits = [
        json.loads(e["stateEnteredEventDetails"]["input"])["export"]["waitSeconds"]
        for e in result.all_events()
        if e.get("stateEnteredEventDetails", {}).get("name") == "WaitForBundleExport"
    ]
    assert waits[:5] == [5, 10, 20, 40, 60]
    assert set(waits[5:]) <= {60}
    assert sum(waits) >= 240
    assert result.output["archived"] == 1


def test_an_export_past_the_deadline_fails_that_item_only(archive: LocalArchive) -> None:
    # Given an export that would take longer than the run's polling deadline (two hours)
    document = {"quicksight": {"bundles": [bundle("stuck", "dashboard/d-1")]}, "qapps": qapps(SESSIONS[0])}
    seed_emulator(archive.emulator, document)
    archive.emulator.set_export_duration("stuck", 3 * 3600)

    result = archive.run(document)

    assert result.status == "FAILED"
    (failure,) = archive.manifest()["failures"]
    assert failure["itemId"] == "bundle/stuck"
    assert failure["error"]["type"] == "BundleExportTimedOutError"
    assert "deadline" in failure["error"]["message"]
    assert archive.manifest()["summary"]["archived"] == 2


def test_an_expired_link_is_refreshed_and_the_copy_completes(archive: LocalArchive) -> None:
    # Given a bundle whose first download link has expired by the time it is used
    document = {"quicksight": {"bundles": [bundle("finance", "dashboard/d-1")]}}
    seed_emulator(archive.emulator, document)
    archive.emulator.expire_next_downloads(1)

    # When the run executes
    result = archive.run(document)

    # Then a fresh link was fetched and the bundle archived, whole
    assert result.status == "SUCCEEDED", result.cause
    assert [d["status"] for d in archive.emulator.downloads()] == [403, 200]
    (artifact,) = archive.manifest()["artifacts"]
    assert archive.read(artifact["key"]) == archive.emulator.bundle_bytes(export_job_id("run-1", "finance"))
    assert artifact["linkRefreshes"] == 1


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({}, "(document)"),
        ({"qapps": {"instanceId": INSTANCE, "sesions": []}}, "qapps.sesions"),
        (
            {"quicksight": {"awsAccountId": "1234", "bundles": [{"resourceArns": []}]}},
            "quicksight.awsAccountId",
        ),
    ],
    ids=["empty", "typo", "bad-account"],
)
def test_an_invalid_document_ends_the_run_before_anything_is_exported(
    archive: LocalArchive, document: Any, named: str
) -> None:
    result = archive.run(document)

    assert result.status == "FAILED"
    assert result.error == "InvalidRunInput"
    assert named in (result.cause or "")
    assert archive.keys() == []
    assert archive.emulator.requests_for("StartAssetBundleExportJob") == []
    assert archive.emulator.requests_for("ExportQAppSessionData") == []


def test_a_plan_over_the_input_limit_given_by_reference_runs_end_to_end(archive: LocalArchive) -> None:
    # Given a plan over Step Functions' 256 KiB input (five bundles of 100 long ARNs), staged under the plans
    # prefix as an operator would with `aws s3 cp`, its sessions a CSV beside it
    bundles = [bundle(f"b{b}", *(f"dashboard/{'d' * 500}-{b}-{i:03d}" for i in range(100))) for b in range(5)]
    sessions = [(APP_A, f"7a2b9c4d-1e3f-4a5b-8c6d-{index:012x}") for index in range(12)]
    seed_emulator(archive.emulator, {"quicksight": {"bundles": bundles}, "qapps": qapps(*sessions)})
    archive.s3.put_object(
        Bucket=BUCKET, Key="plans/sessions.csv", Body="appId,sessionId\n" + "".join(f"{a},{s}\n" for a, s in sessions)
    )
    document = {
        "quicksight": {"bundles": bundles},
        "qapps": {"instanceId": INSTANCE, "sessionsUri": f"s3://{BUCKET}/plans/sessions.csv"},
    }
    assert len(json.dumps(document, separators=(",", ":"))) > MAX_INPUT_BYTES
    archive.s3.put_object(Bucket=BUCKET, Key="plans/estate.json", Body=json.dumps(document))

    # When the run is started with the reference alone
    result = archive.run({"planUri": f"s3://{BUCKET}/plans/estate.json"}, name="estate-1")

    # Then every item of the plan it names is archived once, and the manifest lists each
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["items"] == result.output["archived"] == 5 + 12 + 1
    manifest = archive.manifest("estate-1")
    archived = sorted(artifact["itemId"] for artifact in manifest["artifacts"])
    assert archived == sorted(
        [f"bundle/b{b}" for b in range(5)] + [f"session/{s}" for _, s in sessions] + [f"app/{APP_A}"]
    )
    assert manifest["failures"] == []


def test_a_plan_by_reference_that_is_not_there_ends_the_run_naming_it(archive: LocalArchive) -> None:
    result = archive.run({"planUri": f"s3://{BUCKET}/plans/never-copied.json"})

    assert (result.status, result.error) == ("FAILED", "InvalidRunInput")
    assert f"planUri: expected an existing object, s3://{BUCKET}/plans/never-copied.json does not exist" in (
        result.cause or ""
    )
    assert archive.keys("manifests/") == []


@pytest.mark.parametrize(
    "runs",
    [[("daily", "eu-finance"), ("daily-eu", "finance")], [("nightly.7", "finance"), ("nightly-7", "finance")]],
    ids=["split-differently", "sanitized-alike"],
)
def test_two_runs_never_share_an_export_job_or_an_archived_object(
    archive: LocalArchive, runs: list[tuple[str, str]]
) -> None:
    # Given two runs whose run id and bundle name used to join into one job id (each archiving afresh: the
    # second would otherwise find its bundle unchanged since the first)
    documents = {
        run_id: {"quicksight": {"bundles": [bundle(name, "dashboard/d-1")]}, "onlyChanged": False}
        for run_id, name in runs
    }
    for document in documents.values():
        seed_emulator(archive.emulator, document)

    # When both run
    results = [archive.run(document, name=run_id) for run_id, document in documents.items()]

    # Then each started an export job of its own and archived that job's bundle, not the other's
    assert [result.status for result in results] == ["SUCCEEDED", "SUCCEEDED"], [r.cause for r in results]
    started = [
        r["params"]["AssetBundleExportJobId"] for r in archive.emulator.requests_for("StartAssetBundleExportJob")
    ]
    assert started == [export_job_id(run_id, name) for run_id, name in runs]
    for run_id, name in runs:
        (artifact,) = archive.manifest(run_id)["artifacts"]
        assert artifact["alreadyArchived"] is False
        assert artifact["source"]["jobArn"].endswith(f"/{export_job_id(run_id, name)}")
        assert archive.read(artifact["key"]) == archive.emulator.bundle_bytes(export_job_id(run_id, name))
    assert len({archive.manifest(run_id)["artifacts"][0]["key"] for run_id, _ in runs}) == 2


def test_no_download_link_leaks_into_state_logs_or_manifest(archive: LocalArchive) -> None:
    document = {"quicksight": {"bundles": [bundle("finance", "dashboard/d-1")]}, "qapps": qapps(SESSIONS[0])}
    seed_emulator(archive.emulator, document)
    archive.emulator.expire_next_downloads(1)

    result = archive.run(document)

    assert result.status == "SUCCEEDED", result.cause
    assert archive.emulator.downloads(), "the run downloaded nothing: the check below would prove nothing"
    history = json.dumps(result.history, default=str)
    assert not SIGNED_LINK.search(history)
    assert not SIGNED_LINK.search(archive.logs())
    for key in archive.keys("manifests/"):
        assert not SIGNED_LINK.search(archive.read(key).decode())


def _metric_total(documents: list[dict[str, Any]], name: str) -> float:
    total = 0.0
    for document in documents:
        value = document.get(name, 0)
        total += sum(value) if isinstance(value, list) else value
    return total


def test_steps_log_under_the_execution_id_and_publish_what_they_archived(archive: LocalArchive) -> None:
    document = {"quicksight": {"bundles": [bundle("finance", "dashboard/d-1")]}, "qapps": qapps(SESSIONS[0])}
    seed_emulator(archive.emulator, document)

    result = archive.run(document)

    assert result.status == "SUCCEEDED", result.cause
    lines = [json.loads(line) for line in archive.logs().splitlines() if line.startswith("{")]
    log_records = [line for line in lines if "level" in line]
    metric_documents = [line for line in lines if "_aws" in line]
    # Every log line of every step can be found from the execution that caused it
    assert log_records
    assert {record.get("correlation_id") for record in log_records} == {result.execution_arn}
    # And the metrics count the artifacts (bundle, session, app definition) and their bytes
    assert _metric_total(metric_documents, "ArtifactsArchived") == 3
    assert _metric_total(metric_documents, "BytesArchived") == result.output["bytes"]


def test_the_parent_history_holds_the_runs_own_states_and_each_child_its_items(archive: LocalArchive) -> None:
    # Given a bundle that needs several polls, and sessions of two apps
    document = {"quicksight": {"bundles": [bundle("slow", "dashboard/d-1")]}, "qapps": qapps(*SESSIONS)}
    seed_emulator(archive.emulator, document)
    archive.emulator.set_export_duration("slow", 300)

    result = archive.run(document)

    # Then the parent's history holds the run's own states, whatever its items; each item's child
    # execution holds that item's, and a bundle's grows only with the polls it made
    assert result.status == "SUCCEEDED", result.cause
    polls = result.states_entered().count("WaitForBundleExport")
    bundle_cost = EVENTS_PER_BUNDLE + EVENTS_PER_BUNDLE_POLL * polls
    assert polls >= 5
    assert len(result.history) <= EVENTS_PER_RUN
    assert sorted(child.map_state for child in result.children) == sorted(
        ["ExportBundles"] + ["ArchiveSessions"] * len(SESSIONS) + ["ArchiveAppDefinitions"] * 2
    )
    for child in result.children:
        assert len(child.history) <= (bundle_cost if child.map_state == "ExportBundles" else EVENTS_PER_QAPPS_ITEM)
