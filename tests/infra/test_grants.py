"""Least privilege: each step may touch only what its job needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archiver.core import layout
from infra.archive.grants import MANIFESTS_PREFIX, OUTCOME_WRITERS, QUICKSIGHT_PREFIX
from infra.archive.workflow import STEP_SPECS
from infra.core.grants import KEY_WRITES
from infra.restore.workflow import RESTORE_STEP_SPECS
from tests.infra.conftest import (
    IDENTITY_APPLICATION_ARN,
    IDENTITY_SECRET_ARN,
    IDENTITY_SECRET_KEY_ARN,
    QAPPS_INSTANCE,
    Synthesized,
    allowed,
    archive_bucket_id,
    as_list,
    function_id,
    role_statements,
)

# Every step that calls Q Apps: archiving sessions and definitions, and restoring files to a card.
Q_APPS_STEPS = ("discover_assets", "archive_session", "archive_app", "validate_restore", "restore_qapp_file")


def test_validate_run_writes_the_plans_item_files_reads_the_plans_prefix_and_touches_nothing_else(
    archiver: Synthesized,
) -> None:
    statements = role_statements(archiver, "validate_run")
    actions = {action for statement in statements for action in as_list(statement["Action"])}

    # What every function gets (X-Ray for tracing), the plan's item files for the Distributed Maps, and plans
    # given by reference
    assert actions == {
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "s3:PutObject",
        "s3:GetObject",
        *KEY_WRITES,
    }
    writes = allowed(statements, "s3:PutObject")
    assert writes and all("/manifests/*/plan/*" in resource for resource in writes)
    # It reads only under cdk.json's plans prefix: not the artifacts, not the manifests
    reads = allowed(statements, "s3:GetObject")
    assert reads and all('"/plans/*"' in resource for resource in reads), reads


def test_discovery_only_lists_and_describes_and_rewrites_the_plans_items(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "discover_assets")
    actions = {action for statement in statements for action in as_list(statement["Action"])}
    quicksight = {action for action in actions if action.startswith("quicksight:")}

    # QuickSight: List, Describe and tag reads only, each on its own resource type (two IAM scopes to * only)
    assert quicksight and all(a.split(":")[1].startswith(("List", "Describe")) for a in quicksight)
    assert allowed(statements, "quicksight:DescribeDashboard") and all(
        ":dashboard/*" in r for r in allowed(statements, "quicksight:DescribeDashboard")
    )
    assert allowed(statements, "quicksight:ListDataSets") == ['"*"']
    # Q Apps: listing the instance's apps only
    assert {a for a in actions if a.startswith("qapps:")} == {"qapps:ListQApps", "qapps:ListLibraryItems"}
    # S3: the plan's item files (read and written again) and its discovery record, nothing else
    assert {a for a in actions if a.startswith("s3:")} == {"s3:GetObject", "s3:PutObject"}
    writes = allowed(statements, "s3:PutObject")
    assert writes and all("/manifests/*/plan/*" in r or "/manifests/*/discovery.json" in r for r in writes)


def state_machine_statements(synth: Synthesized) -> list[dict[str, Any]]:
    """Every statement of the archive state machine's role."""
    machines = synth.template.find_resources("AWS::StepFunctions::StateMachine")
    (role_id,) = [
        m["Properties"]["RoleArn"]["Fn::GetAtt"][0] for path, m in machines.items() if path.startswith("Workflow")
    ]
    return policy_statements_of(synth, role_id)


def test_the_distributed_maps_read_the_plans_items_write_results_and_start_their_own_children(
    archiver: Synthesized,
) -> None:
    statements = state_machine_statements(archiver)

    # The items ValidateRun wrote are read, and only those; results go under their prefix only
    assert all(
        "/manifests/*/plan/*" in r or "/manifests/map-results/*" in r for r in allowed(statements, "s3:GetObject")
    )
    assert all("/manifests/map-results/*" in r for r in allowed(statements, "s3:PutObject"))
    assert allowed(statements, "s3:PutObject")
    # And the children are executions of this state machine
    (started,) = allowed(statements, "states:StartExecution")
    assert "WorkflowStateMachine" in started
    assert allowed(statements, "kms:GenerateDataKey")


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
    # PutObject also writes the item's outcome under manifests/ and its catalogue entries, and GetObject reads
    # them back (a run executed again skips what it already archived; onlyChanged compares with the last
    # version; listing makes a missing outcome or entry read as such).
    for action in ("s3:PutObject", "s3:GetObject"):
        resources = allowed(statements, action)
        assert len(resources) == 3 and all(bucket in resource for resource in resources)
        assert [
            any(f"/{prefix}*" in r for r in resources),
            any("/manifests/*" in r for r in resources),
            any("/catalogue/entries/*" in r for r in resources),
        ] == [True, True, True]
    assert not allowed(statements, "s3:DeleteObject")
    listing = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert sorted(s["Condition"]["StringLike"]["s3:prefix"] for s in listing) == [
        ["catalogue/entries/*"],
        ["manifests/*"],
    ]


@pytest.mark.parametrize("step", sorted(OUTCOME_WRITERS))
def test_steps_that_settle_an_item_record_its_outcome_under_manifests(archiver: Synthesized, step: str) -> None:
    puts = allowed(role_statements(archiver, step), "s3:PutObject")

    assert [resource for resource in puts if "/manifests/*" in resource]


def test_the_prefixes_granted_are_the_ones_the_functions_write_to() -> None:
    assert (QUICKSIGHT_PREFIX, MANIFESTS_PREFIX) == (layout.QUICKSIGHT_PREFIX, layout.MANIFESTS_PREFIX)


def test_q_apps_steps_write_only_their_own_kind_of_object(archiver: Synthesized, hardened: Synthesized) -> None:
    # Given the default deployment (any instance) and one limited to a single Q Apps instance
    for synth, instance in ((archiver, "*"), (hardened, QAPPS_INSTANCE)):
        sessions = allowed(role_statements(synth, "archive_session"), "s3:AbortMultipartUpload")
        definitions = allowed(role_statements(synth, "archive_app"), "s3:AbortMultipartUpload")

        # Then session exports go to the layout's session keys and definitions to its definition keys
        assert len(sessions) == 1 and f"/qapps/{instance}/*/sessions/*/*/*.csv" in sessions[0]
        assert len(definitions) == 1 and f"/qapps/{instance}/*/definition/*" in definitions[0]


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


def test_the_manifest_writer_lists_only_the_manifests_and_catalogue_index_prefixes(archiver: Synthesized) -> None:
    statements = role_statements(archiver, "write_manifest")
    listings = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]

    assert sorted(str(listing["Condition"]) for listing in listings) == sorted(
        [
            str({"StringLike": {"s3:prefix": ["manifests/*"]}}),
            str({"StringLike": {"s3:prefix": ["catalogue/index/", "catalogue/index/*"]}}),
        ]
    )
    assert all(
        "/manifests/*" in r or "/catalogue/index/*" in r
        for r in allowed(statements, "s3:PutObject") + allowed(statements, "s3:GetObject")
    )


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


# -- Q Apps as the archive user (qappsCredentials mode identity-center) ---------------------------------------


def q_apps_role(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    """The role whose trust policy allows identity-enhanced sessions (sts:SetContext)."""
    (found,) = [
        (role_id, dict(role))
        for role_id, role in synth.template.find_resources("AWS::IAM::Role").items()
        if any(
            "sts:SetContext" in as_list(statement["Action"])
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    ]
    return found


def policy_statements_of(synth: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_default_deployment_has_no_q_apps_identity_role(archiver: Synthesized) -> None:
    roles = archiver.template.find_resources("AWS::IAM::Role").values()

    assert not [r for r in roles if "sts:SetContext" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    for step in Q_APPS_STEPS:
        statements = role_statements(archiver, step)
        assert not allowed(statements, "sts:AssumeRole") and not allowed(statements, "secretsmanager:GetSecretValue")


def test_the_q_apps_role_is_assumable_only_by_the_q_apps_steps_with_a_context(hardened: Synthesized) -> None:
    _, role = q_apps_role(hardened)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    q_apps_step_roles = {
        json.dumps(hardened.resources[function_id(hardened.template, step)]["Properties"]["Role"])
        for step in Q_APPS_STEPS
    }

    assert sorted(as_list(trust["Action"])) == ["sts:AssumeRole", "sts:SetContext"]
    assert {json.dumps(principal) for principal in as_list(trust["Principal"]["AWS"])} == q_apps_step_roles
    assert role["Properties"]["MaxSessionDuration"] == 3600


def test_q_apps_actions_move_from_the_steps_to_the_q_apps_role(hardened: Synthesized) -> None:
    role_id, _ = q_apps_role(hardened)
    statements = policy_statements_of(hardened, role_id)

    # The Q Apps role may call exactly what the steps call, on the one configured instance
    assert {action for s in statements for action in as_list(s["Action"])} == {
        "qapps:ExportQAppSessionData",
        "qapps:GetQApp",
        "qapps:ImportDocument",
        "qapps:ListQApps",
        "qapps:ListLibraryItems",
    }
    sessions = allowed(statements, "qapps:ExportQAppSessionData")
    apps = allowed(statements, "qapps:GetQApp")
    assert sessions and all(f"application/{QAPPS_INSTANCE}/qapp/*/session/*" in r for r in sessions)
    assert apps and all(f"application/{QAPPS_INSTANCE}" in r for r in apps)
    # And no step's own role may call Q Apps
    for step in [*STEP_SPECS, *RESTORE_STEP_SPECS]:
        assert not [a for s in role_statements(hardened, step) for a in as_list(s["Action"]) if a.startswith("qapps:")]


@pytest.mark.parametrize("step", Q_APPS_STEPS)
def test_q_apps_steps_may_run_the_identity_chain_and_nothing_wider(hardened: Synthesized, step: str) -> None:
    statements = role_statements(hardened, step)
    role_id, _ = q_apps_role(hardened)

    assert allowed(statements, "secretsmanager:GetSecretValue") == [json.dumps(IDENTITY_SECRET_ARN)]
    assert allowed(statements, "sso-oauth:CreateTokenWithIAM") == [json.dumps(IDENTITY_APPLICATION_ARN)]
    role_arn = json.dumps({"Fn::GetAtt": [role_id, "Arn"]})
    assert allowed(statements, "sts:AssumeRole") == [role_arn]
    assert allowed(statements, "sts:SetContext") == [role_arn]
    # (a step that reads the archive may also decrypt with the archive key, through S3 only)
    (decrypt,) = [
        s for s in statements if as_list(s["Action"]) == ["kms:Decrypt"] and s["Resource"] == IDENTITY_SECRET_KEY_ARN
    ]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}


def test_q_apps_steps_are_told_the_mode_and_where_the_identity_comes_from(hardened: Synthesized) -> None:
    role_id, _ = q_apps_role(hardened)
    for step in [*STEP_SPECS, *RESTORE_STEP_SPECS]:
        variables = hardened.resources[function_id(hardened.template, step)]["Properties"]["Environment"]["Variables"]
        if step not in Q_APPS_STEPS:
            # Only the Q Apps steps learn where the archive user's secret is
            assert not [name for name in variables if name.startswith("QAPPS_")], step
            continue
        assert {name: value for name, value in variables.items() if name.startswith("QAPPS_")} == {
            "QAPPS_CREDENTIALS": "identity-center",
            "QAPPS_IDENTITY_SECRET_ARN": IDENTITY_SECRET_ARN,
            "QAPPS_IDENTITY_APPLICATION_ARN": IDENTITY_APPLICATION_ARN,
            "QAPPS_ROLE_ARN": {"Fn::GetAtt": [role_id, "Arn"]},
            "QAPPS_IDENTITY_CENTER_REGION": "eu-west-1",
        }


def test_no_other_step_may_read_the_secret_or_assume_the_q_apps_role(hardened: Synthesized) -> None:
    for step in set(STEP_SPECS) - set(Q_APPS_STEPS):
        statements = role_statements(hardened, step)
        for action in ("secretsmanager:GetSecretValue", "sts:AssumeRole", "sso-oauth:CreateTokenWithIAM"):
            assert not allowed(statements, action), (step, action)


def test_the_export_starter_reads_the_archive_to_skip_what_is_kept_and_writes_only_records(
    archiver: Synthesized,
) -> None:
    statements = role_statements(archiver, "start_bundle_export")
    bucket = archive_bucket_id(archiver.template)

    # It reads the item's outcome, the bundle's catalogue entries, and checks the bundle they name
    # (HeadObject and the SHA-256 tag) ...
    reads = allowed(statements, "s3:GetObject")
    assert reads and all(
        bucket in r and any(p in r for p in ("/manifests/*", "/quicksight/*", "/catalogue/entries/*")) for r in reads
    )
    assert all("/quicksight/*" in r for r in allowed(statements, "s3:GetObjectTagging"))
    # ... writes only an unchanged bundle's outcome and catalogue entries, and tags or deletes nothing
    writes = allowed(statements, "s3:PutObject")
    assert writes and all("/manifests/*" in r or "/catalogue/entries/*" in r for r in writes)
    for action in ("s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert not allowed(statements, action), action
