"""The archive: where every exported bundle, session export, app definition and manifest is kept."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

ACCESS_LOGS_KEPT_FOR = Duration.days(365)

# What would destroy or hide archived data. Deleting an object of a versioned bucket adds a delete marker
# (hiding it); deleting a version destroys it; bypassing governance retention unlocks it. Lifecycle
# transitions are done by S3 itself and are not subject to the bucket policy, so cold storage still works.
# Bucket configuration (lifecycle, versioning, this policy) is left to the stack's deployments on purpose:
# denying it here would lock CloudFormation out of its own updates. Object Lock in COMPLIANCE mode is the
# guarantee that even an account administrator cannot get around.
DESTRUCTIVE_ACTIONS = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:DeleteBucket",
)


class ArchiveBucket(Construct):
    """A versioned, KMS-encrypted, private bucket that outlives the stack, with its access logs.

    Attributes
    ----------
    bucket:
        The archive.
    key:
        The customer-managed key the archive's objects are encrypted with.
    access_logs:
        The bucket receiving the archive's server access logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cold_storage_after: Duration,
        access_logs_expire_after: Duration = ACCESS_LOGS_KEPT_FOR,
        break_glass_role_arn: str | None = None,
        object_lock: s3.ObjectLockRetention | None = None,
    ) -> None:
        """
        Parameters
        ----------
        cold_storage_after
            When objects and old versions move to S3 Glacier Instant Retrieval.
        access_logs_expire_after
            How long server access logs are kept.
        break_glass_role_arn
            The one role allowed to delete archived objects and versions; ``None``: nobody may.
        object_lock
            Default Object Lock retention of every archived object; ``None``: no Object Lock. S3 enables
            Object Lock when the bucket is created: set it before the first deployment.
        """
        super().__init__(scope, construct_id)

        # The archive is the point of the whole system: deleting the stack must not delete it or the
        # key its objects are encrypted with.
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the archiver's archive bucket",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        # Server access logs cannot be delivered to an SSE-KMS bucket, hence S3-managed keys here.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireAccessLogs", expiration=access_logs_expire_after),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # One data key per bucket instead of one KMS call per object.
            bucket_key_enabled=True,
            versioned=True,
            # Object Lock needs versioning (above) and a checksum on every write (the copy steps send SHA-256).
            object_lock_enabled=object_lock is not None,
            object_lock_default_retention=object_lock,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ColdStorage",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cold_storage_after,
                        )
                    ],
                    noncurrent_version_transitions=[
                        s3.NoncurrentVersionTransition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cold_storage_after,
                        )
                    ],
                ),
                # A copy that failed half-way leaves parts behind that are billed but never visible.
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.break_glass_role_arn = break_glass_role_arn
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyDeletingArchivedObjects",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(DESTRUCTIVE_ACTIONS),
                resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects("*")],
                # Without a break-glass role the deny has no exception: the archive cannot be deleted through S3
                # until this policy is changed by a deployment.
                conditions=(
                    {"ArnNotEquals": {"aws:PrincipalArn": break_glass_role_arn}}
                    if break_glass_role_arn is not None
                    else None
                ),
            )
        )
