"""Planning a restore against an archive (moto's S3): what is checked before anything is restored."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archiver.core.errors import InvalidRestoreInputError
from archiver.restore.models import RestoreContext
from archiver.restore.plan import plan_restore

BUCKET = "archive"
CONTEXT = RestoreContext(restore_id="r-1", execution_id="arn:x", started_at="2026-11-22T04:00:00Z")


class NoQApps:
    """Restores of bundles only: Q Apps is never asked."""

    class exceptions:  # named as on a botocore client
        ResourceNotFoundException = LookupError

    def get_q_app(self, **_: Any) -> dict[str, Any]:
        raise AssertionError("no Q Apps call expected")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_bundle(s3: Any, key: str, members: list[str], *, tag_sha256: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for member in members:
            bundle.writestr(member, "{}")
    body = buffer.getvalue()
    tagging = f"sha256={hashlib.sha256(body).hexdigest()}" if tag_sha256 else ""
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Tagging=tagging)
    return body


def plan(s3: Any, document: dict[str, Any]) -> dict[str, Any]:
    return plan_restore(document, CONTEXT, s3=s3, qapps=NoQApps(), bucket=BUCKET, default_account="123456789012")


def test_a_bundle_by_key_is_planned_with_its_version_digest_and_resources(s3: Any) -> None:
    body = put_bundle(s3, "quicksight/1/a/2026-11-22/a.qs", ["dashboard/d1.json", "dataset/s1.json", "padding.bin"])

    (bundle,) = plan(s3, {"quicksight": {"bundles": [{"from": {"key": "quicksight/1/a/2026-11-22/a.qs"}}]}})[
        "quicksight"
    ]["bundles"]

    assert bundle["resources"] == ["dashboard/d1", "dataset/s1"]
    assert bundle["importSource"] == "inline"
    assert (bundle["source"]["size"], bundle["source"]["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_a_bundle_that_is_not_a_zip_is_refused(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="quicksight/1/a/x.qs", Body=b"not a zip")

    with pytest.raises(InvalidRestoreInputError) as refused:
        plan(s3, {"quicksight": {"bundles": [{"from": {"key": "quicksight/1/a/x.qs"}}]}})

    assert refused.value.problems == [
        "quicksight.bundles[0].from: quicksight/1/a/x.qs does not open as a QuickSight bundle (zip): "
        "File is not a zip file"
    ]


def test_no_manifest_yet_for_latest_is_named(s3: Any) -> None:
    document = {"quicksight": {"bundles": [{"from": {"manifest": "latest", "itemId": "bundle/a"}}]}}

    with pytest.raises(InvalidRestoreInputError) as refused:
        plan(s3, document)

    assert refused.value.problems == [
        "quicksight.bundles[0].from.manifest: no manifest in the archive yet (manifests/ is empty)"
    ]


def test_a_restore_too_big_for_one_execution_is_refused_whole(s3: Any) -> None:
    # Given 50 bundles of 300 resources each: their plan would not fit in a state
    members = [f"dataset/a-rather-long-data-set-identifier-{n:04d}.json" for n in range(300)]
    put_bundle(s3, "quicksight/1/big/b.qs", members)
    bundles = [{"from": {"key": "quicksight/1/big/b.qs"}} for _ in range(50)]

    with pytest.raises(InvalidRestoreInputError) as refused:
        plan(s3, {"quicksight": {"bundles": bundles}})

    assert "split it into several restores" in json.dumps(refused.value.problems)


def put_manifest(s3: Any, run_id: str, artifacts: dict[str, bytes]) -> None:
    """A run's manifest listing each item id's archived object (its bytes stored under the run)."""
    entries = []
    for item_id, body in artifacts.items():
        key = f"quicksight/{run_id}/{item_id.split('/')[1]}.qs"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        entries.append({"itemId": item_id, "key": key, "sha256": hashlib.sha256(body).hexdigest(), "source": {}})
    s3.put_object(
        Bucket=BUCKET, Key=f"manifests/{run_id}.json", Body=json.dumps({"artifacts": entries, "failures": []})
    )


def count_calls(s3: Any, operation: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    s3.meta.events.register(f"provide-client-params.s3.{operation}", lambda params, **_: calls.append(dict(params)))
    return calls


def test_items_named_by_the_latest_manifest_come_from_one_run_read_once(s3: Any) -> None:
    # Given two runs' manifests, each holding bundles a and b
    bundle = put_bundle(s3, "scratch/bundle.qs", ["dashboard/d1.json"])
    put_manifest(s3, "nightly-1", {"bundle/a": bundle, "bundle/b": bundle})
    put_manifest(s3, "nightly-2", {"bundle/a": bundle, "bundle/b": bundle})
    listings, reads = count_calls(s3, "ListObjectsV2"), count_calls(s3, "GetObject")

    # When a restore names both bundles by the latest manifest
    document = {
        "quicksight": {
            "bundles": [{"from": {"manifest": "latest", "itemId": item}} for item in ("bundle/a", "bundle/b")]
        }
    }
    bundles = plan(s3, document)["quicksight"]["bundles"]

    # Then "latest" is settled once (one listing) and its manifest read once, so both come from the same run
    (run_id,) = {b["source"]["runId"] for b in bundles}
    assert run_id in ("nightly-1", "nightly-2")
    assert len(listings) == 1
    assert [r["Key"] for r in reads if r["Key"].startswith("manifests/")] == [f"manifests/{run_id}.json"]


class CountingQApps:
    """One app with a file-upload card; counts GetQApp calls."""

    APP, CARD = "9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53", "0b6f3c1e-2d4a-4e8b-9c7d-5a3f1e2d4c6b"

    class exceptions:  # named as on a botocore client
        ResourceNotFoundException = LookupError

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_q_app(self, *, instanceId: str, appId: str) -> dict[str, Any]:
        self.calls.append(appId)
        return {"appVersion": 1, "appDefinition": {"cards": [{"fileUpload": {"id": self.CARD, "type": "file-upload"}}]}}


def test_each_target_app_is_read_once_however_many_files_go_to_it(s3: Any) -> None:
    # Given three files for the same app's file-upload card
    body = b"answer,1\n"
    s3.put_object(Bucket=BUCKET, Key="qapps/f.csv", Body=body, Tagging=f"sha256={hashlib.sha256(body).hexdigest()}")
    qapps = CountingQApps()
    files = [
        {"from": {"key": "qapps/f.csv"}, "appId": qapps.APP, "cardId": qapps.CARD, "fileName": f"f{n}.csv"}
        for n in range(3)
    ]
    document = {"qapps": {"instanceId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "files": files}}

    # When the restore is planned
    planned = plan_restore(document, CONTEXT, s3=s3, qapps=qapps, bucket=BUCKET, default_account="123456789012")

    # Then every file is planned, and the app was asked for once
    assert len(planned["qapps"]["files"]) == 3
    assert qapps.calls == [qapps.APP]
