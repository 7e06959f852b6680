"""What each step of a restore (or drill, or validation) may do: read the archive, write the restore's
reports, import QuickSight bundles, upload Q Apps files.

Plain functions of the resources they join: the stack calls :func:`grant_restore_steps` once, with the
functions, the archive bucket and its key, and how Q Apps is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from archiver.core.layout import MANIFESTS_PREFIX, QAPPS_PREFIX, QUICKSIGHT_PREFIX, RESTORES_PREFIX
from infra.core.archive_bucket import ArchiveBucket
from infra.core.grants import (
    KEY_READS,
    KEY_WRITES,
    QAPPS_IDS_AT_RUN_TIME,
    QAppsAccess,
    allow,
    allow_archive_key,
    allow_bundle_jobs,
)

# What StartAssetBundleImportJob needs on each kind of resource a bundle may hold: the actions of AWS's
# managed AWSQuickSightAssetBundleImportPolicy (v1), by resource type, but for QUICKSIGHT_IMPORT_NOT_GRANTED.
# QuickSight checks the caller's create, describe and update permissions for every resource in the bundle
# before importing; with FailureAction ROLLBACK (the restore's default) it deletes what the failed job
# created, as the caller: hence the deletes, of every type an import creates. Not verified against a live
# account.
QUICKSIGHT_IMPORT_WRITES: dict[str, Sequence[str]] = {
    "dashboard": [
        "quicksight:CreateDashboard",
        "quicksight:UpdateDashboard",
        "quicksight:DeleteDashboard",
        "quicksight:DescribeDashboard",
        "quicksight:UpdateDashboardPublishedVersion",
        "quicksight:UpdateDashboardLinks",
        "quicksight:DescribeDashboardPermissions",
        "quicksight:UpdateDashboardPermissions",
    ],
    "analysis": [
        "quicksight:CreateAnalysis",
        "quicksight:UpdateAnalysis",
        "quicksight:DeleteAnalysis",
        "quicksight:DescribeAnalysis",
        "quicksight:DescribeAnalysisPermissions",
        "quicksight:UpdateAnalysisPermissions",
    ],
    "dataset": [
        "quicksight:CreateDataSet",
        "quicksight:UpdateDataSet",
        "quicksight:DeleteDataSet",
        "quicksight:DescribeDataSet",
        "quicksight:PassDataSet",
        "quicksight:DescribeDataSetPermissions",
        "quicksight:UpdateDataSetPermissions",
        "quicksight:DescribeDataSetRefreshProperties",
        "quicksight:PutDataSetRefreshProperties",
        "quicksight:DeleteDataSetRefreshProperties",
        # Refresh schedules (dataset/<id>/refresh-schedule/<id>) are covered by dataset/*.
        "quicksight:ListRefreshSchedules",
        "quicksight:CreateRefreshSchedule",
        "quicksight:UpdateRefreshSchedule",
        "quicksight:DeleteRefreshSchedule",
        "quicksight:DescribeRefreshSchedule",
    ],
    "datasource": [
        "quicksight:CreateDataSource",
        "quicksight:UpdateDataSource",
        "quicksight:DeleteDataSource",
        "quicksight:DescribeDataSource",
        "quicksight:PassDataSource",
        "quicksight:DescribeDataSourcePermissions",
        "quicksight:UpdateDataSourcePermissions",
    ],
    "theme": [
        "quicksight:CreateTheme",
        "quicksight:UpdateTheme",
        "quicksight:DeleteTheme",
        "quicksight:DescribeTheme",
        "quicksight:DescribeThemePermissions",
        "quicksight:UpdateThemePermissions",
    ],
    "vpcConnection": [
        "quicksight:ListVPCConnections",
        "quicksight:CreateVPCConnection",
        "quicksight:UpdateVPCConnection",
        "quicksight:DeleteVPCConnection",
        "quicksight:DescribeVPCConnection",
    ],
}
# Tags travel with the bundle (IncludeTags): an import, or its rollback, reads, sets and removes them.
QUICKSIGHT_IMPORT_TAGGING = ("quicksight:ListTagsForResource", "quicksight:TagResource", "quicksight:UntagResource")
# Every managed-policy action the import step is not granted, with the reason.
QUICKSIGHT_IMPORT_NOT_GRANTED: dict[str, str] = {
    "quicksight:ListAssetBundleImportJobs": "Import job ids are derived from the restore; no step ever lists jobs",
}

# QuickSight's service role (the default one its console creates), which may read S3Uri import sources;
# a QuickSight account that uses another role changes this name.
QUICKSIGHT_SERVICE_ROLE = "service-role/aws-quicksight-service-role-v0"

# The restore steps that read archived objects or write reports through S3, so use the archive's key.
RESTORE_KEY_READERS = ("validate_restore", "start_bundle_import")
# ... and those that also write the restore's outcomes and report (S3 asks for a data key).
RESTORE_KEY_WRITERS = ("check_bundle_import", "restore_qapp_file", "record_restore_failure", "write_restore_report")
RESTORE_KEY_USERS = (*RESTORE_KEY_READERS, *RESTORE_KEY_WRITERS)


REQUESTED = "A restore request names the archived objects (and manifests) to read at run time"
PER_RESTORE = "Each restore's item outcomes and report are written per restore under restores/"
PER_RESTORE_JOBS = "Import job ids are made per restore, so no job ARN is known at deploy time"


def grant_restore_steps(
    functions: Mapping[str, lambda_.Function], *, archive: ArchiveBucket, qapps: QAppsAccess
) -> None:
    """Grant each restore step exactly what it uses: reads of the archive, the reports, the two services."""
    grant_archive_reads(functions, bucket=archive.bucket)
    grant_reports(functions, bucket=archive.bucket)
    for name in RESTORE_KEY_USERS:
        allow_archive_key(functions[name], archive.key, KEY_READS if name in RESTORE_KEY_READERS else KEY_WRITES)
    grant_bundle_imports(functions)
    grant_qapps_restores(functions, qapps)
    let_quicksight_decrypt_imports(archive.key)


def grant_archive_reads(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket) -> None:
    """Archived objects, read pinned to the version the plan found (GetObjectVersion*); the key's sha256 tag
    is the digest recorded when it was archived. The first step also resolves "latest" and reads manifests."""
    objects = {prefix: bucket.arn_for_objects(f"{prefix}*") for prefix in (QUICKSIGHT_PREFIX, QAPPS_PREFIX)}
    object_reads = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
    readers = {
        "validate_restore": list(objects.values()),
        "start_bundle_import": [objects[QUICKSIGHT_PREFIX]],
        "restore_qapp_file": list(objects.values()),
    }
    for name, resources in readers.items():
        allow(functions[name], object_reads, resources, wildcards_because=REQUESTED)
    # A missing manifest must read as NoSuchKey, not AccessDenied, hence the prefix-scoped ListBucket.
    allow(
        functions["validate_restore"],
        ["s3:GetObject"],
        [bucket.arn_for_objects(f"{MANIFESTS_PREFIX}*")],
        wildcards_because=REQUESTED,
    )
    allow(
        functions["validate_restore"],
        ["s3:ListBucket"],
        [bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{MANIFESTS_PREFIX}*"]}},
    )


def grant_reports(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket) -> None:
    """Each item's outcome and the restore's report, under restores/."""
    reports = bucket.arn_for_objects(f"{RESTORES_PREFIX}*")
    for name in ("check_bundle_import", "restore_qapp_file", "record_restore_failure"):
        allow(functions[name], ["s3:PutObject"], [reports], wildcards_because=PER_RESTORE)
    allow(functions["write_restore_report"], ["s3:PutObject", "s3:GetObject"], [reports], wildcards_because=PER_RESTORE)
    allow(
        functions["write_restore_report"],
        ["s3:ListBucket"],
        [bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{RESTORES_PREFIX}*"]}},
    )


def grant_bundle_imports(functions: Mapping[str, lambda_.Function]) -> None:
    """Start and follow QuickSight import jobs, and create or update what an archived bundle holds."""
    allow_bundle_jobs(
        functions["start_bundle_import"],
        [functions["check_bundle_import"]],
        job_type="asset-bundle-import-job",
        start_actions=["quicksight:StartAssetBundleImportJob", "quicksight:DescribeAssetBundleImportJob"],
        follow_action="quicksight:DescribeAssetBundleImportJob",
        asset_actions={
            resource_type: [*actions, *QUICKSIGHT_IMPORT_TAGGING]
            for resource_type, actions in QUICKSIGHT_IMPORT_WRITES.items()
        },
        jobs_because=PER_RESTORE_JOBS,
        assets_because="An import creates or updates the assets in its archived bundle, known at run time",
    )


def grant_qapps_restores(functions: Mapping[str, lambda_.Function], qapps: QAppsAccess) -> None:
    """Check the apps a restore names, and upload files to them."""
    qapps_apps, qbusiness_applications = qapps.arns()
    qapps.allow(
        functions["validate_restore"],
        ["qapps:GetQApp"],
        [*qapps_apps, *qbusiness_applications],
        wildcards_because=QAPPS_IDS_AT_RUN_TIME,
    )
    # CreatePresignedUrl has no IAM action of its own: "the IAM permissions are derived from the
    # qapps:ImportDocument action" (Q Apps API reference); cfn-lint knows no qapps:CreatePresignedUrl.
    qapps.allow(
        functions["restore_qapp_file"],
        ["qapps:ImportDocument"],
        qapps_apps,
        wildcards_because=QAPPS_IDS_AT_RUN_TIME,
    )


def let_quicksight_decrypt_imports(key: kms.Key) -> None:
    """Let QuickSight's service role decrypt archived bundles it imports from S3, through S3 only.

    S3Uri imports. QuickSight reads "a bucket that the caller has read access to" (API reference,
    AssetBundleImportSource): start_bundle_import holds s3:GetObject on quicksight/* and kms:Decrypt
    through S3 above. Should QuickSight read as its service role instead, the bucket needs no policy for
    it either: a role of the bucket's own account is allowed by its identity policy alone, which
    QuickSight's console writes when the bucket is ticked under its S3 access. What that policy lacks is
    the archive key; this key policy statement lets the role decrypt, through S3 only.

    No bucket policy statement, on purpose: Principal "*" limited by aws:PrincipalArn is public to S3
    (aws:PrincipalArn is not among the keys S3 recognises as limiting), so Block Public Access refuses the
    whole policy and the first deployment fails; naming the role as Principal instead fails it wherever
    QuickSight has not created its role yet ("Invalid principal in policy").
    """
    quicksight_role = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{QUICKSIGHT_SERVICE_ROLE}"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="QuickSightDecryptsBundlesToImport",
            # A condition rather than a role principal, so the key deploys before QuickSight is set up
            # (KMS has no notion of a public key policy; kms:CallerAccount keeps it to this account).
            principals=[iam.AnyPrincipal()],
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={
                "ArnEquals": {"aws:PrincipalArn": quicksight_role},
                "StringEquals": {
                    "kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com",
                    "kms:CallerAccount": Aws.ACCOUNT_ID,
                },
            },
        )
    )
