"""The archive: where every exported bundle, session export, app definition and manifest is kept."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

ACCESS_LOGS_KEPT_FOR = Duration.days(365)


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
    ) -> None:
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
