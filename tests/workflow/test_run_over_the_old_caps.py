"""A run over the old caps (100 bundles, 1,500 sessions), given by reference, with faults injected.

The caps came from carrying every item in one execution's state and history; items now live in S3 and
each runs in a child execution of a Distributed Map. This test is the proof: 150 bundles and 2,500 sessions
in one run, some failing for good and some only for a while, every item accounted for exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.local.demo import seed_emulator
from tests.workflow.conftest import BUCKET, LocalArchive
from tests.workflow.test_archive_run import APP_A, APP_B, INSTANCE, arn, sha256

BUNDLES = 150
SESSIONS = 2_500
# Sessions the service does not know: each fails for good (ResourceNotFound) and sinks nothing else.
UNKNOWN_SESSIONS = 7
# The bundle whose export job fails: QuickSight's Errors go to its failure.
BROKEN_BUNDLE = "b0042"
PARENT_HISTORY_LIMIT = 1_000


def session_id(index: int) -> str:
    return f"5c1d2e3f-4a5b-4c6d-8e7f-{index:012x}"


def test_a_plan_over_the_old_caps_archives_every_item_once_despite_faults(archive: LocalArchive) -> None:
    # Given 150 bundles and 2,500 sessions over two apps, the sessions as a CSV under the plans prefix
    bundles: list[dict[str, Any]] = [
        {"name": f"b{number:04d}", "resourceArns": [arn(f"dashboard/d-{number}")]} for number in range(BUNDLES)
    ]
    bundles[42]["resourceArns"].append(arn("dashboard/gone"))
    sessions = [(APP_A if index % 2 else APP_B, session_id(index)) for index in range(SESSIONS)]
    known = sessions[UNKNOWN_SESSIONS:]
    seed_emulator(
        archive.emulator,
        {
            "quicksight": {"bundles": bundles[:42] + bundles[43:]},
            "qapps": {"instanceId": INSTANCE, "sessions": [{"appId": a, "sessionId": s} for a, s in known]},
        },
    )
    archive.emulator.add_quicksight_resource(arn("dashboard/d-42"))
    csv = "appId,sessionId\n" + "".join(f"{app},{session}\n" for app, session in sessions)
    archive.s3.put_object(Bucket=BUCKET, Key="plans/sessions.csv", Body=csv)
    plan = {
        "quicksight": {"awsAccountId": "123456789012", "bundles": bundles},
        "qapps": {"instanceId": INSTANCE, "sessionsUri": f"s3://{BUCKET}/plans/sessions.csv"},
    }
    archive.s3.put_object(Bucket=BUCKET, Key="plans/estate.json", Body=json.dumps(plan))
    # And the services misbehave for a while: throttling with Retry-After, busy export slots, failed
    # downloads and an expired link, each recovered by a retry
    archive.emulator.inject_api_error("ExportQAppSessionData", "ThrottlingException", times=3, retry_after_seconds=4)
    archive.emulator.inject_api_error("StartAssetBundleExportJob", "ThrottlingException", times=2)
    archive.emulator.inject_api_error("StartAssetBundleExportJob", "LimitExceededException", times=2)
    archive.emulator.fail_next_downloads(3, status=503)
    archive.emulator.expire_next_downloads(1)

    # When the run is started with the reference alone
    result = archive.run({"planUri": f"s3://{BUCKET}/plans/estate.json"}, name="estate-1")

    # Then the run ends FAILED for its failed items only, and the parent's history stays small
    assert (result.status, result.error) == ("FAILED", "ItemsFailed"), result.cause
    summary = json.loads(result.cause or "{}")
    items = BUNDLES + SESSIONS + 2
    assert summary["items"] == items
    assert (summary["archived"], summary["failed"]) == (items - 1 - UNKNOWN_SESSIONS, 1 + UNKNOWN_SESSIONS)
    assert len(result.history) < PARENT_HISTORY_LIMIT

    # And the manifest accounts for every item exactly once, each failure naming its item and why
    manifest = archive.manifest("estate-1")
    listed = Counter(entry["itemId"] for entry in manifest["artifacts"] + manifest["failures"])
    expected = (
        [f"bundle/{bundle['name']}" for bundle in bundles]
        + [f"session/{session}" for _, session in sessions]
        + [f"app/{APP_A}", f"app/{APP_B}"]
    )
    assert listed == Counter(expected)
    failed = {entry["itemId"]: entry["error"] for entry in manifest["failures"]}
    assert failed[f"bundle/{BROKEN_BUNDLE}"]["type"] == "BundleExportFailed"
    assert "dashboard/gone" in failed[f"bundle/{BROKEN_BUNDLE}"]["message"]
    for _, session in sessions[:UNKNOWN_SESSIONS]:
        assert failed[f"session/{session}"]["type"] == "ResourceNotFoundError"
        assert session in failed[f"session/{session}"]["message"]

    # And every archived session holds its CSV's bytes, at a key of its own
    artifacts = {entry["itemId"]: entry for entry in manifest["artifacts"]}
    assert len({entry["key"] for entry in artifacts.values()}) == len(artifacts)
    for _, session in known[:: len(known) // 25]:
        artifact = artifacts[f"session/{session}"]
        assert artifact["sha256"] == sha256(archive.emulator.session_csv(INSTANCE, session))
        assert sha256(archive.read(artifact["key"])) == artifact["sha256"]

    # And each bundle took one export job, the busy slots waited for rather than failed
    assert len(archive.emulator.jobs()) == BUNDLES
