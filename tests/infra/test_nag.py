"""cdk-nag's AwsSolutions pack runs on every synth; a finding nobody acknowledged fails the build."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

import app
from infra.nag import acknowledge, add_checks, findings_of_synth, nag_notation
from infra.settings import CONTEXT_KEY, DEFAULTS
from tests.infra.conftest import HARDENED_OVERRIDES, SCHEDULED_OVERRIDES


def _explain(findings: list[str]) -> str:
    return (
        f"{len(findings)} cdk-nag finding(s) are neither fixed nor acknowledged. Fix each, or acknowledge it next "
        "to the construct that causes it with infra.nag.acknowledge(scope, finding, reason):\n  "
        + "\n  ".join(findings)
    )


def test_the_app_as_configured_in_cdk_json_has_no_unacknowledged_finding(tmp_path: Path) -> None:
    findings = findings_of_synth(app.build_app(outdir=str(tmp_path)))

    assert not findings, _explain(findings)


def test_every_optional_resource_has_no_unacknowledged_finding(tmp_path: Path) -> None:
    # Given a deployment with a schedule, a subscriber, the no-successful-run alarm, and the hardened
    # options: Q Apps through Identity Center, one instance, a break-glass role, Object Lock
    settings = {**DEFAULTS, **SCHEDULED_OVERRIDES, **HARDENED_OVERRIDES, "maxHoursWithoutSuccessfulRun": 30}
    settings["qappsInstanceIds"] = [SCHEDULED_OVERRIDES["schedulePlan"]["qapps"]["instanceId"]]

    findings = findings_of_synth(app.build_app(outdir=str(tmp_path), context={CONTEXT_KEY: settings}))

    assert not findings, _explain(findings)


def test_a_new_bucket_without_access_logs_or_tls_fails_the_synth_and_is_named(tmp_path: Path) -> None:
    # Given a throwaway app whose one stack adds a bucket with no access logs and no TLS policy
    throwaway = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(throwaway, "Throwaway")
    s3.Bucket(stack, "Careless")
    add_checks(throwaway)

    # When it synthesizes
    findings = findings_of_synth(throwaway)

    # Then the synth fails, and each finding names its rule and the construct to fix
    assert any(f.startswith("AwsSolutions-S1 at Throwaway/Careless/Resource") for f in findings), findings
    assert any(f.startswith("AwsSolutions-S10 at Throwaway/Careless/Resource") for f in findings), findings
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        throwaway.synth(force=True)


def test_an_acknowledgement_silences_exactly_its_finding(tmp_path: Path) -> None:
    throwaway = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(throwaway, "Throwaway")
    bucket = s3.Bucket(stack, "Careless", enforce_ssl=True)
    acknowledge(bucket, "AwsSolutions-S1", "Throwaway bucket: access logs are not the point of this test")
    add_checks(throwaway)

    findings = findings_of_synth(throwaway)

    assert not any(f.startswith("AwsSolutions-S1 ") for f in findings)
    assert findings == [], "only S1 was expected, and it was acknowledged"


def test_an_acknowledgement_needs_a_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Throwaway")

    with pytest.raises(ValueError, match="AwsSolutions-S1 needs a reason"):
        acknowledge(stack, "AwsSolutions-S1", "  ")


def test_wildcard_resources_are_spelled_as_cdk_nag_spells_them() -> None:
    stack = cdk.Stack(cdk.App(), "Throwaway")
    bucket = s3.Bucket(stack, "Archive")
    logical_id = stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]

    assert nag_notation(stack, bucket.arn_for_objects("manifests/*")) == f"<{logical_id}.Arn>/manifests/*"
    assert (
        nag_notation(stack, stack.format_arn(service="quicksight", resource="theme", resource_name="*"))
        == "arn:<AWS::Partition>:quicksight:<AWS::Region>:<AWS::AccountId>:theme/*"
    )
    name = cdk.Fn.select(6, cdk.Fn.split(":", bucket.bucket_arn))
    assert nag_notation(stack, f"x:{name}:*") == (
        'x:{"Fn::Select":[6,{"Fn::Split":[":",{"Fn::GetAtt":["' + logical_id + '","Arn"]}]}]}:*'
    )
