"""What each step of the archive run may do: QuickSight exports, Q Apps reads, the archive's keys.

Plain functions of the resources they join: the stack calls :func:`grant_archive_steps` once, with the
functions, the archive bucket and its key, and how Q Apps is called. Nothing is collected on the side.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

# The functions' own archive layout: grants follow where the code writes, by construction.
from archiver.core import layout
from archiver.core.layout import MANIFESTS_PREFIX, MAP_RESULTS_PREFIX, QUICKSIGHT_PREFIX
from infra.core.archive_bucket import ArchiveBucket
from infra.core.grants import (
    KEY_READS,
    KEY_WRITES,
    QAPPS_IDS_AT_RUN_TIME,
    QAppsAccess,
    allow,
    allow_archive_key,
    allow_bundle_jobs,
    quicksight_arn,
)
from infra.nag import acknowledge_wildcard

# The steps that settle an item and record its outcome under manifests/ (the export starter: an unchanged bundle).
OUTCOME_WRITERS = (
    "start_bundle_export",
    "check_bundle_export",
    "archive_bundle",
    "archive_session",
    "archive_app",
    "record_item_failure",
)
# The steps that use the archive's key, through S3: those that write artifacts, outcomes, catalogue entries,
# the plan's items or the manifest (all of them, since the export starter records unchanged bundles).
ARCHIVE_KEY_READERS: tuple[str, ...] = ()
ARCHIVE_KEY_WRITERS = (*OUTCOME_WRITERS, "write_manifest", "validate_run", "discover_assets")
# The steps that read an item's last archived version in the catalogue and record the versions they archive.
CATALOGUE_WRITERS = ("start_bundle_export", "archive_bundle", "archive_session", "archive_app")
PER_VERSION_ENTRIES = "Catalogue entries are written once per archived version, named by subject, time and run"
PER_RUN_INDEXES = "A catalogue index is written per run, named by its time and run"
# ValidateRun writes the plan's items, one file per kind (layout.plan_items_key); the Distributed Maps
# read them, and their ResultWriter writes under MAP_RESULTS_PREFIX.
PLAN_ITEMS = f"{MANIFESTS_PREFIX}*/plan/*"
PER_RUN_PLANS = "The plan's item files are written per run (manifests/{run id}/plan/{kind}s.json)"
PLANS_BY_REFERENCE = "A run's input names its plan (or a list of it) by key, any key under the plans prefix"
PER_MAP_RUN_RESULTS = "Step Functions names each Map Run's result files itself, under the results prefix"

# What StartAssetBundleExportJob needs on the exported resources: the actions of AWS's managed
# AWSQuickSightAssetBundleExportPolicy (v1), by resource type, but for QUICKSIGHT_EXPORT_NOT_GRANTED
# (tests/infra/test_quicksight_managed_policies.py holds the managed policy and checks the two agree).
QUICKSIGHT_EXPORT_READS: dict[str, Sequence[str]] = {
    "dashboard": ["quicksight:DescribeDashboard", "quicksight:DescribeDashboardPermissions"],
    "analysis": ["quicksight:DescribeAnalysis", "quicksight:DescribeAnalysisPermissions"],
    "dataset": [
        "quicksight:DescribeDataSet",
        "quicksight:DescribeDataSetPermissions",
        "quicksight:DescribeDataSetRefreshProperties",
        # Refresh schedules are sub-resources of their data set (dataset/<id>/refresh-schedule/<id>),
        # which the dataset/* grant covers: IAM's * spans slashes.
        "quicksight:DescribeRefreshSchedule",
        "quicksight:ListRefreshSchedules",
    ],
    "datasource": ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions"],
    "theme": ["quicksight:DescribeTheme", "quicksight:DescribeThemePermissions"],
    "vpcConnection": ["quicksight:DescribeVPCConnection", "quicksight:ListVPCConnections"],
    # Beyond the managed policy: only used when a plan exports folders or folder memberships
    # (IncludeFolderMemberships); not verified against a live account.
    "folder": [
        "quicksight:DescribeFolder",
        "quicksight:DescribeFolderPermissions",
        "quicksight:ListFolderMembers",
    ],
}
# Every managed-policy action the export step is not granted, with the reason.
QUICKSIGHT_EXPORT_NOT_GRANTED: dict[str, str] = {
    "quicksight:ListAssetBundleExportJobs": "Export job ids are derived from the run; no step ever lists jobs",
}

# What discovery reads, by the resource type IAM authorises it on (Service Authorization Reference): the
# List calls of the types it discovers, the Describe calls that name an asset's dependencies, and tags for
# the filters. ListDataSets and ListDataSources name no resource type: IAM authorises them on "*" only.
DISCOVERY_READS: dict[str, Sequence[str]] = {
    "dashboard": ["quicksight:ListDashboards", "quicksight:DescribeDashboard", "quicksight:ListTagsForResource"],
    "analysis": ["quicksight:ListAnalyses", "quicksight:DescribeAnalysis", "quicksight:ListTagsForResource"],
    "dataset": ["quicksight:DescribeDataSet", "quicksight:ListTagsForResource"],
    "datasource": ["quicksight:ListTagsForResource"],
    "theme": ["quicksight:ListThemes", "quicksight:ListTagsForResource"],
    "folder": ["quicksight:ListFolders", "quicksight:ListFolderMembers", "quicksight:ListTagsForResource"],
}
DISCOVERY_UNSCOPED_READS = ("quicksight:ListDataSets", "quicksight:ListDataSources")
DISCOVERY_BECAUSE = "Discovery lists and describes the account's assets of each type; only list/describe actions"
UNSCOPED_BECAUSE = "ListDataSets and ListDataSources take no resource type: IAM authorises them on * only"
# DiscoverAssets rewrites the plan's item files, with what it found, and records its findings.
DISCOVERY_RECORD = posixpath.basename(layout.discovery_key("run"))

# Artifacts are written once (PutObject with If-None-Match). On a 412 the existing object's checksum
# (HeadObject = GetObject) and SHA-256 tag are read back to tell a repeat from a conflict, and a missing
# tag is added to that object version.
ARTIFACT_WRITES = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:PutObjectVersionTagging",
)
PER_RUN_KEYS = "Artifact keys are made per run and item, under the layout's keys for their kind"
PER_RUN_RECORDS = "Each item's outcome and the run's manifest are written per run under manifests/"
PER_RUN_JOBS = "Export job ids are made per run (run id + bundle name), so no job ARN is known at deploy time"


def grant_archive_steps(
    functions: Mapping[str, lambda_.Function], *, archive: ArchiveBucket, qapps: QAppsAccess, plans_prefix: str
) -> None:
    """Grant each step of the archive run exactly what it uses, in one pass over the steps."""
    grant_bundle_exports(functions)
    grant_qapps_reads(functions, qapps)
    grant_discovery(functions, bucket=archive.bucket, qapps=qapps)
    grant_artifact_writes(functions, bucket=archive.bucket, qapps=qapps)
    grant_outcomes(functions, bucket=archive.bucket)
    grant_catalogue(functions, bucket=archive.bucket)
    for name in ARCHIVE_KEY_WRITERS:
        allow_archive_key(functions[name], archive.key, KEY_WRITES)
    for name in ARCHIVE_KEY_READERS:
        allow_archive_key(functions[name], archive.key, KEY_READS)
    # validate_run writes the plan's items and reads plans given by reference (only under the plans prefix);
    # nothing else.
    allow(
        functions["validate_run"],
        ["s3:PutObject"],
        [archive.bucket.arn_for_objects(PLAN_ITEMS)],
        wildcards_because=PER_RUN_PLANS,
    )
    allow(
        functions["validate_run"],
        ["s3:GetObject"],
        [archive.bucket.arn_for_objects(f"{plans_prefix}*")],
        wildcards_because=PLANS_BY_REFERENCE,
    )


def grant_distributed_maps(state_machine: sfn.StateMachine, *, archive: ArchiveBucket) -> None:
    """What the run's Distributed Maps do as the state machine: read the plan's items, write their results.

    CDK grants itself the child executions (``states:StartExecution`` on this state machine, describe, stop
    and redrive of its own executions): those are acknowledged here. Its item reader and result writer
    grant nothing (``infra/core/steps.py``): the reads and writes below name the layout's keys instead of
    the whole bucket.
    """
    bucket = archive.bucket
    reads = [bucket.arn_for_objects(PLAN_ITEMS)]
    results = [bucket.arn_for_objects(f"{MAP_RESULTS_PREFIX}*")]
    state_machine.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=reads))
    # ResultWriter's actions, as Step Functions' developer guide lists them for writing results to S3.
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
            resources=results,
        )
    )
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=list(KEY_WRITES),
            resources=[archive.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        )
    )
    acknowledge_wildcard(state_machine, reads[0], PER_RUN_PLANS)
    acknowledge_wildcard(state_machine, results[0], PER_MAP_RUN_RESULTS)
    # The ARNs CDK's DistributedMapPolicy grants: this state machine's own executions and their children.
    name = Fn.select(6, Fn.split(":", state_machine.state_machine_arn))
    # Spelled from the stack, as CDK spells them: literal where the stack's environment is known.
    stack = Stack.of(state_machine)
    executions = f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:{name}"
    acknowledge_wildcard(
        state_machine, f"{executions}:*", "Describes and stops the child executions its Distributed Maps start"
    )
    acknowledge_wildcard(
        state_machine, f"{executions}/*:*", "Redrives the child executions of its own Map Runs, named by Step Functions"
    )


def grant_bundle_exports(functions: Mapping[str, lambda_.Function]) -> None:
    """Start and follow QuickSight export jobs, and read what the plan exports."""
    allow_bundle_jobs(
        functions["start_bundle_export"],
        [functions["check_bundle_export"], functions["archive_bundle"]],
        job_type="asset-bundle-export-job",
        start_actions=["quicksight:StartAssetBundleExportJob", "quicksight:DescribeAssetBundleExportJob"],
        follow_action="quicksight:DescribeAssetBundleExportJob",
        asset_actions={
            resource_type: [*actions, "quicksight:ListTagsForResource"]
            for resource_type, actions in QUICKSIGHT_EXPORT_READS.items()
        },
        jobs_because=PER_RUN_JOBS,
        assets_because="The plan names the exported assets at run time; only describe/list actions",
    )


def grant_discovery(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket, qapps: QAppsAccess) -> None:
    """List and describe the account's assets, list the instance's apps, rewrite the plan's items, record findings."""
    discover = functions["discover_assets"]
    for resource_type, actions in DISCOVERY_READS.items():
        allow(discover, actions, [quicksight_arn(discover, resource_type)], wildcards_because=DISCOVERY_BECAUSE)
    allow(discover, DISCOVERY_UNSCOPED_READS, ["*"], wildcards_because=UNSCOPED_BECAUSE)
    _, qbusiness_applications = qapps.arns()
    qapps.allow(
        discover,
        ["qapps:ListQApps", "qapps:ListLibraryItems"],
        qbusiness_applications,
        wildcards_because=QAPPS_IDS_AT_RUN_TIME,
    )
    allow(
        discover,
        ["s3:GetObject", "s3:PutObject"],
        [bucket.arn_for_objects(PLAN_ITEMS)],
        wildcards_because=PER_RUN_PLANS,
    )
    allow(
        discover,
        ["s3:PutObject"],
        [bucket.arn_for_objects(f"{MANIFESTS_PREFIX}*/{DISCOVERY_RECORD}")],
        wildcards_because=PER_RUN_RECORDS,
    )


def grant_qapps_reads(functions: Mapping[str, lambda_.Function], qapps: QAppsAccess) -> None:
    """Export sessions and get app definitions. Q Apps resources live under their Amazon Q Business
    application (Service Authorization Reference, "Amazon Q Business Q Apps"): sessions are required for
    ExportQAppSessionData; GetQApp accepts the application or the app."""
    qapps_apps, qbusiness_applications = qapps.arns()
    qapps.allow(
        functions["archive_session"],
        ["qapps:ExportQAppSessionData"],
        [f"{app}/session/*" for app in qapps_apps],
        wildcards_because=QAPPS_IDS_AT_RUN_TIME,
    )
    qapps.allow(
        functions["archive_app"],
        ["qapps:GetQApp"],
        [*qapps_apps, *qbusiness_applications],
        wildcards_because=QAPPS_IDS_AT_RUN_TIME,
    )


def grant_artifact_writes(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket, qapps: QAppsAccess) -> None:
    """Each copy step writes its own kind of artifact (of the allowed instances), at the layout's keys."""
    instances = qapps.instances
    session_keys = [
        layout.session_key(instance_id=i, app_id="*", session_id="*", run_date="*", run_id="*") for i in instances
    ]
    definition_keys = [
        posixpath.dirname(layout.app_definition_key(instance_id=i, app_id="*", app_version=1)) + "/*" for i in instances
    ]
    for name, keys in (
        ("archive_bundle", [f"{QUICKSIGHT_PREFIX}*"]),
        ("archive_session", session_keys),
        ("archive_app", definition_keys),
    ):
        allow(
            functions[name],
            ARTIFACT_WRITES,
            [bucket.arn_for_objects(pattern) for pattern in keys],
            wildcards_because=PER_RUN_KEYS,
        )


def grant_outcomes(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket) -> None:
    """Outcomes under manifests/, read back so a run executed again archives nothing twice.

    Each item's outcome (archived or failed) is written under manifests/ by the step that settles it;
    write_manifest gathers them. A missing outcome must read as NoSuchKey, not AccessDenied, hence the
    prefix-scoped ListBucket.
    """
    manifests = [bucket.arn_for_objects(f"{MANIFESTS_PREFIX}*")]
    for name in OUTCOME_WRITERS:
        allow(functions[name], ["s3:PutObject"], manifests, wildcards_because=PER_RUN_RECORDS)
    allow(functions["write_manifest"], ["s3:PutObject", "s3:GetObject"], manifests, wildcards_because=PER_RUN_RECORDS)
    # The archive steps read their item's earlier outcome first (archiver.archive.artifacts.previously_kept).
    for name in ("start_bundle_export", "archive_bundle", "archive_session", "archive_app"):
        allow(functions[name], ["s3:GetObject"], manifests, wildcards_because=PER_RUN_RECORDS)
    # The export starter starts no job for a bundle the run already archived: it checks the object is
    # still there, whole (HeadObject = GetObject, and its SHA-256 tag), reading nothing else.
    allow(
        functions["start_bundle_export"],
        ["s3:GetObject", "s3:GetObjectTagging"],
        [bucket.arn_for_objects(f"{QUICKSIGHT_PREFIX}*")],
        wildcards_because=PER_RUN_KEYS,
    )
    # A copy retried after a timeout aborts the multipart upload its cut-short attempt left (listing
    # uploads in progress shows keys and upload ids, no content).
    for name in ("archive_bundle", "archive_session"):
        allow(functions[name], ["s3:ListBucketMultipartUploads"], [bucket.bucket_arn])
    for name in ("write_manifest", "start_bundle_export", "archive_bundle", "archive_session", "archive_app"):
        allow(
            functions[name],
            ["s3:ListBucket"],
            [bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{MANIFESTS_PREFIX}*"]}},
        )


def grant_catalogue(functions: Mapping[str, lambda_.Function], *, bucket: s3.IBucket) -> None:
    """The catalogue: the item steps list and read a subject's entries and write new ones (write-once, so
    no overwrite is needed); write_manifest reads the latest index and writes the run's."""
    entries = [bucket.arn_for_objects(f"{layout.CATALOGUE_ENTRIES_PREFIX}*")]
    indexes = [bucket.arn_for_objects(f"{layout.CATALOGUE_INDEX_PREFIX}*")]
    for name in CATALOGUE_WRITERS:
        allow(functions[name], ["s3:GetObject", "s3:PutObject"], entries, wildcards_because=PER_VERSION_ENTRIES)
        allow(
            functions[name],
            ["s3:ListBucket"],
            [bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{layout.CATALOGUE_ENTRIES_PREFIX}*"]}},
        )
    allow(functions["write_manifest"], ["s3:GetObject", "s3:PutObject"], indexes, wildcards_because=PER_RUN_INDEXES)
    allow(
        functions["write_manifest"],
        ["s3:ListBucket"],
        [bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [layout.CATALOGUE_INDEX_PREFIX, f"{layout.CATALOGUE_INDEX_PREFIX}*"]}},
    )
