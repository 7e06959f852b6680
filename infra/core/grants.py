"""How a step is granted what it uses: plain functions of the resources they join, shared by both sides.

Every grant of the archive and restore steps goes through :func:`allow`, so a wildcard resource cannot be
granted without the reason it is as narrow as it can be (cdk-nag's IAM5 finding is acknowledged with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_

from infra.core.qapps_identity import QAppsIdentity
from infra.nag import acknowledge_wildcard

# Why the Q Apps grants end in wildcards.
QAPPS_IDS_AT_RUN_TIME = "The input names apps and sessions (and, unless qappsInstanceIds is set, instances) at run time"

# S3 asks KMS for a data key on writes and to decrypt on reads and multipart uploads; it never calls
# kms:Encrypt. A step that only reads gets Decrypt only.
KEY_READS = ("kms:Decrypt",)
KEY_WRITES = ("kms:Decrypt", "kms:GenerateDataKey")


def allow(
    function: lambda_.IFunction,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    conditions: dict[str, Any] | None = None,
    wildcards_because: str | None = None,
) -> None:
    """Grant ``actions`` on ``resources``; a wildcard resource must say why (cdk-nag's IAM5, acknowledged here)."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(actions), resources=list(resources), conditions=conditions)
    )
    for resource in resources:
        if "*" not in resource:
            continue
        if wildcards_because is None:
            raise ValueError(f"granting {resource} to {function.node.path} needs the reason for its wildcard")
        acknowledge_wildcard(function, resource, wildcards_because)


def allow_archive_key(function: lambda_.IFunction, key: kms.IKey, actions: Sequence[str]) -> None:
    """Let a step use the archive's key, through S3 only (``KEY_READS`` or ``KEY_WRITES``)."""
    allow(
        function,
        actions,
        [key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
    )


@dataclass(frozen=True)
class QAppsAccess:
    """How the steps call Q Apps, and which instances they may touch.

    Attributes
    ----------
    identity:
        The role Q Apps is called as with the archive user's identity; ``None``: the steps' own roles
        (``qappsCredentials`` mode ``role``).
    instance_ids:
        ``qappsInstanceIds``: the Q Business applications the archiver may use; ``None``: any.
    """

    identity: QAppsIdentity | None
    instance_ids: Sequence[str] | None

    @property
    def instances(self) -> tuple[str, ...]:
        """The listed instances, or every instance (``*``) when ``qappsInstanceIds`` is not set."""
        return tuple(self.instance_ids) if self.instance_ids else ("*",)

    def arns(self) -> tuple[list[str], list[str]]:
        """The Q Apps apps, and the Amazon Q Business applications (Q Apps instances), the archiver may use.

        Q Apps resources live under their Amazon Q Business application (Service Authorization Reference,
        "Amazon Q Business Q Apps"); ``qappsInstanceIds`` narrows them to the listed instances.
        """
        apps = [
            f"arn:{Aws.PARTITION}:qapps:{Aws.REGION}:{Aws.ACCOUNT_ID}:application/{i}/qapp/*" for i in self.instances
        ]
        applications = [
            f"arn:{Aws.PARTITION}:qbusiness:{Aws.REGION}:{Aws.ACCOUNT_ID}:application/{i}" for i in self.instances
        ]
        return apps, applications

    def allow(
        self,
        function: lambda_.Function,
        actions: Sequence[str],
        resources: Sequence[str],
        *,
        wildcards_because: str | None = None,
    ) -> None:
        """Let a step call Q Apps: on its own role, or as the archive user through Identity Center.

        Every function that calls ``archiver.core.clients.qapps()`` is granted through here, so the
        ``qappsCredentials`` mode decides for all of them at once.
        """
        if self.identity is None:
            allow(function, actions, resources, wildcards_because=wildcards_because)
        else:
            self.identity.grant_qapps_access(
                function, actions=actions, resources=resources, wildcards_because=wildcards_because
            )


def quicksight_arn(function: lambda_.IFunction, resource_type: str) -> str:
    """Every QuickSight resource of ``resource_type`` in the function's account and region."""
    return Stack.of(function).format_arn(service="quicksight", resource=resource_type, resource_name="*")


def allow_bundle_jobs(
    start: lambda_.IFunction,
    followers: Sequence[lambda_.IFunction],
    *,
    job_type: str,
    start_actions: Sequence[str],
    follow_action: str,
    asset_actions: Mapping[str, Sequence[str]],
    jobs_because: str,
    assets_because: str,
) -> None:
    """QuickSight asset-bundle jobs of one ``job_type`` (``asset-bundle-export-job``, ``...-import-job``).

    ``start`` starts them and acts on the assets a job touches, by resource type (``asset_actions``);
    the ``followers`` only describe them (``follow_action``).
    """
    jobs = quicksight_arn(start, job_type)
    allow(start, start_actions, [jobs], wildcards_because=jobs_because)
    for resource_type, actions in asset_actions.items():
        allow(start, actions, [quicksight_arn(start, resource_type)], wildcards_because=assets_because)
    for follower in followers:
        allow(follower, [follow_action], [jobs], wildcards_because=jobs_because)
