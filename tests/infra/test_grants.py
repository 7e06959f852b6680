"""Least privilege: each step may touch only what its job needs."""

from __future__ import annotations

import pytest

from archiver import layout
from infra.constructs.functions import STEP_SPECS
from infra.stack import MANIFESTS_PREFIX, OUTCOME_WRITERS, QAPPS_PREFIX, QUICKSIGHT_PREFIX
from tests.infra.conftest import Synthesized, allowed, archive_bucket_id, as_list, role_statements


def test_validate_run_can_touch_neither_s3_nor_kms_nor_any_service(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "validate_run")
    actions = {action for statement in statements for action in as_list(statement["Action"])}

    # Only what every function gets: X-Ray for tracing (logs come from the basic execution role).
    assert actions == {"xray:PutTelemetryRecords", "xray:PutTraceSegments"}


@pytest.mark.parametrize(
    ("step", "prefix"),
    [("archive_bundle", "quicksight/"), ("archive_session", "qapps/"), ("archive_app", "qapps/")],
)
def test_copy_steps_write_once_under_their_own_prefix_only(archiver: Synthesized, step: str, prefix: str) -> None:
    statements = role_statements(archiver, step)
    bucket = archive_bucket_id(archiver.template)

    # The write-once check: PUT with If-None-Match, then on a 412 HEAD, read and add the SHA-256 tag.
    for action in (
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:GetObjectTagging",
        "s3:PutObjectVersionTagging",
    ):
        resources = allowed(statements, action)
        assert resources, f"{step} may not {action}"
        assert all(bucket in resource and f"/{prefix}*" in resource for resource in resources), resources
    # PutObject also writes the item's outcome under manifests/, and GetObject reads it back (a run
    # executed again skips what it already archived; listing makes a missing outcome read as such).
    for action in ("s3:PutObject", "s3:GetObject"):
        resources = allowed(statements, action)
        assert len(resources) == 2 and all(bucket in resource for resource in resources)
        assert [any(f"/{prefix}*" in r for r in resources), any("/manifests/*" in r for r in resources)] == [
            True,
            True,
        ]
    assert not allowed(statements, "s3:DeleteObject")
    listing = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert all(s["Condition"]["StringLike"]["s3:prefix"] == ["manifests/*"] for s in listing)


@pytest.mark.parametrize("step", sorted(OUTCOME_WRITERS))
def test_steps_that_settle_an_item_record_its_outcome_under_manifests(archiver: Synthesized, step: str) -> None:
    puts = allowed(role_statements(archiver, step), "s3:PutObject")

    assert [resource for resource in puts if "/manifests/*" in resource]


def test_the_prefixes_granted_are_the_ones_the_functions_write_to() -> None:
    assert (QUICKSIGHT_PREFIX, QAPPS_PREFIX, MANIFESTS_PREFIX) == (
        layout.QUICKSIGHT_PREFIX,
        layout.QAPPS_PREFIX,
        layout.MANIFESTS_PREFIX,
    )


@pytest.mark.parametrize("step", sorted({*OUTCOME_WRITERS, "write_manifest"}))
def test_steps_that_read_or_write_objects_may_use_the_archive_key_through_s3_only(
    archiver: Synthesized, step: str
) -> None:
    key_statements = [
        statement
        for statement in role_statements(archiver, step)
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]

    assert key_statements
    for statement in key_statements:
        assert set(as_list(statement["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_failures_are_recorded_under_manifests_only(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "record_item_failure")

    assert [r for r in allowed(statements, "s3:PutObject") if "/manifests/*" in r]
    assert all("/manifests/*" in r for r in allowed(statements, "s3:PutObject"))
    assert not allowed(statements, "s3:GetObject")


def test_the_manifest_writer_lists_only_the_manifests_prefix(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "write_manifest")
    (listing,) = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]

    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["manifests/*"]}}
    assert all("/manifests/*" in r for r in allowed(statements, "s3:PutObject") + allowed(statements, "s3:GetObject"))


def test_only_the_bundle_export_starter_may_start_exports(archiver: Synthesized) -> None:
    for step in STEP_SPECS:
        resources = allowed(role_statements(archiver, step), "quicksight:StartAssetBundleExportJob")
        if step == "start_bundle_export":
            assert resources and all("asset-bundle-export-job/*" in r for r in resources)
        else:
            assert not resources, step


@pytest.mark.parametrize("step", ["start_bundle_export", "check_bundle_export", "archive_bundle"])
def test_bundle_steps_describe_export_jobs_of_this_account(archiver: Synthesized, step: str) -> None:
    resources = allowed(role_statements(archiver, step), "quicksight:DescribeAssetBundleExportJob")

    assert resources
    assert all("asset-bundle-export-job/*" in r and "AWS::AccountId" in r for r in resources)


def test_the_export_starter_can_read_what_it_exports(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "start_bundle_export")

    for action, resource_type in [
        ("quicksight:DescribeDashboard", ":dashboard/*"),
        ("quicksight:DescribeAnalysis", ":analysis/*"),
        ("quicksight:DescribeDataSet", ":dataset/*"),
        ("quicksight:DescribeDataSource", ":datasource/*"),
        ("quicksight:DescribeTheme", ":theme/*"),
    ]:
        resources = allowed(statements, action)
        assert resources and all(resource_type in r for r in resources), action


def test_q_apps_steps_are_scoped_to_q_apps_resources(archiver: Synthesized) -> None:
    sessions = allowed(role_statements(archiver, "archive_session"), "qapps:ExportQAppSessionData")
    apps = allowed(role_statements(archiver, "archive_app"), "qapps:GetQApp")

    assert sessions and all("/qapp/*/session/*" in r for r in sessions)
    assert apps and all(":application/*" in r for r in apps)
    assert '"*"' not in sessions + apps
