"""Q Apps credentials through IAM Identity Center: the chain, its cache, and what a bad setup is told.

STS and Secrets Manager are moto; ``sso-oidc`` is a botocore Stubber; the Q Apps call itself never
leaves the process (a before-send hook answers it and keeps the Authorization header it was signed with).
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws

from archiver.core import clients
from archiver.core.errors import ConfigurationError, QAppsIdentityError
from archiver.core.identity import (
    IDENTITY_CENTER_CONTEXT_PROVIDER,
    JWT_BEARER_GRANT,
    IdentityCenterChain,
    identity_center_session,
    post_over_https,
)
from archiver.core.log_redaction import redact_botocore_wire_logs
from archiver.core.observability import logger
from archiver.core.settings import IdentityCenterAccess, get_qapps_access

REGION = "us-east-1"
APPLICATION_ARN = "arn:aws:sso::123456789012:application/ssoins-1111222233334444/apl-5555666677778888"
ROLE_ARN = "arn:aws:iam::123456789012:role/archiver-qapps-user"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP_ID = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
TOKEN_URL = "https://idp.example.com/oauth2/v1/token"
CLIENT_SECRET = "client-secret-value-never-logged"


def jwt(claims: Mapping[str, Any]) -> str:
    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


USER_JWT = jwt({"iss": "https://idp.example.com", "sub": "archive-user", "email": "archive@example.com"})


def identity_context(serial: int) -> str:
    return f"identity-context-assertion-{serial}-" + "x" * 40


def exchange_response(context: str, *, in_details: bool = True) -> dict[str, Any]:
    response: dict[str, Any] = {
        "accessToken": "identity-center-access-token",
        "tokenType": "Bearer",
        "expiresIn": 3600,
        "idToken": jwt({"sub": "archive-user", "sts:identity_context": context}),
    }
    if in_details:
        response["awsAdditionalDetails"] = {"identityContext": context}
    return response


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass(repr=False)  # botocore's debug log prints its handlers, and these hold credentials
class Harness:
    """The chain wired to moto and a stubbed sso-oidc, with a clock the test moves."""

    secrets: Any
    sts: Any
    sso_oidc: Any
    stubber: Stubber
    now: datetime
    assumed: list[dict[str, Any]] = field(default_factory=list)
    issued_keys: list[str] = field(default_factory=list)
    signed_with: list[str] = field(default_factory=list)
    posted: list[tuple[str, dict[str, str], dict[str, list[str]]]] = field(default_factory=list)
    token_answer: tuple[int, bytes] = (200, b"{}")
    secret_arn: str = ""

    def store_secret(self, value: str) -> None:
        self.secret_arn = self.secrets.create_secret(Name="archiver/qapps-user", SecretString=value)["ARN"]

    def expect_exchange(self, context: str, *, assertion: str = USER_JWT, in_details: bool = True) -> None:
        self.stubber.add_response(
            "create_token_with_iam",
            exchange_response(context, in_details=in_details),
            {"clientId": APPLICATION_ARN, "grantType": JWT_BEARER_GRANT, "assertion": assertion},
        )

    def token_endpoint(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        self.posted.append((url, dict(headers), parse_qs(body.decode())))
        return self.token_answer

    def chain(self) -> IdentityCenterChain:
        access = IdentityCenterAccess(
            secret_arn=self.secret_arn, application_arn=APPLICATION_ARN, role_arn=ROLE_ARN, region=None
        )
        return IdentityCenterChain(
            access, secrets=self.secrets, sso_oidc=self.sso_oidc, sts=self.sts, token_endpoint=self.token_endpoint
        )

    def qapps_client(self) -> Any:
        client = identity_center_session(self.chain(), clock=lambda: self.now).client("qapps", region_name=REGION)
        client.meta.events.register("before-send.qapps.GetQApp", self._answer_q_apps)
        return client

    def _answer_q_apps(self, request: Any, **_: Any) -> AWSResponse:
        authorization = request.headers["Authorization"].decode()
        self.signed_with.append(authorization.split("Credential=", 1)[1].split("/", 1)[0])
        body = json.dumps({"appId": APP_ID, "appArn": f"arn:aws:qapps:{REGION}:123456789012:x", "appVersion": 1})
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(body.encode()))

    def _record_assume_role(self, params: dict[str, Any], **_: Any) -> None:
        self.assumed.append(params)

    def _record_issued(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            self.issued_keys.append(parsed["Credentials"]["AccessKeyId"])


@pytest.fixture
def harness() -> Iterator[Harness]:
    with mock_aws():
        sso_oidc = boto3.client("sso-oidc", region_name=REGION)
        sts = boto3.client("sts", region_name=REGION)
        h = Harness(
            secrets=boto3.client("secretsmanager", region_name=REGION),
            sts=sts,
            sso_oidc=sso_oidc,
            stubber=Stubber(sso_oidc),
            now=datetime.now(UTC),
        )
        # What reached STS, after parameter validation, and which keys it issued.
        sts.meta.events.register("provide-client-params.sts.AssumeRole", h._record_assume_role)
        sts.meta.events.register("after-call.sts.AssumeRole", h._record_issued)
        with h.stubber:
            yield h


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


# -- the chain -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_details", [True, False], ids=["awsAdditionalDetails", "id-token-claim"])
def test_the_users_token_is_exchanged_and_q_apps_signs_as_the_role_assumed_with_the_identity(
    harness: Harness, logs: io.StringIO, in_details: bool
) -> None:
    # Given the archive user's JWT in the secret, and Identity Center answering with an identity context
    harness.store_secret(json.dumps({"jwt": USER_JWT}))
    harness.expect_exchange(identity_context(1), in_details=in_details)

    # When a Q Apps call is made
    harness.qapps_client().get_q_app(instanceId=INSTANCE, appId=APP_ID)

    # Then the token went to Identity Center, the role was assumed with the user's identity context,
    # and the call was signed with the credentials STS issued for that session
    harness.stubber.assert_no_pending_responses()
    (assumed,) = harness.assumed
    assert assumed["RoleArn"] == ROLE_ARN
    assert assumed["ProvidedContexts"] == [
        {"ProviderArn": IDENTITY_CENTER_CONTEXT_PROVIDER, "ContextAssertion": identity_context(1)}
    ]
    assert harness.signed_with == harness.issued_keys
    # And neither the user's token nor the identity context nor the credentials were logged
    written = logs.getvalue()
    assert "Q Apps credentials issued" in written
    for secret in (USER_JWT, identity_context(1), *harness.issued_keys):
        assert secret not in written


def test_a_bare_jwt_is_accepted_as_the_secret_string(harness: Harness) -> None:
    harness.store_secret(USER_JWT)
    harness.expect_exchange(identity_context(1))

    harness.qapps_client().get_q_app(instanceId=INSTANCE, appId=APP_ID)

    harness.stubber.assert_no_pending_responses()


def test_credentials_are_reused_until_shortly_before_they_expire_then_fetched_again(harness: Harness) -> None:
    # Given one exchange answered, then a second one for when the first credentials run out
    harness.store_secret(json.dumps({"jwt": USER_JWT}))
    harness.expect_exchange(identity_context(1))
    client = harness.qapps_client()

    # When calls are made within the hour the role session lasts
    for _ in range(3):
        client.get_q_app(instanceId=INSTANCE, appId=APP_ID)
    harness.now += timedelta(minutes=40)
    client.get_q_app(instanceId=INSTANCE, appId=APP_ID)

    # Then the chain ran once
    assert len(harness.assumed) == 1

    # When the clock reaches the last ten minutes of the session
    harness.expect_exchange(identity_context(2))
    harness.now += timedelta(minutes=12)
    client.get_q_app(instanceId=INSTANCE, appId=APP_ID)

    # Then the chain ran again and the call was signed with the new credentials
    harness.stubber.assert_no_pending_responses()
    assert [a["ProvidedContexts"][0]["ContextAssertion"] for a in harness.assumed] == [
        identity_context(1),
        identity_context(2),
    ]
    assert len(set(harness.issued_keys)) == 2
    assert harness.signed_with == [harness.issued_keys[0]] * 4 + [harness.issued_keys[1]]


def test_a_token_identity_center_refuses_fails_with_what_to_fix(harness: Harness) -> None:
    # Given a token Identity Center refuses (expired, or from an issuer it does not trust)
    harness.store_secret(json.dumps({"jwt": USER_JWT}))
    harness.stubber.add_client_error("create_token_with_iam", "InvalidGrantException", "Invalid token", 400)

    # When a Q Apps call is made
    with pytest.raises(QAppsIdentityError) as refused:
        harness.qapps_client().get_q_app(instanceId=INSTANCE, appId=APP_ID)

    # Then the error names the cause and where to look, never the token, and no role was assumed
    message = str(refused.value)
    assert "InvalidGrantException" in message
    assert "trusted token issuer" in message and APPLICATION_ARN in message and harness.secret_arn in message
    assert USER_JWT not in message
    assert harness.assumed == []


def test_an_exchange_without_an_identity_context_says_which_scope_is_missing(harness: Harness) -> None:
    harness.store_secret(json.dumps({"jwt": USER_JWT}))
    harness.stubber.add_response(
        "create_token_with_iam",
        {"accessToken": "t", "tokenType": "Bearer", "expiresIn": 3600, "idToken": jwt({"sub": "u"})},
    )

    with pytest.raises(QAppsIdentityError, match="sts:identity_context"):
        harness.chain().fetch()


def test_a_role_that_refuses_the_identity_points_at_its_trust_policy(harness: Harness) -> None:
    # Given STS refusing the role (its trust policy lacks sts:SetContext, say)
    harness.store_secret(json.dumps({"jwt": USER_JWT}))
    harness.expect_exchange(identity_context(1))
    with Stubber(harness.sts) as sts:
        sts.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:SetContext", 403)

        # When the chain runs
        with pytest.raises(QAppsIdentityError) as refused:
            harness.chain().fetch()

    # Then the error says what the trust policy must allow
    assert ROLE_ARN in str(refused.value) and "sts:SetContext" in str(refused.value)
    assert identity_context(1) not in str(refused.value)


# -- the secret ------------------------------------------------------------------------------------------


def test_a_missing_secret_is_named_with_the_setting_to_check(harness: Harness) -> None:
    harness.secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:archiver/absent-AbCdEf"

    with pytest.raises(QAppsIdentityError) as refused:
        harness.chain().fetch()

    assert "ResourceNotFoundException" in str(refused.value)
    assert "QAPPS_IDENTITY_SECRET_ARN" in str(refused.value) and harness.secret_arn in str(refused.value)


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ("not a token, not JSON", "neither a JWT nor a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "neither a 'jwt' field nor a 'tokenUrl' field"),
        (json.dumps({"jwt": ""}), "field 'jwt'"),
        (json.dumps({"jwt": "abc.def"}), "field 'jwt' is not a JWT"),
        (json.dumps({"tokenUrl": "http://idp.example.com/token", "clientId": "a", "clientSecret": "b"}), "'tokenUrl'"),
        (json.dumps({"tokenUrl": "https://", "clientId": "a", "clientSecret": "b"}), "'tokenUrl'"),
        (json.dumps({"tokenUrl": TOKEN_URL, "clientSecret": "b"}), "field 'clientId'"),
        (json.dumps({"tokenUrl": TOKEN_URL, "clientId": "a"}), "field 'clientSecret'"),
        (json.dumps({"tokenUrl": TOKEN_URL, "clientId": "a", "clientSecret": "b", "scope": 3}), "field 'scope'"),
        (
            json.dumps({"tokenUrl": TOKEN_URL, "clientId": "a", "clientSecret": "b", "clientAuthentication": "jwt"}),
            "field 'clientAuthentication'",
        ),
    ],
)
def test_a_malformed_secret_is_refused_naming_the_field(harness: Harness, secret: str, named: str) -> None:
    harness.store_secret(secret)

    with pytest.raises(QAppsIdentityError, match=named) as refused:
        harness.chain().fetch()

    assert harness.secret_arn in str(refused.value)
    assert harness.posted == [] and harness.assumed == []


# -- the client-credentials grant ------------------------------------------------------------------------


def client_credentials_secret(**extra: str) -> str:
    return json.dumps({"tokenUrl": TOKEN_URL, "clientId": "archiver", "clientSecret": CLIENT_SECRET, **extra})


def test_the_client_credentials_grant_fetches_the_jwt_that_identity_center_receives(harness: Harness) -> None:
    # Given a secret naming the identity provider's token URL and the archiver's client
    harness.store_secret(client_credentials_secret(scope="qapps.archive"))
    issued = jwt({"iss": "https://idp.example.com", "sub": "archive-user", "scp": ["qapps.archive"]})
    harness.token_answer = (200, json.dumps({"access_token": issued, "token_type": "Bearer"}).encode())
    harness.expect_exchange(identity_context(1), assertion=issued)

    # When the chain runs
    harness.chain().fetch()

    # Then the grant was POSTed with HTTP Basic client authentication, and its token was exchanged
    ((url, headers, form),) = harness.posted
    assert url == TOKEN_URL
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"archiver:{CLIENT_SECRET}".encode()).decode()
    assert form == {"grant_type": ["client_credentials"], "scope": ["qapps.archive"]}
    harness.stubber.assert_no_pending_responses()
    assert harness.assumed[0]["ProvidedContexts"][0]["ContextAssertion"] == identity_context(1)


def test_the_client_credentials_grant_can_send_the_client_in_the_form(harness: Harness) -> None:
    harness.store_secret(client_credentials_secret(clientAuthentication="post"))
    harness.token_answer = (200, json.dumps({"access_token": USER_JWT}).encode())
    harness.expect_exchange(identity_context(1))

    harness.chain().fetch()

    ((_, headers, form),) = harness.posted
    assert "Authorization" not in headers
    assert form == {"grant_type": ["client_credentials"], "client_id": ["archiver"], "client_secret": [CLIENT_SECRET]}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((401, b'{"error": "invalid_client", "error_description": "bad secret"}'), r"HTTP 401 \(invalid_client\)"),
        ((500, b"<html>oops</html>"), "HTTP 500 to the client-credentials grant"),
        ((200, b'{"access_token": "opaque-token-not-a-jwt"}'), "no JWT access token"),
        ((200, b"not json"), "no JWT access token"),
    ],
)
def test_a_token_endpoint_that_refuses_or_answers_no_jwt_is_a_clear_error(
    harness: Harness, answer: tuple[int, bytes], expected: str
) -> None:
    harness.store_secret(client_credentials_secret())
    harness.token_answer = answer

    with pytest.raises(QAppsIdentityError, match=expected) as refused:
        harness.chain().fetch()

    assert CLIENT_SECRET not in str(refused.value) and "bad secret" not in str(refused.value)
    assert harness.assumed == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/token", "file:///etc/passwd", "ftp://idp.example.com/token"])
def test_the_production_transport_sends_client_credentials_over_https_only(url: str) -> None:
    with pytest.raises(QAppsIdentityError, match="only https"):
        post_over_https(url, {}, b"grant_type=client_credentials")


# -- settings and the client -----------------------------------------------------------------------------


IDENTITY_ENVIRONMENT = {
    "QAPPS_CREDENTIALS": "identity-center",
    "QAPPS_IDENTITY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:archiver/qapps-user-AbCdEf",
    "QAPPS_IDENTITY_APPLICATION_ARN": APPLICATION_ARN,
    "QAPPS_ROLE_ARN": ROLE_ARN,
}


def test_without_settings_q_apps_uses_the_functions_role(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in IDENTITY_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)

    assert get_qapps_access().mode == "role"
    assert clients.qapps()._request_signer._credentials.method == "env"


def test_identity_center_mode_gives_q_apps_the_chains_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**IDENTITY_ENVIRONMENT, "QAPPS_IDENTITY_CENTER_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)

    access = get_qapps_access()
    client = clients.qapps()

    assert access.identity_center is not None and access.identity_center.region == "eu-west-1"
    assert client._request_signer._credentials.method == "archiver-identity-center"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("QAPPS_CREDENTIALS", "iam", "QAPPS_CREDENTIALS must be one of role, identity-center"),
        ("QAPPS_IDENTITY_SECRET_ARN", "", "QAPPS_IDENTITY_SECRET_ARN is not set"),
        ("QAPPS_IDENTITY_SECRET_ARN", "archiver/qapps-user", "QAPPS_IDENTITY_SECRET_ARN must be a Secrets Manager"),
        ("QAPPS_IDENTITY_APPLICATION_ARN", "", "QAPPS_IDENTITY_APPLICATION_ARN is not set"),
        ("QAPPS_IDENTITY_APPLICATION_ARN", "apl-1234", "QAPPS_IDENTITY_APPLICATION_ARN must be an Identity Center"),
        ("QAPPS_ROLE_ARN", "", "QAPPS_ROLE_ARN is not set"),
        ("QAPPS_ROLE_ARN", "arn:aws:iam::123456789012:user/me", "QAPPS_ROLE_ARN must be an IAM role ARN"),
        ("QAPPS_IDENTITY_CENTER_REGION", "Ireland", "QAPPS_IDENTITY_CENTER_REGION must be an AWS region"),
    ],
)
def test_bad_identity_settings_are_configuration_errors_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    for key, setting in {**IDENTITY_ENVIRONMENT, name: value}.items():
        monkeypatch.setenv(key, setting)

    with pytest.raises(ConfigurationError, match=expected):
        clients.qapps()


def test_even_botocore_debug_logs_keep_no_token_secret_or_credential(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the client-credentials grant, and botocore logging every request and response at DEBUG
    redact_botocore_wire_logs()
    caplog.set_level(logging.DEBUG)
    harness.store_secret(client_credentials_secret())
    harness.token_answer = (200, json.dumps({"access_token": USER_JWT}).encode())
    harness.expect_exchange(identity_context(1))

    # When Q Apps is called through the chain
    harness.qapps_client().get_q_app(instanceId=INSTANCE, appId=APP_ID)

    # Then no record holds the client secret, the user's token, the identity context or the role's credentials
    assert any(record.name.startswith("botocore") for record in caplog.records)
    written = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("moto"))
    for secret in (CLIENT_SECRET, USER_JWT, identity_context(1), *harness.issued_keys):
        assert secret not in written
