"""Keep links, tokens and signatures out of the AWS SDK's own debug logs.

At DEBUG (for instance with Lambda's log level set to DEBUG), botocore logs every request it sends and
every response body it parses: QuickSight's ``DownloadUrl``, Q Apps' ``csvFileLink`` (presigned links),
the archive user's JWT sent to Identity Center and the identity context sent to STS, the credentials STS
returns, and each request's SigV4 signature. This filter rewrites those records before any handler sees
them: a link keeps its scheme, host and path; a credential keeps its name.
"""

from __future__ import annotations

import logging
import re
from functools import cache

# The loggers that write request parameters, prepared requests and response bodies.
BOTOCORE_WIRE_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth")

REDACTED = "<redacted>"

# A URL's query string, up to the end of the quoted string or line it sits in (JSON escapes such as
# \u0026 between parameters stay inside the match).
_QUERY = re.compile(r"(https?://[^\s\"'<>?]+)\?[^\s\"'<>]*")
# A credential by name, as JSON (also JSON inside a JSON string), a Python dict repr, a header or a query
# parameter: its value goes. The X-Amz- names in any case: a presigned POST's form fields (Q Apps'
# presignedUrlFields) spell them in lower case.
_CREDENTIAL = re.compile(
    r"(?P<name>(?i:X-Amz-(?:Signature|Credential|Security-Token))|Signature|Credential"
    r"|assertion|ContextAssertion|SessionToken|SecretAccessKey|SecretString|accessToken|idToken|refreshToken"
    r"|clientSecret|client_secret|access_token|id_token|identityContext|jwt)"
    r"(?P<separator>\\*[\"']?\s*[:=]\s*(?:b?\\*[\"'])?)"
    r"[^\s\"',&}\\]+",
)
# An Authorization header's whole value (SigV4's key id and signature, Basic's encoded client secret).
_AUTHORIZATION = re.compile(r"(?P<name>[Aa]uthorization[\"']?\s*[:=]\s*(?:b?[\"'])?)[^\"'\n]+")
# The same credentials as XML elements (STS answers in XML).
_XML_CREDENTIAL = re.compile(r"<(?P<name>SecretAccessKey|SessionToken|AccessKeyId)>[^<]*</")
# A JWT wherever it appears (three base64url parts, the first one a JSON object).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_secrets(text: str) -> str:
    """``text`` with URL query strings and named credentials replaced by ``<redacted>``."""
    text = _QUERY.sub(rf"\1?{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _AUTHORIZATION.sub(rf"\g<name>{REDACTED}", text)
    text = _XML_CREDENTIAL.sub(rf"<\g<name>>{REDACTED}</", text)
    return _CREDENTIAL.sub(rf"\g<name>\g<separator>{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with :func:`redact_secrets` (the record is kept, its secrets are not)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class DropQueryStrings(logging.Filter):
    """Cuts query strings out of a record's arguments: urllib3 logs each request's path and query apart
    from its host, so there is no whole link for :func:`redact_secrets` to find."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in record.args)
        return True


@cache
def redact_urllib3_request_logs() -> None:
    """Install :class:`DropQueryStrings` on urllib3's request log (once per process): at DEBUG it logs every
    download's path and query, a presigned link's credentials."""
    logging.getLogger("urllib3.connectionpool").addFilter(DropQueryStrings())


@cache
def redact_botocore_wire_logs() -> None:
    """Install :class:`RedactSecrets` on botocore's wire loggers (once per process)."""
    for name in BOTOCORE_WIRE_LOGGERS:
        logging.getLogger(name).addFilter(RedactSecrets())
