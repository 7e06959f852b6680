"""The archiver's one stack: composes the constructs and grants each step exactly what it uses."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# The functions' own archive layout: grants follow where the code writes, by construction.
from archiver.core import layout
from archiver.core.layout import MANIFESTS_PREFIX, QAPPS_PREFIX, QUICKSIGHT_PREFIX, RESTORES_PREFIX
from infra.constructs.archive_bucket import ArchiveBucket
from infra.constructs.functions import ArchiverFunctions
from infra.constructs.monitoring import Monitoring
from infra.constructs.qapps_identity import QAppsIdentity
from infra.constructs.restore_workflow import RestoreWorkflow
from infra.constructs.schedule import RunSchedule
from infra.constructs.workflow import ArchiveWorkflow
from infra.nag import acknowledge_wildcard
from infra.settings import ArchiverSettings, ObjectLock

DESCRIPTION = "Archives Amazon QuickSight asset bundles and Amazon Q Apps data to S3"

# Why the Q Apps grants end in wildcards.
QAPPS_IDS_AT_RUN_TIME = "The input names apps and sessions (and, unless qappsInstanceIds is set, instances) at run time"

# The steps that settle an item and record its outcome under manifests/.
OUTCOME_WRITERS = (
    "check_bundle_export",
    "archive_bundle",
    "archive_session",
    "archive_app",
    "record_item_failure",
)

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


class ArchiverStack(Stack):
    """The archive bucket, one function per step, the state machine, its schedule and its alarms.

    Attributes
    ----------
    archive:
        The archive bucket construct.
    functions:
        The step functions construct.
    workflow:
        The state machine construct.
    state_machine:
        The run's Standard state machine (``workflow.state_machine``).
    restore_workflow:
        The restore's state machine construct (restore, drill or validate archived objects).
    schedule:
        The scheduled run, or ``None`` when the settings carry no plan.
    drill_schedule:
        The scheduled restore drill, or ``None`` when the settings carry no drill plan.
    monitoring:
        The notifications topic, alarm and failure rule.
    qapps_identity:
        The role Q Apps is called as with the archive user's identity, or ``None`` when the Q Apps steps use
        their own roles (``qappsCredentials`` mode ``role``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: ArchiverSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        self.archive = ArchiveBucket(
            self,
            "Archive",
            cold_storage_after=Duration.days(settings.cold_storage_after_days),
            break_glass_role_arn=settings.break_glass_role_arn,
            object_lock=_object_lock_retention(settings.object_lock),
        )
        self.functions = ArchiverFunctions(
            self,
            "Steps",
            archive_bucket_name=self.archive.bucket.bucket_name,
            download_allowlist=settings.download_allowlist,
            export_deadline=Duration.minutes(settings.export_deadline_minutes),
            log_retention=settings.log_retention,
        )
        self.workflow = ArchiveWorkflow(
            self,
            "Workflow",
            steps=self.functions.steps,
            timeout=Duration.hours(settings.run_timeout_hours),
        )
        self.state_machine: sfn.StateMachine = self.workflow.state_machine
        self.restore_workflow = RestoreWorkflow(
            self,
            "Restore",
            steps=self.functions.restore_steps,
            timeout=Duration.hours(settings.run_timeout_hours),
        )

        self.schedule: RunSchedule | None = None
        if settings.schedule_plan is not None:
            self.schedule = RunSchedule(
                self,
                "Schedule",
                state_machine=self.state_machine,
                schedule=events.Schedule.expression(settings.schedule_expression),
                plan=settings.schedule_plan,
            )

        # "Prove last night's archive restores": a drill (or a validation) on its own schedule.
        self.drill_schedule: RunSchedule | None = None
        if settings.drill_plan is not None:
            self.drill_schedule = RunSchedule(
                self,
                "DrillSchedule",
                state_machine=self.restore_workflow.state_machine,
                schedule=events.Schedule.expression(settings.drill_schedule_expression),
                plan=settings.drill_plan,
                description="Starts a scheduled restore drill",
            )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=self.state_machine,
            restore_state_machine=self.restore_workflow.state_machine,
            notification_email=settings.notification_email,
            functions=self.functions.functions,
            successful_run_expected_within_hours=settings.successful_run_expected_within_hours,
        )

        self.qapps_identity: QAppsIdentity | None = None
        identity_center = settings.qapps_identity_center
        if identity_center is not None:
            self.qapps_identity = QAppsIdentity(
                self,
                "QAppsIdentity",
                secret_arn=identity_center.secret_arn,
                application_arn=identity_center.application_arn,
                secret_key_arn=identity_center.secret_key_arn,
                identity_center_region=identity_center.identity_center_region,
            )

        self._grant_steps()
        self._grant_restore_steps()

    # -- grants ------------------------------------------------------------------------------------------

    def _grant_steps(self) -> None:
        fn = self.functions.functions
        # Function path -> (function, the KMS actions its object grants need).
        self._archive_key_users: dict[str, tuple[lambda_.IFunction, set[str]]] = {}
        # validate_run only reads its input: no grants.

        export_jobs = self._quicksight_arn("asset-bundle-export-job")
        per_run_jobs = "Export job ids are made per run (run id + bundle name), so no job ARN is known at deploy time"
        self._allow(
            fn["start_bundle_export"],
            ["quicksight:StartAssetBundleExportJob", "quicksight:DescribeAssetBundleExportJob"],
            [export_jobs],
            wildcards_because=per_run_jobs,
        )
        for resource_type, actions in QUICKSIGHT_EXPORT_READS.items():
            self._allow(
                fn["start_bundle_export"],
                [*actions, "quicksight:ListTagsForResource"],
                [self._quicksight_arn(resource_type)],
                wildcards_because="The plan names the exported assets at run time; only describe/list actions",
            )
        for name in ("check_bundle_export", "archive_bundle"):
            self._allow(
                fn[name], ["quicksight:DescribeAssetBundleExportJob"], [export_jobs], wildcards_because=per_run_jobs
            )

        # Q Apps resources live under their Amazon Q Business application (Service Authorization
        # Reference, "Amazon Q Business Q Apps"): sessions are required for ExportQAppSessionData; GetQApp
        # accepts the application or the app.
        instances = self._qapps_instances()
        qapps_apps, qbusiness_applications = self._qapps_arns()
        self.grant_qapps(
            fn["archive_session"],
            ["qapps:ExportQAppSessionData"],
            [f"{app}/session/*" for app in qapps_apps],
            wildcards_because=QAPPS_IDS_AT_RUN_TIME,
        )
        self.grant_qapps(
            fn["archive_app"],
            ["qapps:GetQApp"],
            [*qapps_apps, *qbusiness_applications],
            wildcards_because=QAPPS_IDS_AT_RUN_TIME,
        )

        # Artifacts are written once (PutObject with If-None-Match). On a 412 the existing object's
        # checksum (HeadObject = GetObject) and SHA-256 tag are read back to tell a repeat from a
        # conflict, and a missing tag is added to that object version.
        artifact_writes = [
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:AbortMultipartUpload",
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:PutObjectVersionTagging",
        ]
        per_run_keys = "Artifact keys are made per run and item, under the layout's keys for their kind"
        self._allow_objects(
            fn["archive_bundle"], artifact_writes, f"{QUICKSIGHT_PREFIX}*", wildcards_because=per_run_keys
        )
        # Q Apps steps write only their own kind of object, of the allowed instances, at the layout's keys.
        session_keys = [
            layout.session_key(instance_id=i, app_id="*", session_id="*", run_date="*", run_id="*") for i in instances
        ]
        definition_keys = [
            posixpath.dirname(layout.app_definition_key(instance_id=i, app_id="*", app_version=1)) + "/*"
            for i in instances
        ]
        self._allow_objects(fn["archive_session"], artifact_writes, *session_keys, wildcards_because=per_run_keys)
        self._allow_objects(fn["archive_app"], artifact_writes, *definition_keys, wildcards_because=per_run_keys)

        # Each item's outcome (archived or failed) is written under manifests/ by the step that
        # settles it; write_manifest gathers them. A missing outcome must read as NoSuchKey, not
        # AccessDenied, hence the prefix-scoped ListBucket.
        per_run_records = "Each item's outcome and the run's manifest are written per run under manifests/"
        for name in OUTCOME_WRITERS:
            self._allow_objects(fn[name], ["s3:PutObject"], f"{MANIFESTS_PREFIX}*", wildcards_because=per_run_records)
        self._allow_objects(
            fn["write_manifest"],
            ["s3:PutObject", "s3:GetObject"],
            f"{MANIFESTS_PREFIX}*",
            wildcards_because=per_run_records,
        )
        # The archive steps read their item's earlier outcome first, so a run executed again
        # archives nothing twice (archiver.artifacts.previously_kept).
        for name in ("start_bundle_export", "archive_bundle", "archive_session", "archive_app"):
            self._allow_objects(fn[name], ["s3:GetObject"], f"{MANIFESTS_PREFIX}*", wildcards_because=per_run_records)
        # The export starter starts no job for a bundle the run already archived: it checks the object
        # is still there, whole (HeadObject = GetObject, and its SHA-256 tag), reading nothing else.
        self._allow_objects(
            fn["start_bundle_export"],
            ["s3:GetObject", "s3:GetObjectTagging"],
            f"{QUICKSIGHT_PREFIX}*",
            wildcards_because=per_run_keys,
        )
        # A copy retried after a timeout aborts the multipart upload its cut-short attempt left
        # (listing uploads in progress shows keys and upload ids, no content).
        for name in ("archive_bundle", "archive_session"):
            self._allow(fn[name], ["s3:ListBucketMultipartUploads"], [self.archive.bucket.bucket_arn])
        for name in ("write_manifest", "start_bundle_export", "archive_bundle", "archive_session", "archive_app"):
            self._allow(
                fn[name],
                ["s3:ListBucket"],
                [self.archive.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{MANIFESTS_PREFIX}*"]}},
            )

        # S3 asks KMS for a data key on writes and to decrypt on reads and multipart uploads; it never
        # calls kms:Encrypt. The key is usable through S3 only; a step that only reads gets Decrypt only.
        for function, key_actions in self._archive_key_users.values():
            self._allow(
                function,
                sorted(key_actions),
                [self.archive.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )

    def grant_qapps(
        self,
        function: lambda_.Function,
        actions: Sequence[str],
        resources: Sequence[str],
        *,
        wildcards_because: str | None = None,
    ) -> None:
        """Let a step call Q Apps: on its own role, or as the archive user through Identity Center.

        Every function that calls ``archiver.clients.qapps()`` is granted through here, so the
        ``qappsCredentials`` mode decides for all of them at once.
        """
        if self.qapps_identity is None:
            self._allow(function, actions, resources, wildcards_because=wildcards_because)
        else:
            self.qapps_identity.grant_qapps_access(
                function, actions=actions, resources=resources, wildcards_because=wildcards_because
            )

    def _grant_restore_steps(self) -> None:
        """What each restore step uses: reads of the archive, the restore's reports, the two services."""
        fn = self.functions.functions
        bucket, key = self.archive.bucket, self.archive.key
        objects = {prefix: bucket.arn_for_objects(f"{prefix}*") for prefix in (QUICKSIGHT_PREFIX, QAPPS_PREFIX)}
        # Archived objects are read pinned to the version the plan found (GetObjectVersion*); the
        # key's sha256 tag is the digest recorded when it was archived.
        object_reads = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
        readers = {
            "validate_restore": list(objects.values()),
            "start_bundle_import": [objects[QUICKSIGHT_PREFIX]],
            "restore_qapp_file": list(objects.values()),
        }
        requested = "A restore request names the archived objects (and manifests) to read at run time"
        for name, resources in readers.items():
            self._allow(fn[name], object_reads, resources, wildcards_because=requested)
        # The first step resolves "latest" and reads manifests; a missing manifest must read as
        # NoSuchKey, not AccessDenied, hence the prefix-scoped ListBucket.
        self._allow(
            fn["validate_restore"],
            ["s3:GetObject"],
            [bucket.arn_for_objects(f"{MANIFESTS_PREFIX}*")],
            wildcards_because=requested,
        )
        self._allow(
            fn["validate_restore"],
            ["s3:ListBucket"],
            [bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{MANIFESTS_PREFIX}*"]}},
        )

        reports = bucket.arn_for_objects(f"{RESTORES_PREFIX}*")
        per_restore = "Each restore's item outcomes and report are written per restore under restores/"
        for name in ("check_bundle_import", "restore_qapp_file", "record_restore_failure"):
            self._allow(fn[name], ["s3:PutObject"], [reports], wildcards_because=per_restore)
        self._allow(
            fn["write_restore_report"], ["s3:PutObject", "s3:GetObject"], [reports], wildcards_because=per_restore
        )
        self._allow(
            fn["write_restore_report"],
            ["s3:ListBucket"],
            [bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{RESTORES_PREFIX}*"]}},
        )
        for name in RESTORE_KEY_USERS:
            self._allow(
                fn[name],
                ["kms:Decrypt"] if name in RESTORE_KEY_READERS else ["kms:Decrypt", "kms:GenerateDataKey"],
                [key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )

        import_jobs = self._quicksight_arn("asset-bundle-import-job")
        per_restore_jobs = "Import job ids are made per restore, so no job ARN is known at deploy time"
        self._allow(
            fn["start_bundle_import"],
            ["quicksight:StartAssetBundleImportJob", "quicksight:DescribeAssetBundleImportJob"],
            [import_jobs],
            wildcards_because=per_restore_jobs,
        )
        for resource_type, actions in QUICKSIGHT_IMPORT_WRITES.items():
            self._allow(
                fn["start_bundle_import"],
                [*actions, *QUICKSIGHT_IMPORT_TAGGING],
                [self._quicksight_arn(resource_type)],
                wildcards_because="An import creates or updates the assets in its archived bundle, known at run time",
            )
        self._allow(
            fn["check_bundle_import"],
            ["quicksight:DescribeAssetBundleImportJob"],
            [import_jobs],
            wildcards_because=per_restore_jobs,
        )

        qapps_apps, qbusiness_applications = self._qapps_arns()
        self.grant_qapps(
            fn["validate_restore"],
            ["qapps:GetQApp"],
            [*qapps_apps, *qbusiness_applications],
            wildcards_because=QAPPS_IDS_AT_RUN_TIME,
        )
        # CreatePresignedUrl has no IAM action of its own: "the IAM permissions are derived from the
        # qapps:ImportDocument action" (Q Apps API reference); cfn-lint knows no qapps:CreatePresignedUrl.
        self.grant_qapps(
            fn["restore_qapp_file"], ["qapps:ImportDocument"], qapps_apps, wildcards_because=QAPPS_IDS_AT_RUN_TIME
        )

        # S3Uri imports. QuickSight reads "a bucket that the caller has read access to" (API reference,
        # AssetBundleImportSource): start_bundle_import holds s3:GetObject on quicksight/* and kms:Decrypt
        # through S3 above. Should QuickSight read as its service role instead, the bucket needs no policy
        # for it either: a role of the bucket's own account is allowed by its identity policy alone, which
        # QuickSight's console writes when the bucket is ticked under its S3 access. What that policy lacks
        # is the archive key; the key policy below lets the role decrypt, through S3 only.
        # No bucket policy statement, on purpose: Principal "*" limited by aws:PrincipalArn is public to
        # S3 (aws:PrincipalArn is not among the keys S3 recognises as limiting), so Block Public Access
        # refuses the whole policy and the first deployment fails; naming the role as Principal instead
        # fails it wherever QuickSight has not created its role yet ("Invalid principal in policy").
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

    def _qapps_instances(self) -> tuple[str, ...]:
        return self.settings.qapps_instance_ids or ("*",)

    def _qapps_arns(self) -> tuple[list[str], list[str]]:
        """The Q Apps apps, and the Amazon Q Business applications (Q Apps instances), the archiver may use.

        Q Apps resources live under their Amazon Q Business application (Service Authorization Reference,
        "Amazon Q Business Q Apps"); ``qappsInstanceIds`` narrows them to the listed instances.
        """
        instances = self._qapps_instances()
        apps = [f"arn:{Aws.PARTITION}:qapps:{Aws.REGION}:{Aws.ACCOUNT_ID}:application/{i}/qapp/*" for i in instances]
        applications = [
            f"arn:{Aws.PARTITION}:qbusiness:{Aws.REGION}:{Aws.ACCOUNT_ID}:application/{i}" for i in instances
        ]
        return apps, applications

    def _quicksight_arn(self, resource_type: str) -> str:
        return self.format_arn(service="quicksight", resource=resource_type, resource_name="*")

    def _allow_objects(
        self, function: lambda_.IFunction, actions: Sequence[str], *key_patterns: str, wildcards_because: str
    ) -> None:
        """Object actions on archive keys matching the patterns (the key grant follows in _grant_steps)."""
        resources = [self.archive.bucket.arn_for_objects(pattern) for pattern in key_patterns]
        self._allow(function, actions, resources, wildcards_because=wildcards_because)
        writes = any(action.startswith(("s3:Put", "s3:AbortMultipartUpload")) for action in actions)
        _, key_actions = self._archive_key_users.setdefault(function.node.path, (function, set()))
        key_actions.update(["kms:Decrypt", "kms:GenerateDataKey"] if writes else ["kms:Decrypt"])

    @staticmethod
    def _allow(
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


def _object_lock_retention(object_lock: ObjectLock | None) -> s3.ObjectLockRetention | None:
    if object_lock is None:
        return None
    retention = Duration.days(object_lock.retention_days)
    if object_lock.mode == "COMPLIANCE":
        return s3.ObjectLockRetention.compliance(retention)
    return s3.ObjectLockRetention.governance(retention)
