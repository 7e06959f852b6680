"""The restore's state machine and its steps' permissions, as synthesized: intent, never logical ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.restore.grants import RESTORE_KEY_READERS, RESTORE_KEY_USERS
from infra.restore.workflow import RESTORE_STEP_SPECS
from infra.settings import DEFAULTS, ArchiverSettings, SettingsError
from tests.infra.conftest import (
    SCHEDULED_DRILL_PLAN,
    Synthesized,
    allowed,
    archive_bucket_id,
    as_list,
    definition_text,
    role_statements,
    state_machine_id,
)
from tests.local.template import RESTORE_WORKFLOW, load_workflow


@pytest.fixture(scope="module")
def definition(archiver: Synthesized) -> dict[str, Any]:
    """The restore's ASL, its tokens resolved as the local engine resolves them."""
    return load_workflow(
        dict(archiver.template.to_json()), bucket_name="archive", construct=RESTORE_WORKFLOW
    ).definition


def states(definition: dict[str, Any]) -> dict[str, Any]:
    """Every state, nested ones included, by name."""
    found: dict[str, Any] = {}

    def walk(machine: dict[str, Any]) -> None:
        for name, state in machine["States"].items():
            found[name] = state
            for branch in state.get("Branches", []):
                walk(branch)
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"])

    walk(definition)
    return found


def test_the_restore_is_a_standard_workflow_with_full_logging_tracing_and_a_timeout(archiver: Synthesized) -> None:
    machine = archiver.resources[state_machine_id(archiver.template, starts_at="ValidateRestore")]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert (machine["LoggingConfiguration"]["Level"], machine["LoggingConfiguration"]["IncludeExecutionData"]) == (
        "ALL",
        True,
    )
    assert '"TimeoutSeconds":43200' in definition_text(machine["DefinitionString"])


def test_a_bad_request_ends_the_restore_before_any_item_step(archiver: Synthesized) -> None:
    text = definition_text(
        archiver.resources[state_machine_id(archiver.template, starts_at="ValidateRestore")]["Properties"][
            "DefinitionString"
        ]
    )
    assert '"ErrorEquals":["InvalidRestoreInputError"]' in text
    assert '"Error":"InvalidRestoreInput"' in text


def test_validate_mode_skips_every_item_step_and_writes_the_report(definition: dict[str, Any]) -> None:
    choice = states(definition)["OnlyValidate"]
    (rule,) = choice["Choices"]
    assert (rule["Variable"], rule["StringEquals"], rule["Next"]) == (
        "$.restore.mode",
        "validate",
        "WriteRestoreReport",
    )
    assert choice["Default"] == "RestoreItems"


def test_bundle_imports_are_polled_with_a_wait_until_settled(definition: dict[str, Any]) -> None:
    found = states(definition)
    assert found["StartBundleImport"]["Next"] == "WaitForBundleImport"
    assert found["WaitForBundleImport"]["SecondsPath"] == "$.import.waitSeconds"
    assert found["BundleImportSettled"]["Default"] == "WaitForBundleImport"
    assert found["RestoreBundles"]["MaxConcurrency"] >= 1


def test_failed_items_are_recorded_and_interrupted_uploads_retried(definition: dict[str, Any]) -> None:
    found = states(definition)
    upload = found["RestoreQAppFile"]
    retried = {error for rule in upload["Retry"] for error in rule["ErrorEquals"]}
    assert {"UploadInterruptedError", "ThrottlingException"} <= retried
    assert "UploadRejectedError" not in retried  # a refusal would only be refused again
    assert upload["Catch"][0]["Next"] == "RecordFileRestoreFailure"
    for step in ("StartBundleImport", "CheckBundleImport"):
        assert found[step]["Catch"][0]["Next"] == "RecordBundleRestoreFailure"


def test_a_busy_s3_while_recording_or_reporting_is_retried_not_fatal(definition: dict[str, Any]) -> None:
    # A failure record or the report lost to a busy S3 would leave the restore without its account of the items
    found = states(definition)
    for step in ("RecordBundleRestoreFailure", "RecordFileRestoreFailure", "WriteRestoreReport"):
        retried = {error for rule in found[step].get("Retry", []) for error in rule["ErrorEquals"]}
        assert "ServiceBusyError" in retried, step


@pytest.mark.parametrize("step", sorted(RESTORE_STEP_SPECS))
def test_restore_steps_never_write_or_delete_archived_objects(archiver: Synthesized, step: str) -> None:
    statements = role_statements(archiver, step)
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"):
        assert all("/restores/*" in resource for resource in allowed(statements, action)), (step, action)


def test_only_the_steps_that_read_archived_objects_may_read_them(archiver: Synthesized) -> None:
    bucket = archive_bucket_id(archiver.template)
    readers = {
        step
        for step in RESTORE_STEP_SPECS
        for resource in allowed(role_statements(archiver, step), "s3:GetObject")
        if bucket in resource and ("/quicksight/*" in resource or "/qapps/*" in resource)
    }
    assert readers == {"validate_restore", "start_bundle_import", "restore_qapp_file"}


def test_each_service_call_is_granted_to_its_step_only(archiver: Synthesized) -> None:
    grants = {
        "qapps:ImportDocument": {"restore_qapp_file"},
        "qapps:GetQApp": {"validate_restore"},
        "quicksight:StartAssetBundleImportJob": {"start_bundle_import"},
    }
    for action, steps in grants.items():
        granted = {step for step in RESTORE_STEP_SPECS if allowed(role_statements(archiver, step), action)}
        assert granted == steps, action
    (jobs,) = allowed(role_statements(archiver, "check_bundle_import"), "quicksight:DescribeAssetBundleImportJob")
    assert "asset-bundle-import-job/*" in jobs
    (upload,) = allowed(role_statements(archiver, "restore_qapp_file"), "qapps:ImportDocument")
    assert "qapp/*" in upload


@pytest.mark.parametrize("step", RESTORE_KEY_USERS)
def test_the_archive_key_is_used_through_s3_only(archiver: Synthesized, step: str) -> None:
    kms = [s for s in role_statements(archiver, step) if "kms:Decrypt" in as_list(s["Action"])]
    assert kms and all(s["Condition"]["StringEquals"]["kms:ViaService"] for s in kms)


@pytest.mark.parametrize("step", RESTORE_KEY_READERS)
def test_steps_that_only_read_the_archive_may_only_decrypt(archiver: Synthesized, step: str) -> None:
    assert not allowed(role_statements(archiver, step), "kms:GenerateDataKey")


def test_an_s3_uri_import_reads_bundles_with_the_import_steps_own_access(archiver: Synthesized) -> None:
    # QuickSight reads an S3Uri source the caller can read: the import step reads bundles, through S3's key use
    bucket = archive_bucket_id(archiver.template)
    statements = role_statements(archiver, "start_bundle_import")
    assert any(bucket in r and "/quicksight/*" in r for r in allowed(statements, "s3:GetObject"))
    assert [
        s["Condition"]["StringEquals"]["kms:ViaService"] for s in statements if "kms:Decrypt" in as_list(s["Action"])
    ]
    # ... and the bucket policy grants QuickSight nothing: any Allow there would have to pass Block Public Access
    policies = archiver.template.find_resources("AWS::S3::BucketPolicy")
    (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": bucket}]
    assert {s["Effect"] for s in policy["Properties"]["PolicyDocument"]["Statement"]} == {"Deny"}


def test_quicksights_service_role_may_decrypt_bundles_through_s3_only(archiver: Synthesized) -> None:
    # Should QuickSight read as its service role, the key (not an IAM policy QuickSight writes) must allow it
    key = archiver.resources[
        archiver.resources[archive_bucket_id(archiver.template)]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ][0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    ]
    (decrypt,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("QuickSight")]
    assert decrypt["Action"] == "kms:Decrypt"
    assert "aws-quicksight-service-role-v0" in json.dumps(decrypt["Condition"]["ArnEquals"]["aws:PrincipalArn"])
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"]
    assert decrypt["Condition"]["StringEquals"]["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}


def test_a_configured_drill_plan_starts_the_restore_on_its_own_schedule(scheduled: Synthesized) -> None:
    restore = state_machine_id(scheduled.template, starts_at="ValidateRestore")

    scheduled.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 6 * * ? *)",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": restore},
                        "Input": Match.serialized_json(Match.object_equals(SCHEDULED_DRILL_PLAN)),
                    }
                )
            ],
        },
    )


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ({**SCHEDULED_DRILL_PLAN, "mode": "restore"}, 'mode: expected "drill" or "validate"'),
        ({"mode": "drill", "quicksight": {"bundles": []}}, "quicksight.bundles: expected at least 1 items"),
    ],
)
def test_a_bad_or_overwriting_drill_plan_is_refused_at_synth(plan: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        ArchiverSettings.from_mapping({**DEFAULTS, "drillPlan": plan})

    assert "context 'archiver.drillPlan' is not a valid restore drill input document" in str(refused.value)
    assert problem in str(refused.value)
