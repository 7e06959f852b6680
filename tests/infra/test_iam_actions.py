"""Every IAM action in every synthesized template exists: a misspelt one would deploy and grant nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest

from tests.infra.conftest import Synthesized
from tests.infra.iam_actions import NamedAction, named_actions, unknown_actions


def app_actions(request: pytest.FixtureRequest, app_name: str) -> Iterator[NamedAction]:
    if app_name == "pipeline":
        # The pipeline's own stack, its cross-region support stack and every stage's Archiver stack.
        pipeline_app: cdk.App = request.getfixturevalue("pipeline_app")
        for stack in pipeline_app.synth().stacks_recursively:
            yield from named_actions(stack.stack_name, stack.template)
    else:
        synthesized: Synthesized = request.getfixturevalue(app_name)
        yield from named_actions("Archiver", synthesized.template.to_json())


# The default settings, then every option on (a schedule, a drill, Identity Center, Object Lock, a
# break-glass role), then the pipeline.
@pytest.mark.parametrize("app_name", ["archiver", "scheduled", "hardened", "pipeline"])
def test_every_iam_action_of_the_app_exists(request: pytest.FixtureRequest, app_name: str) -> None:
    actions = list(app_actions(request, app_name))

    # Key policies' kms:* and CDK's s3:GetObject* count as well: a wildcard must match a real action.
    assert {"kms:*", "s3:GetObject*"} & {found.action for found in actions}
    assert not unknown_actions(iter(actions)), "\n".join(unknown_actions(iter(actions)))


def bucket_with_policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {
            "ArchiveBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}},
            }
        }
    }


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjcet"], "Resource": "*"},
        {"Effect": "Deny", "NotAction": "s3:GetObjcet", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObjcet*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s4:GetObject", "Resource": "*"},
    ],
    ids=["action", "not-action", "wildcard-matching-nothing", "unknown-service"],
)
def test_a_misspelt_action_is_named_with_where_it_stands(statement: dict[str, Any]) -> None:
    found = unknown_actions(named_actions("Archiver", bucket_with_policy(statement)))

    assert len(found) == 1
    assert "Archiver ArchiveBucketPolicy (AWS::S3::BucketPolicy)" in found[0]
    assert "Resources.ArchiveBucketPolicy.Properties.PolicyDocument.Statement[0]." in found[0]
    assert "GetObjcet" in found[0] or "s4:" in found[0]


def test_inline_and_trust_policies_are_checked_and_real_actions_pass_in_any_case() -> None:
    role = {
        "Resources": {
            "CopyRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetContext"]}
                    },
                    "Policies": [
                        {
                            "PolicyName": "copy",
                            "PolicyDocument": {
                                "Statement": [
                                    {"Effect": "Allow", "Action": ["S3:putobject", "kms:*", "qapps:GetQApp"]},
                                    {"Effect": "Allow", "Action": "quicksight:DescribeAssetBundleExportJobs"},
                                ]
                            },
                        }
                    ],
                },
            }
        }
    }

    found = unknown_actions(named_actions("Archiver", role))

    assert found == [
        "'quicksight:DescribeAssetBundleExportJobs' at Archiver CopyRole (AWS::IAM::Role): "
        "Resources.CopyRole.Properties.Policies[0].PolicyDocument.Statement[1].Action: no such IAM action"
    ]
