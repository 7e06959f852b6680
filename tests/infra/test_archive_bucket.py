"""The archive bucket: private, encrypted with its own key, versioned, logged, and moved to cold storage."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import BREAK_GLASS_ROLE_ARN, Synthesized, archive_bucket_id, only_id


def archive_key_id(synth: Synthesized) -> str:
    bucket = synth.resources[archive_bucket_id(synth.template)]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    key_id: str = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    return key_id


def test_the_archive_is_encrypted_with_a_customer_managed_key_that_rotates(archiver: Synthesized) -> None:
    key_id = archive_key_id(archiver)

    archiver.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )
    assert archiver.resources[key_id]["Type"] == "AWS::KMS::Key"
    assert archiver.resources[key_id]["Properties"]["EnableKeyRotation"] is True


def test_the_archive_and_its_key_outlive_the_stack(archiver: Synthesized) -> None:
    retained = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    bucket = archiver.resources[archive_bucket_id(archiver.template)]
    key = archiver.resources[archive_key_id(archiver)]

    assert {k: bucket[k] for k in retained} == retained
    assert {k: key[k] for k in retained} == retained


def test_no_bucket_can_be_made_public_or_hold_foreign_owned_objects(archiver: Synthesized) -> None:
    buckets = archiver.template.find_resources("AWS::S3::Bucket")

    assert len(buckets) == 2
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_both_buckets_refuse_requests_without_tls(archiver: Synthesized) -> None:
    for bucket_id in archiver.template.find_resources("AWS::S3::Bucket"):
        archiver.template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Principal": {"AWS": "*"},
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_access_to_the_archive_is_logged_to_an_expiring_s3_encrypted_bucket(archiver: Synthesized) -> None:
    logs_id = only_id(
        archiver.template,
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": Match.object_like(
                {"Rules": [Match.object_like({"ExpirationInDays": Match.any_value()})]}
            )
        },
    )

    archiver.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": logs_id}, "LogFilePrefix": "archive/"},
        },
    )
    logs_bucket = archiver.resources[logs_id]["Properties"]
    assert logs_bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }


def test_objects_and_old_versions_move_to_cold_storage_after_the_configured_days(
    archiver: Synthesized, scheduled: Synthesized
) -> None:
    # Given cdk.json's 90 days and, in the second app, a 30-day override
    for synth, days in ((archiver, 90), (scheduled, 30)):
        synth.template.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "LifecycleConfiguration": {
                    "Rules": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Status": "Enabled",
                                    "Transitions": [{"StorageClass": "GLACIER_IR", "TransitionInDays": days}],
                                    "NoncurrentVersionTransitions": [
                                        {"StorageClass": "GLACIER_IR", "TransitionInDays": days}
                                    ],
                                }
                            )
                        ]
                    )
                }
            },
        )


def test_incomplete_multipart_uploads_are_aborted_after_a_day(archiver: Synthesized) -> None:
    archiver.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Status": "Enabled",
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            }
                        )
                    ]
                )
            },
        },
    )


# -- deletes, break glass and Object Lock ------------------------------------------------------------------


def delete_guard(synth: Synthesized) -> dict[str, Any]:
    """The archive bucket policy's statement that denies destroying archived objects."""
    bucket_id = archive_bucket_id(synth.template)
    (policy,) = [
        p
        for p in synth.template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and "s3:DeleteObjectVersion" in s["Action"]
    ]
    return statement


def test_nobody_may_delete_archived_objects_without_a_break_glass_role(archiver: Synthesized) -> None:
    guard = delete_guard(archiver)

    assert guard["Principal"] == {"AWS": "*"}
    assert set(guard["Action"]) == {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:DeleteBucket",
    }
    # No exception at all: not the functions, not an administrator
    assert "Condition" not in guard
    bucket_id = archive_bucket_id(archiver.template)
    assert {"Fn::GetAtt": [bucket_id, "Arn"]} in guard["Resource"]
    assert {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]} in guard["Resource"]


def test_only_the_break_glass_role_is_exempt_from_the_delete_guard(hardened: Synthesized) -> None:
    guard = delete_guard(hardened)

    assert guard["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": BREAK_GLASS_ROLE_ARN}}


def test_lifecycle_and_uploads_still_work_under_the_guard(archiver: Synthesized) -> None:
    # Transitions are done by S3 itself (not subject to the policy); the copy steps abort failed uploads
    guard = delete_guard(archiver)

    assert not {"s3:PutLifecycleConfiguration", "s3:AbortMultipartUpload", "s3:PutObject"} & set(guard["Action"])


def test_object_lock_is_off_unless_configured(archiver: Synthesized) -> None:
    bucket = archiver.resources[archive_bucket_id(archiver.template)]["Properties"]

    assert "ObjectLockConfiguration" not in bucket and not bucket.get("ObjectLockEnabled")


def test_object_lock_applies_the_configured_mode_and_retention_to_every_object(hardened: Synthesized) -> None:
    bucket = hardened.resources[archive_bucket_id(hardened.template)]["Properties"]

    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}},
    }
    # Object Lock needs versioning; the access logs bucket (which S3 refuses to lock) stays unlocked
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    locked = [
        b
        for b in hardened.template.find_resources("AWS::S3::Bucket").values()
        if "ObjectLockEnabled" in b["Properties"]
    ]
    assert len(locked) == 1
