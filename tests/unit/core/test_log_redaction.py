"""botocore's debug logs, as it writes them, lose every link, token and signature and keep the rest."""

from __future__ import annotations

import logging

import pytest

from archiver.core.log_redaction import BOTOCORE_WIRE_LOGGERS, redact_botocore_wire_logs, redact_secrets

SIGNATURE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6"
USER_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcmNoaXZlLXVzZXIifQ.c2lnbmF0dXJlLXNlY3JldA"
PRESIGNED = (
    "https://exports.s3.us-east-1.amazonaws.com/assetbundle-job.qs?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"\\u0026X-Amz-Credential=ASIAEXAMPLE%2F20261122\\u0026X-Amz-Signature={SIGNATURE}"
)

# (a line botocore writes, the secrets it carries, what must survive)
LINES = [
    (
        f'Response body:\nb\'{{"DownloadUrl":"{PRESIGNED}","JobStatus":"SUCCESSFUL"}}\'',
        [SIGNATURE, "ASIAEXAMPLE", "X-Amz-Credential="],
        ["JobStatus", "SUCCESSFUL", "https://exports.s3.us-east-1.amazonaws.com/assetbundle-job.qs"],
    ),
    (
        'Response body:\nb\'{"csvFileLink":"https://b.s3.amazonaws.com/s.csv?X-Amz-Signature=abc","expiresAt":1}\'',
        ["X-Amz-Signature=abc"],
        ["expiresAt"],
    ),
    (
        "Making request for OperationModel(name=CreateTokenWithIAM) with params: {'body': {'clientId': "
        f"'arn:aws:sso::123456789012:application/ssoins-1/apl-2', 'assertion': '{USER_JWT}'}}}}",
        [USER_JWT, "c2lnbmF0dXJlLXNlY3JldA"],
        ["CreateTokenWithIAM", "arn:aws:sso::123456789012:application/ssoins-1/apl-2"],
    ),
    (
        'Response body:\nb\'{"accessToken":"aoa-token-value","idToken":"' + USER_JWT + '",'
        '"awsAdditionalDetails":{"identityContext":"ctx-assertion-value"}}\'',
        ["aoa-token-value", USER_JWT, "ctx-assertion-value"],
        ["awsAdditionalDetails"],
    ),
    (
        "Response body:\nb'<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLEKEY</AccessKeyId>"
        "<SecretAccessKey>role-secret-key</SecretAccessKey><SessionToken>role-session-token</SessionToken>"
        "<Expiration>2026-11-22T04:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>'",
        ["ASIAROLEKEY", "role-secret-key", "role-session-token"],
        ["2026-11-22T04:00:00Z"],
    ),
    (
        'Response body:\nb\'{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:qapps-user",'
        '"SecretString":"{\\\\"tokenUrl\\\\": \\\\"https://idp.example.com/token\\\\", '
        '\\\\"clientSecret\\\\": \\\\"client-secret-value\\\\"}"}\'',
        ["client-secret-value"],
        ["arn:aws:secretsmanager:us-east-1:123456789012:secret:qapps-user"],
    ),
    (
        "Sending http request: <AWSPreparedRequest stream_output=False, method=POST, url=https://sts.amazonaws.com/, "
        "headers={'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjLAMBDA', 'Authorization': b'AWS4-HMAC-SHA256 "
        f"Credential=ASIALAMBDA/20261122/us-east-1/sts/aws4_request, SignedHeaders=host, Signature={SIGNATURE}'}}>",
        ["IQoJb3JpZ2luX2VjLAMBDA", "ASIALAMBDA", SIGNATURE],
        ["https://sts.amazonaws.com/", "stream_output=False"],
    ),
    (
        # Q Apps CreatePresignedUrl: a presigned POST, its credential in lower-case form fields
        'Response body:\nb\'{"fileId":"f-1","presignedUrl":"https://uploads.s3.amazonaws.com/",'
        '"presignedUrlFields":{"key":"uploads/f-1","x-amz-credential":"ASIAUPLOAD/20261122/us-east-1/s3",'
        '"x-amz-security-token":"IQoJupload-token","x-amz-signature":"' + SIGNATURE + "\"}}'",
        ["ASIAUPLOAD", "IQoJupload-token", SIGNATURE],
        ["fileId", "https://uploads.s3.amazonaws.com/", "uploads/f-1"],
    ),
    (
        "headers={'Content-Type': 'application/x-www-form-urlencoded', 'Authorization': 'Basic YXJjaGl2ZXI6c2VjcmV0'}",
        ["YXJjaGl2ZXI6c2VjcmV0"],
        ["application/x-www-form-urlencoded"],
    ),
]


@pytest.mark.parametrize(("line", "secrets", "kept"), LINES)
def test_secrets_go_and_the_rest_stays(line: str, secrets: list[str], kept: list[str]) -> None:
    redacted = redact_secrets(line)

    for secret in secrets:
        assert secret not in redacted
    for text in kept:
        assert text in redacted
    assert "<redacted>" in redacted


def test_botocore_records_are_redacted_before_any_handler_sees_them(caplog: pytest.LogCaptureFixture) -> None:
    # Given the filter installed (the first archiver client does it) and botocore logging at DEBUG
    redact_botocore_wire_logs()
    caplog.set_level(logging.DEBUG)

    # When botocore writes a response body with a presigned link, the way it does (format and arguments)
    for name in BOTOCORE_WIRE_LOGGERS:
        logging.getLogger(name).debug("Response body:\n%r", f'{{"DownloadUrl":"{PRESIGNED}"}}'.encode())

    # Then every record kept the link's host and path and lost its signature
    assert len(caplog.records) == len(BOTOCORE_WIRE_LOGGERS)
    for record in caplog.records:
        assert SIGNATURE not in record.getMessage()
        assert "assetbundle-job.qs?<redacted>" in record.getMessage()
