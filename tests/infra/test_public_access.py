"""No bucket policy S3 would judge public: with Block Public Access on, S3 refuses such a policy outright
(PutBucketPolicy fails), and the deployment with it.

The rules are S3's own (S3 User Guide, "Blocking public access to your Amazon S3 storage", "The meaning of
public"): S3 starts from "public" and calls an ``Allow`` statement non-public only when it is granted to fixed
principals, or is limited by a fixed value (no wildcard, no policy variable) of one of the condition keys below.
``Deny`` statements never make a policy public.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized, as_list

# The condition keys S3 recognises as limiting a statement to someone in particular ("The meaning of public").
# Absent on purpose: aws:PrincipalArn and aws:PrincipalAccount, which S3 does not list.
RECOGNISED_KEYS = {
    key.lower()
    for key in (
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "aws:PrincipalOrgID",
        "aws:userid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
    )
}
# Operators that compare with the values as written; *Like, *Not* and IfExists variants do not fix a value.
FIXED_VALUE_OPERATORS = {"stringequals", "stringequalsignorecase", "arnequals"}
# aws:SourceIp limits a statement only to a CIDR narrower than these (broader ones count as public).
NARROWEST_PUBLIC_PREFIX = {4: 8, 6: 32}

VARIANTS = ("archiver", "scheduled", "hardened")


def _is_fixed(value: Any) -> bool:
    """A value S3 would call fixed: no wildcard and no policy variable (tokens resolve to fixed ids)."""
    if isinstance(value, str):
        return not any(mark in value for mark in ("*", "?", "${"))
    if isinstance(value, dict) and "Fn::Join" in value:
        return all(_is_fixed(part) for part in value["Fn::Join"][1])
    return isinstance(value, dict)  # Ref / Fn::GetAtt of a resource or pseudo parameter


def _narrow_cidr(value: Any) -> bool:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    private = network.version == 4 and network.is_private
    return private or network.prefixlen > NARROWEST_PUBLIC_PREFIX[network.version]


def _limited(condition: dict[str, Any]) -> bool:
    for operator, keys in condition.items():
        for key, values in keys.items():
            fixed = all(_is_fixed(v) for v in as_list(values))
            if operator.lower() in FIXED_VALUE_OPERATORS and key.lower() in RECOGNISED_KEYS and fixed:
                return True
            source_ip = operator.lower() == "ipaddress" and key.lower() == "aws:sourceip"
            if source_ip and all(_narrow_cidr(v) for v in as_list(values)):
                return True
    return False


def public_grant(statement: dict[str, Any]) -> bool:
    """Whether S3 would call this statement public, making the whole policy public."""
    if statement["Effect"] != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    everyone = principal == "*" or (
        isinstance(principal, dict) and any(p == "*" for p in as_list(principal.get("AWS", [])))
    )
    return everyone and not _limited(statement.get("Condition", {}))


def bucket_policy_statements(synth: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, statement)
        for logical_id, policy in synth.template.find_resources("AWS::S3::BucketPolicy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_bucket_policy_grants_anything_s3_calls_public(variant: str, request: pytest.FixtureRequest) -> None:
    # Given every bucket policy of a synthesized variant (default, scheduled, hardened)
    synth: Synthesized = request.getfixturevalue(variant)
    statements = bucket_policy_statements(synth)
    assert statements

    # Then none allows "*" unless limited by a fixed value of a key S3 recognises: Block Public Access
    # would refuse the policy and fail the deployment
    public = [f"{policy}: {json.dumps(s)}" for policy, s in statements if public_grant(s)]
    assert not public, "S3 would refuse these bucket policies as public:\n" + "\n".join(public)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_deny_guards_stay_in_place_and_are_not_public(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(variant)
    denies = [s for _, s in bucket_policy_statements(synth) if s["Effect"] == "Deny"]

    # TLS-only on both buckets and the delete guard on the archive: denies to "*" that S3 never calls public
    assert any(s["Principal"] == {"AWS": "*"} and "s3:DeleteObjectVersion" in as_list(s["Action"]) for s in denies)
    assert sum("aws:SecureTransport" in json.dumps(s.get("Condition")) for s in denies) >= 2
    assert not any(public_grant(s) for s in denies)


ACCOUNT = {"Ref": "AWS::AccountId"}
QUICKSIGHT_ROLE = {"Fn::Join": ["", ["arn:aws:iam::", ACCOUNT, ":role/service-role/aws-quicksight-service-role-v0"]]}


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        # The statement the stack used to synthesize, which Block Public Access refused
        ({"Principal": {"AWS": "*"}, "Condition": {"ArnEquals": {"aws:PrincipalArn": QUICKSIGHT_ROLE}}}, True),
        ({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}}, True),
        ({"Principal": "*"}, True),
        ({"NotPrincipal": {"AWS": QUICKSIGHT_ROLE}}, True),
        ({"Principal": "*", "Condition": {"StringLike": {"aws:SourceVpc": "vpc-*"}}}, True),
        ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "12345678901*"}}}, True),
        ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}}, True),
        ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}}, False),
        ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}, False),
        ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}, False),
        ({"Principal": {"AWS": QUICKSIGHT_ROLE}}, False),
        ({"Principal": {"Service": "logging.s3.amazonaws.com"}}, False),
    ],
)
def test_the_check_judges_statements_as_s3_does(statement: dict[str, Any], public: bool) -> None:
    # The S3 User Guide's own examples, and the shape this check exists to catch
    assert public_grant({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **statement}) is public
    assert not public_grant({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*", **statement})
