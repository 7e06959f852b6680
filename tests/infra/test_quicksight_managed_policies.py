"""The bundle steps hold what AWS's own managed policies for asset bundles hold, but for named exceptions.

AWS publishes AWSQuickSightAssetBundleExportPolicy and AWSQuickSightAssetBundleImportPolicy as what the
export and import calls need (QuickSight developer guide, "Asset bundle operations: permissions"). The
stack grants its own, account- and region-scoped, statements; these tests hold the managed policies'
actions (tests/infra/data, with their source) and fail on any action the step lacks that is not one of the
stack's reasoned exceptions, and on an exception that is granted after all.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from infra.archive.grants import QUICKSIGHT_EXPORT_NOT_GRANTED
from infra.restore.grants import QUICKSIGHT_IMPORT_NOT_GRANTED
from tests.infra.conftest import Synthesized, as_list, role_statements

DATA = Path(__file__).parent / "data"
POLICIES = [
    ("AWSQuickSightAssetBundleExportPolicy", "start_bundle_export", QUICKSIGHT_EXPORT_NOT_GRANTED),
    ("AWSQuickSightAssetBundleImportPolicy", "start_bundle_import", QUICKSIGHT_IMPORT_NOT_GRANTED),
]


def managed_policy(name: str) -> list[dict[str, Any]]:
    document = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert document["source"].startswith(f"AWS managed policy arn:aws:iam::aws:policy/{name}")
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def resource_path(resource: Any) -> str:
    """``dashboard/*`` of a QuickSight ARN, whether written out or joined from CloudFormation tokens."""
    if isinstance(resource, dict) and "Fn::Join" in resource:
        resource = "".join(part if isinstance(part, str) else "TOKEN" for part in resource["Fn::Join"][1])
    assert isinstance(resource, str)
    return resource.split(":", 5)[5] if ":quicksight:" in resource else ""


def granted_paths(statements: list[dict[str, Any]], action: str) -> list[str]:
    return [
        resource_path(resource)
        for statement in statements
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def missing_actions(managed: list[dict[str, Any]], statements: list[dict[str, Any]]) -> set[str]:
    """Managed-policy actions the role does not hold on every resource path the managed policy names."""
    # The managed policies tag "*/*": for the role, that means each kind of asset they name (the steps
    # start their jobs untagged, so the job types are not among them).
    typed = {path for s in managed if not (path := s["Resource"].split(":", 5)[5]).startswith(("*/", "asset-bundle-"))}
    missing = set()
    for statement in managed:
        path = statement["Resource"].split(":", 5)[5]
        needed = typed if path == "*/*" else {path}
        for action in statement["Action"]:
            granted = granted_paths(statements, action)
            # IAM's * spans slashes: a grant on dataset/* covers dataset/*/refresh-schedule/*.
            if not all(any(fnmatchcase(p, grant) for grant in granted) for p in needed):
                missing.add(action)
    return missing


@pytest.mark.parametrize(("policy", "step", "not_granted"), POLICIES)
def test_each_bundle_step_holds_its_managed_policys_actions_but_the_named_exceptions(
    archiver: Synthesized, policy: str, step: str, not_granted: dict[str, str]
) -> None:
    # Given AWS's managed policy for the call the step makes, and the step's synthesized role
    missing = missing_actions(managed_policy(policy), role_statements(archiver, step))

    # Then the role lacks exactly the actions the stack names as deliberate, each with its reason
    assert missing == set(not_granted), f"{step} lacks {sorted(missing - set(not_granted))} of {policy}"
    assert all(reason.strip() for reason in not_granted.values())


def test_the_import_can_describe_every_type_a_bundle_holds_and_roll_back_what_it_created(
    archiver: Synthesized,
) -> None:
    # FailureAction ROLLBACK (the restore's default) deletes what a failed import created, as the caller
    statements = role_statements(archiver, "start_bundle_import")
    for kind in ("Dashboard", "Analysis", "DataSet", "DataSource", "Theme", "VPCConnection"):
        for verb in ("Describe", "Create", "Update", "Delete"):
            assert granted_paths(statements, f"quicksight:{verb}{kind}"), f"{verb}{kind}"
    assert granted_paths(statements, "quicksight:DeleteRefreshSchedule")


def test_a_grant_short_of_the_managed_policy_is_caught() -> None:
    # Given a role that describes dashboards but cannot tag them, nor anything else
    managed = managed_policy("AWSQuickSightAssetBundleExportPolicy")
    role = [
        {
            "Effect": "Allow",
            "Action": ["quicksight:DescribeDashboard", "quicksight:DescribeDashboardPermissions"],
            "Resource": "arn:aws:quicksight:eu-west-1:123456789012:dashboard/*",
        }
    ]

    # Then every other action is missing, the tag read on dashboards included
    missing = missing_actions(managed, role)
    assert "quicksight:DescribeDashboard" not in missing
    assert {"quicksight:ListTagsForResource", "quicksight:DescribeVPCConnection"} <= missing
