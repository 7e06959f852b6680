"""Q Apps credentials that carry the archive user's identity, through IAM Identity Center.

Q Apps acts as a signed-in user: with plain role credentials it answers ``UnauthorizedException``.
With ``QAPPS_CREDENTIALS=identity-center`` the Q Apps client signs with credentials obtained by
trusted identity propagation:

1. a JWT for the designated archive user, from a Secrets Manager secret (the token itself, or an
   OAuth client-credentials grant whose token URL and client credentials the secret holds);
2. ``sso-oidc:CreateTokenWithIAM`` exchanges it (jwt-bearer grant) at the Identity Center
   application that trusts the token's issuer;
3. the returned id token's ``sts:identity_context`` is passed to ``sts:AssumeRole`` as a provided
   context, on a dedicated role that holds the ``qapps:`` permissions;
4. those role credentials sign the Q Apps calls. botocore caches them and runs the whole chain
   again shortly before they expire.

The secret, as a JSON object (or the bare JWT as the secret string)::

    {"jwt": "<the archive user's JWT>"}
    {"tokenUrl": "https://idp.example.com/oauth2/token", "clientId": "…", "clientSecret": "…",
     "scope": "optional scopes", "clientAuthentication": "basic" | "post"}

Tokens, secrets and credentials are never logged and never quoted in an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import urlencode

import boto3
import botocore.session
import urllib3
from botocore.credentials import CredentialProvider, CredentialResolver, DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from archiver.core.connections import NETWORK_ERRORS, connection_pool
from archiver.core.errors import QAppsIdentityError
from archiver.core.links import origin
from archiver.core.observability import logger
from archiver.core.settings import IdentityCenterAccess

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDENTITY_CENTER_CONTEXT_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
IDENTITY_CONTEXT_CLAIM = "sts:identity_context"
ROLE_SESSION_NAME = "archiver-qapps"
# An hour: the default most a role allows. botocore refreshes 15 minutes before the end.
ROLE_SESSION_SECONDS = 3600
CLIENT_AUTHENTICATION_METHODS = ("basic", "post")

TokenEndpoint: TypeAlias = Callable[[str, Mapping[str, str], bytes], tuple[int, bytes]]
"""POSTs a form to a token URL: ``(url, headers, body) -> (status, response body)``."""

_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_OAUTH_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_TOKEN_ENDPOINT_TIMEOUT = urllib3.Timeout(connect=5.0, read=15.0)


def post_over_https(url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
    """The production token endpoint transport: https only, certificates verified, no redirects."""
    if not url.startswith("https://"):
        # The secret's tokenUrl is checked already; this guards against any other caller.
        raise QAppsIdentityError(f"Refusing to send client credentials to {origin(url)}: only https is allowed")
    try:
        response = connection_pool().request(
            "POST",
            url,
            body=body,
            headers=dict(headers),
            timeout=_TOKEN_ENDPOINT_TIMEOUT,
            # A redirect would carry the client secret to a host the secret never named.
            redirect=False,
            retries=False,
        )
    except NETWORK_ERRORS as error:
        raise QAppsIdentityError(
            f"The token endpoint {origin(url)} (tokenUrl of the archive user's secret) could not be reached: "
            f"{type(error).__name__}"
        ) from None
    return response.status, response.data


class IdentityCenterChain:
    """Runs the chain once per call of :meth:`fetch`: user token, Identity Center exchange, role.

    Parameters
    ----------
    access
        Which secret, Identity Center application and role to use.
    secrets, sso_oidc, sts
        boto3 clients, on the function's own credentials (``sso_oidc`` in Identity Center's region).
    token_endpoint
        How a client-credentials grant is POSTed; https only in production.
    """

    def __init__(
        self,
        access: IdentityCenterAccess,
        *,
        secrets: Any,
        sso_oidc: Any,
        sts: Any,
        token_endpoint: TokenEndpoint = post_over_https,
    ) -> None:
        self.access = access
        self._secrets = secrets
        self._sso_oidc = sso_oidc
        self._sts = sts
        self._token_endpoint = token_endpoint

    def fetch(self) -> dict[str, str]:
        """Fresh role credentials carrying the archive user's identity, as botocore's refresh expects them.

        Raises
        ------
        QAppsIdentityError
            The secret, the user's token, the exchange or the role refused; the message says what to fix.
        """
        user_token = self.user_token()
        identity_context = self.identity_context(user_token)
        credentials = self.assume_role(identity_context)
        logger.info(
            "Q Apps credentials issued for the archive user",
            extra={"roleArn": self.access.role_arn, "expiresAt": credentials["expiry_time"]},
        )
        return credentials

    def user_token(self) -> str:
        """The archive user's JWT: from the secret, or from the token URL the secret names."""
        secret = self._read_secret()
        if "jwt" in secret:
            return self._field(secret, "jwt", must_be_jwt=True)
        if "tokenUrl" in secret:
            return self._client_credentials_token(secret)
        raise self._secret_error("has neither a 'jwt' field nor a 'tokenUrl' field (with 'clientId', 'clientSecret')")

    def identity_context(self, user_token: str) -> str:
        """Exchange the user's JWT at the Identity Center application for the user's identity context."""
        try:
            response = self._sso_oidc.create_token_with_iam(
                clientId=self.access.application_arn, grantType=JWT_BEARER_GRANT, assertion=user_token
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise QAppsIdentityError(
                f"IAM Identity Center refused the archive user's token ({code}): check that the token in secret "
                f"{self.access.secret_arn} is current, that its issuer is a trusted token issuer, and that "
                f"application {self.access.application_arn} allows the jwt-bearer grant from that issuer"
            ) from None
        details = response.get("awsAdditionalDetails") or {}
        context = details.get("identityContext") or _id_token_claim(response.get("idToken"), IDENTITY_CONTEXT_CLAIM)
        if not isinstance(context, str) or not context:
            raise QAppsIdentityError(
                f"IAM Identity Center's token for application {self.access.application_arn} carries no "
                f"{IDENTITY_CONTEXT_CLAIM}: the application must grant the sts:identity_context scope"
            )
        return context

    def assume_role(self, identity_context: str) -> dict[str, str]:
        """Assume the Q Apps role with the user's identity context (an identity-enhanced session)."""
        try:
            response = self._sts.assume_role(
                RoleArn=self.access.role_arn,
                RoleSessionName=ROLE_SESSION_NAME,
                DurationSeconds=ROLE_SESSION_SECONDS,
                ProvidedContexts=[
                    {"ProviderArn": IDENTITY_CENTER_CONTEXT_PROVIDER, "ContextAssertion": identity_context}
                ],
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise QAppsIdentityError(
                f"STS refused to assume {self.access.role_arn} with the archive user's identity ({code}): its "
                "trust policy must allow this function's role sts:AssumeRole and sts:SetContext"
            ) from None
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].astimezone(UTC).isoformat(),
        }

    # -- the secret --------------------------------------------------------------------------------

    def _read_secret(self) -> dict[str, Any]:
        try:
            value = self._secrets.get_secret_value(SecretId=self.access.secret_arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise self._secret_error(
                f"cannot be read ({code}): check QAPPS_IDENTITY_SECRET_ARN and that this function may "
                "secretsmanager:GetSecretValue it (and decrypt it with its KMS key)"
            ) from None
        text = value.get("SecretString")
        if not isinstance(text, str) or not text.strip():
            raise self._secret_error("has no string value: store a JSON object or the archive user's JWT")
        text = text.strip()
        if _JWT.fullmatch(text):
            return {"jwt": text}
        try:
            secret = json.loads(text)
        except json.JSONDecodeError:
            raise self._secret_error("is neither a JWT nor a JSON object") from None
        if not isinstance(secret, dict):
            raise self._secret_error(f"must be a JSON object, got {type(secret).__name__}")
        return secret

    def _client_credentials_token(self, secret: Mapping[str, Any]) -> str:
        token_url = self._field(secret, "tokenUrl")
        if not token_url.startswith("https://") or origin(token_url) in ("https://", "<unparseable link>"):
            raise self._secret_error("field 'tokenUrl' must be an https:// URL of the identity provider")
        client_id = self._field(secret, "clientId")
        client_secret = self._field(secret, "clientSecret")
        method = secret.get("clientAuthentication", "basic")
        if method not in CLIENT_AUTHENTICATION_METHODS:
            raise self._secret_error(
                f"field 'clientAuthentication' must be one of {', '.join(CLIENT_AUTHENTICATION_METHODS)}"
            )
        form = {"grant_type": "client_credentials"}
        if "scope" in secret:
            form["scope"] = self._field(secret, "scope")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if method == "basic":
            # RFC 6749 2.3.1: both parts form-encoded, then joined and base64-encoded.
            pair = f"{_form_encode(client_id)}:{_form_encode(client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form.update({"client_id": client_id, "client_secret": client_secret})
        status, body = self._token_endpoint(token_url, headers, urlencode(form).encode())
        answer = _json_object(body)
        if status != 200:
            code = answer.get("error")
            said = f" ({code})" if isinstance(code, str) and _OAUTH_ERROR_CODE.fullmatch(code) else ""
            raise QAppsIdentityError(
                f"The token endpoint {origin(token_url)} answered HTTP {status}{said} to the client-credentials "
                f"grant: check clientId, clientSecret and scope in secret {self.access.secret_arn}"
            )
        token = answer.get("access_token")
        if not isinstance(token, str) or not _JWT.fullmatch(token):
            raise QAppsIdentityError(
                f"The token endpoint {origin(token_url)} returned no JWT access token: Identity Center needs a "
                "JWT, so configure the identity provider to issue JWT access tokens for this client"
            )
        return token

    def _field(self, secret: Mapping[str, Any], name: str, *, must_be_jwt: bool = False) -> str:
        value = secret.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self._secret_error(f"field '{name}' must be a non-empty string")
        if must_be_jwt and not _JWT.fullmatch(value.strip()):
            raise self._secret_error(f"field '{name}' is not a JWT (three base64url parts joined by dots)")
        return value.strip()

    def _secret_error(self, problem: str) -> QAppsIdentityError:
        return QAppsIdentityError(f"The archive user's secret {self.access.secret_arn} {problem}")


class _IdentityCenterProvider(CredentialProvider):
    METHOD = "archiver-identity-center"
    CANONICAL_NAME = "ArchiverIdentityCenter"

    def __init__(self, chain: IdentityCenterChain, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self._chain = chain
        self._clock = clock

    def load(self) -> DeferredRefreshableCredentials:
        # Deferred: nothing is fetched until the first Q Apps call is signed; then botocore keeps the
        # credentials and runs the chain again when fewer than 15 minutes are left.
        return DeferredRefreshableCredentials(
            refresh_using=self._chain.fetch, method=self.METHOD, time_fetcher=self._clock
        )


def identity_center_session(
    chain: IdentityCenterChain, *, clock: Callable[[], datetime] | None = None
) -> boto3.Session:
    """A boto3 session whose credentials come from ``chain``, cached and refreshed before they expire.

    Parameters
    ----------
    chain
        The Identity Center chain to run for every new set of credentials.
    clock
        The current time (timezone-aware); tests move it forward instead of waiting.
    """
    botocore_session = botocore.session.get_session()
    provider = _IdentityCenterProvider(chain, clock or _utc_now)
    botocore_session.register_component("credential_provider", CredentialResolver([provider]))
    return boto3.Session(botocore_session=botocore_session)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _id_token_claim(id_token: Any, claim: str) -> Any:
    """One claim of an id token, read without verifying its signature.

    The token was returned by Identity Center itself, over TLS, to a SigV4-signed request: nobody
    but AWS can have written it, so there is nothing to verify it against. The claim is passed back
    to STS, which validates the identity context assertion on its own.
    """
    if not isinstance(id_token, str) or not _JWT.fullmatch(id_token):
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims.get(claim) if isinstance(claims, dict) else None
