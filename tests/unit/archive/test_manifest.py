"""WriteManifest's gathering (moto's S3): every planned item once, in the published layout, streamed, checked."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archiver.archive.manifest import (
    OUTCOME_READERS,
    ItemPlace,
    item_source,
    read_ahead,
    record_archived,
    record_failed,
    write_manifest,
)
from archiver.archive.models import (
    Manifest,
    PlannedBundle,
    RunContext,
    RunPlan,
)
from archiver.archive.run_input import plan_run, run_items
from archiver.core import clients, layout
from archiver.core.documents import document_json
from archiver.core.errors import ChecksumMismatchError
from archiver.store.write_once import StoredObject

BUCKET = "archive"
ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
RUN = RunContext(run_id="nightly-1", execution_id="arn:aws:states:x:execution:m:nightly-1", started_at="2026-11-22")
PLACE = ItemPlace(account_id=ACCOUNT, instance_id=INSTANCE, region="us-east-1", partition="aws")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _uuid(number: int) -> str:
    return str(uuid.UUID(int=number + (1 << 100), version=4))


def a_plan(*, bundles: int, sessions: int) -> RunPlan:
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/d-"
    document: dict[str, Any] = {
        "quicksight": {"bundles": [{"name": f"b{i}", "resourceArns": [f"{arn}{i}"]} for i in range(bundles)]}
    }
    if sessions:
        document["qapps"] = {
            "instanceId": INSTANCE,
            "sessions": [{"appId": _uuid(0), "sessionId": _uuid(i + 1)} for i in range(sessions)],
        }
    return RunPlan.model_validate(plan_run(document, RUN, default_account=ACCOUNT))


def record(s3: Any, plan: RunPlan, *, failing: set[str], silent: set[str]) -> None:
    """Record each planned item's outcome: archived, failed (``failing``) or none at all (``silent``)."""
    for kind, item in run_items(plan):
        if item.item_id in silent:
            continue
        if item.item_id in failing:
            record_failed(
                s3, BUCKET, run=RUN, item_id=item.item_id, kind=kind, error="Boom", message=f"{item.item_id} broke",
                source=item_source(item, place=PLACE),
            )  # fmt: skip
            continue
        size = len(item.item_id)
        stored = StoredObject(
            bucket=BUCKET, key=f"archive/{item.item_id}", size=size, sha256="0" * 64, s3_checksum="x==",
            s3_checksum_algorithm="SHA256", version_id=None, already_archived=False, link_refreshes=0,
        )  # fmt: skip
        source = item_source(item, place=PLACE)
        record_archived(s3, BUCKET, run=RUN, item_id=item.item_id, kind=kind, stored=stored, source=source)


def stored_manifest(s3: Any) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=layout.manifest_key(RUN.run_id))["Body"].read()
    return body


@pytest.mark.parametrize(
    ("failing", "silent"),
    [
        pytest.param(set(), set(), id="all-archived"),
        pytest.param({"bundle/b1", "session/" + _uuid(3)}, {"bundle/b2", "app/" + _uuid(0)}, id="some-failed"),
    ],
)
def test_the_streamed_manifest_is_the_published_document_byte_for_byte(
    s3: Any, failing: set[str], silent: set[str]
) -> None:
    plan = a_plan(bundles=3, sessions=5)
    ids = [item.item_id for _, item in run_items(plan)]
    assert failing | silent <= set(ids)
    record(s3, plan, failing=failing, silent=silent)

    summary = write_manifest(s3, BUCKET, plan, place=PLACE)

    body = stored_manifest(s3)
    document = json.loads(body)
    # The same bytes the whole-document writer gives the same manifest: docs/manifest.md's layout holds.
    assert body.decode() == document_json(Manifest.model_validate(document).wire())
    assert [entry["itemId"] for entry in document["artifacts"]] == [i for i in ids if i not in failing | silent]
    assert [entry["itemId"] for entry in document["failures"]] == [i for i in ids if i in failing | silent]
    errors = {entry["itemId"]: entry["error"]["type"] for entry in document["failures"]}
    assert errors == {**dict.fromkeys(failing, "Boom"), **dict.fromkeys(silent, "NoOutcomeRecorded")}
    assert summary.wire() == document["summary"]
    failed = len(failing | silent)
    assert (summary.items, summary.archived, summary.failed) == (len(ids), len(ids) - failed, failed)
    assert summary.bytes == sum(len(i) for i in ids if i not in failing | silent)


def test_an_item_with_no_outcome_is_listed_failed_without_a_time_of_its_own(s3: Any) -> None:
    plan = a_plan(bundles=1, sessions=0)
    (bundle,) = plan.quicksight.bundles
    assert isinstance(bundle, PlannedBundle)

    write_manifest(s3, BUCKET, plan, place=PLACE)

    (failure,) = json.loads(stored_manifest(s3))["failures"]
    assert failure["error"]["type"] == "NoOutcomeRecorded"
    assert "at" not in failure
    assert failure["source"]["jobArn"] == PLACE.export_job_arn(bundle.job_id)


def test_s3_holds_the_sha256_of_exactly_the_bytes_written(s3: Any) -> None:
    plan = a_plan(bundles=2, sessions=2)
    record(s3, plan, failing=set(), silent=set())

    write_manifest(s3, BUCKET, plan, place=PLACE)

    head = s3.head_object(Bucket=BUCKET, Key=layout.manifest_key(RUN.run_id), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(stored_manifest(s3)).digest()).decode()


def test_reading_runs_at_most_so_far_ahead_of_writing_and_keeps_the_items_order() -> None:
    lock = threading.Lock()
    state = {"read": 0, "used": 0, "most_ahead": 0}

    def read(number: int) -> int:
        with lock:
            state["read"] += 1
            state["most_ahead"] = max(state["most_ahead"], state["read"] - state["used"])
        return number

    with ThreadPoolExecutor(max_workers=8) as pool:
        used = []
        for number in read_ahead(pool, read, range(500), ahead=16):
            used.append(number)
            with lock:
                state["used"] += 1

    assert used == list(range(500))
    assert state["most_ahead"] <= 16 + 1


def test_the_s3_client_has_a_connection_for_every_outcome_reader() -> None:
    assert clients.s3().meta.config.max_pool_connections == OUTCOME_READERS


def test_a_manifest_s3_recorded_with_another_checksum_is_refused(s3: Any) -> None:
    class CorruptingS3:
        """Answers a PUT as if the body S3 received were not the one sent; anything else as S3 does."""

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def put_object(self, **request: Any) -> dict[str, Any]:
            return {**s3.put_object(**request), "ChecksumSHA256": base64.b64encode(b"\0" * 32).decode()}

    with pytest.raises(ChecksumMismatchError, match=layout.manifest_key(RUN.run_id)):
        write_manifest(CorruptingS3(), BUCKET, a_plan(bundles=1, sessions=0), place=PLACE)
