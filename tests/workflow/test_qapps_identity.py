"""A run whose Q Apps steps sign as the archive user (qappsCredentials mode identity-center).

The synthesized workflow runs as in the other workflow tests; the Q Apps steps get the ``QAPPS_*``
environment the stack gives them in that mode. STS and Secrets Manager are moto; Identity Center's
``CreateTokenWithIAM`` is answered in process; the emulator records the access key each Q Apps request
was signed with.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from archiver.core import layout
from tests.local.demo import seed_emulator
from tests.local.emulator import ServiceEmulator, VirtualClock
from tests.local.engine import LocalStepFunctions, local_environment
from tests.local.template import LOCAL_ACCOUNT, LOCAL_REGION, SynthesizedWorkflow
from tests.workflow.conftest import BUCKET

APPLICATION_ARN = f"arn:aws:sso::{LOCAL_ACCOUNT}:application/ssoins-1111222233334444/apl-5555666677778888"
ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/archiver-qapps-user"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
PLAN = {
    "qapps": {
        "instanceId": INSTANCE,
        "sessions": [
            {"appId": "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31", "sessionId": "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"}
        ],
        "apps": ["5d2e8f14-6a3b-4c9d-8e1f-3a5b7c9d1e42"],
    }
}


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


USER_JWT = jwt({"sub": "archive-user"})
IDENTITY_CONTEXT = "identity-context-of-the-archive-user-" + "x" * 40


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class IdentityCenterStandIn:
    """Answers CreateTokenWithIAM for one trusted token; records what STS was asked and issued."""

    exchanged: list[dict[str, Any]] = field(default_factory=list)
    assumed: list[dict[str, Any]] = field(default_factory=list)
    issued_keys: list[str] = field(default_factory=list)

    def create_token_with_iam(self, request: Any, **_: Any) -> AWSResponse:
        body = json.loads(request.body)
        self.exchanged.append(body)
        if body["assertion"] != USER_JWT or body["clientId"] != APPLICATION_ARN:
            error = {"error": "invalid_grant", "error_description": "untrusted token"}
            return AWSResponse(
                request.url, 400, {"x-amzn-ErrorType": "InvalidGrantException"}, _Body(json.dumps(error).encode())
            )
        answer = {
            "accessToken": "aoa-token",
            "tokenType": "Bearer",
            "expiresIn": 3600,
            "idToken": jwt({"sub": "archive-user", "sts:identity_context": IDENTITY_CONTEXT}),
        }
        return AWSResponse(request.url, 200, {}, _Body(json.dumps(answer).encode()))

    def record_assume_role(self, params: dict[str, Any], **_: Any) -> None:
        self.assumed.append(params)

    def record_issued(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            self.issued_keys.append(parsed["Credentials"]["AccessKeyId"])


@dataclass
class IdentityRun:
    engine: LocalStepFunctions
    emulator: ServiceEmulator
    identity_center: IdentityCenterStandIn
    secrets: Any
    s3: Any


@pytest.fixture
def identity_run(synthesized_workflow: SynthesizedWorkflow) -> Iterator[IdentityRun]:
    clock = VirtualClock()
    with ServiceEmulator(clock=clock) as emulator:
        seed_emulator(emulator, PLAN)
        environment = local_environment(
            synthesized_workflow,
            bucket=BUCKET,
            endpoint=emulator.endpoint_url,
            # What QAppsIdentity.grant_qapps_access gives each Q Apps step
            QAPPS_CREDENTIALS="identity-center",
            QAPPS_IDENTITY_SECRET_ARN="",  # known once the secret exists (its ARN ends in a random suffix)
            QAPPS_IDENTITY_APPLICATION_ARN=APPLICATION_ARN,
            QAPPS_ROLE_ARN=ROLE_ARN,
        )
        with LocalStepFunctions(synthesized_workflow, clock=clock, environment=environment) as engine:
            stand_in = IdentityCenterStandIn()
            assert boto3.DEFAULT_SESSION is not None
            events = boto3.DEFAULT_SESSION.events
            events.register("before-send.sso-oidc.CreateTokenWithIAM", stand_in.create_token_with_iam)
            events.register("provide-client-params.sts.AssumeRole", stand_in.record_assume_role)
            events.register("after-call.sts.AssumeRole", stand_in.record_issued)
            s3 = boto3.client("s3", region_name=LOCAL_REGION)
            s3.create_bucket(Bucket=BUCKET)
            secrets = boto3.client("secretsmanager", region_name=LOCAL_REGION)
            secret = secrets.create_secret(Name="archiver/qapps-user", SecretString=json.dumps({"jwt": USER_JWT}))
            # The engine restores the environment when it closes.
            os.environ["QAPPS_IDENTITY_SECRET_ARN"] = secret["ARN"]
            yield IdentityRun(engine, emulator, stand_in, secrets, s3)


def q_apps_requests(emulator: ServiceEmulator) -> list[dict[str, Any]]:
    return emulator.requests_for("ExportQAppSessionData") + emulator.requests_for("GetQApp")


def test_q_apps_steps_call_q_apps_as_the_archive_user(identity_run: IdentityRun) -> None:
    # Given the archive user's JWT in the secret (as the fixture stores it)
    # When a run archives a session and an app
    result = identity_run.engine.run(PLAN, name="identity-1")

    # Then it succeeds, every Q Apps request was signed with the role session STS issued for the user's
    # identity context, and the token was exchanged at the configured application
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["archived"] == 3
    stand_in = identity_run.identity_center
    assert {e["clientId"] for e in stand_in.exchanged} == {APPLICATION_ARN}
    assert stand_in.assumed and all(
        a["RoleArn"] == ROLE_ARN
        and a["ProvidedContexts"]
        == [{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter", "ContextAssertion": IDENTITY_CONTEXT}]
        for a in stand_in.assumed
    )
    requests = q_apps_requests(identity_run.emulator)
    assert len(requests) == 3
    assert {r["access_key_id"] for r in requests} <= set(stand_in.issued_keys)
    assert all(r["security_token"] for r in requests)


def test_a_token_identity_center_refuses_fails_the_q_apps_items_with_what_to_fix(identity_run: IdentityRun) -> None:
    # Given a token Identity Center does not trust
    identity_run.secrets.put_secret_value(
        SecretId="archiver/qapps-user", SecretString=json.dumps({"jwt": jwt({"sub": "someone-else"})})
    )

    # When a run archives a session and an app
    result = identity_run.engine.run(PLAN, name="identity-2")

    # Then no Q Apps call was made, each Q Apps item failed with QAppsIdentityError naming the cause, and
    # the run ended failed after recording it in the manifest
    assert result.status == "FAILED" and result.error == "ItemsFailed"
    assert q_apps_requests(identity_run.emulator) == []
    manifest = json.loads(
        identity_run.s3.get_object(Bucket=BUCKET, Key=layout.manifest_key("identity-2"))["Body"].read()
    )
    errors = [failure["error"] for failure in manifest["failures"]]
    assert len(errors) == 3 and {e["type"] for e in errors} == {"QAppsIdentityError"}
    assert all("InvalidGrantException" in e["message"] and "trusted token issuer" in e["message"] for e in errors)
