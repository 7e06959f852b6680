"""The wire protocol: requests and responses, routed and read by botocore's service models, and errors as sent.

Both services are rest-json: an operation is a method and a URI template, and each input member
says where it travels (``uri``, ``header``, ``querystring``, or the JSON body). Reading that from
botocore's own models keeps the emulator's routes and parameter names the ones boto3 sends.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from botocore.loaders import Loader


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    # As sent, still percent-encoded: a URI label may hold an encoded "/" (an ARN in ListTagsForResource).
    raw_path: str = ""


@dataclass(frozen=True)
class Stall:
    """A download that goes silent: before its headers, or after ``after_bytes`` of its body."""

    before_headers: bool
    after_bytes: int


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    stream_length: int = 0
    truncate_after: int | None = None
    # Told each body chunk's size as it is sent (negative if the send failed), to count a download's bytes.
    on_sent: Callable[[int], None] | None = field(default=None, repr=False)
    stall: Stall | None = None

    @property
    def length(self) -> int:
        return len(self.body) if self.stream is None else self.stream_length


class ApiError(Exception):
    """Raised inside an operation handler to answer with a modeled service error."""

    def __init__(
        self, code: str, status: int, message: str, *, retry_after_seconds: int | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.retry_after_seconds = retry_after_seconds
        self.fields = fields


# The qapps error shapes mark these members required; an injected error without them would
# still parse, but code under test may rely on them being present as they are on the real service.
_QAPPS_ERROR_DEFAULTS: dict[str, dict[str, str]] = {
    "ThrottlingException": {"serviceCode": "qapps", "quotaCode": "L-EMULATED"},
    "ServiceQuotaExceededException": {
        "resourceId": "emulated",
        "resourceType": "emulated",
        "serviceCode": "qapps",
        "quotaCode": "L-EMULATED",
    },
    "ConflictException": {"resourceId": "emulated", "resourceType": "emulated"},
    "ResourceNotFoundException": {"resourceId": "emulated", "resourceType": "emulated"},
}

# What each service calls an input that breaks its model (QuickSight's has no ValidationException).
_VALIDATION_ERROR = {"quicksight": "InvalidParameterValueException", "qapps": "ValidationException"}


def json_response(status: int, payload: Mapping[str, Any], request_id: str) -> Response:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    return Response(status, headers, json.dumps(payload).encode())


def api_error_response(service: str, error: ApiError, request_id: str) -> Response:
    """``error`` in the error shape of ``service``, as botocore's rest-json parser reads it."""
    body: dict[str, Any]
    if service == "quicksight":
        body = {"Message": error.message, "RequestId": request_id}
    else:
        body = {"message": error.message, **_QAPPS_ERROR_DEFAULTS.get(error.code, {})}
    body.update(error.fields)
    response = json_response(error.status, body, request_id)
    # botocore reads the code from this header first (rest-json), see RestJSONParser.
    response.headers["x-amzn-ErrorType"] = error.code
    if error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


S3_ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


def s3_error(status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> Response:
    """An S3 XML error document, as the download and upload hosts answer."""
    request_id = secrets.token_hex(8).upper()
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (extra or {}).items())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(32)}</HostId></Error>"
    )
    return Response(status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, xml.encode())


def injected_s3_error(status: int) -> Response:
    """The S3 error a fault of ``status`` answers with."""
    code, message = S3_ERROR_CODES.get(status, ("InternalError", "Injected failure"))
    return s3_error(status, code, message)


def signing_identity(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The access key id and session token a SigV4-signed request names (the signature itself is not checked)."""
    match = re.search(r"Credential=([^/,\s]+)/", headers.get("authorization", ""))
    return (match[1] if match else None), headers.get("x-amz-security-token")


# --------------------------------------------------------------------------------------------
# Routing and reading input by the service models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str  # as botocore names it, e.g. "instanceId"
    location: str | None  # "uri", "header", "querystring", or None for the JSON body
    wire_name: str  # as it travels, e.g. "instance-id"
    type: str


@dataclass(frozen=True)
class Operation:
    name: str
    service: str
    method: str
    path: re.Pattern[str]
    members: tuple[Member, ...]
    required: tuple[str, ...]

    def read(self, request: Request, path_match: re.Match[str]) -> dict[str, Any]:
        """The input by botocore's member names, from path, headers, query string and body."""
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        params: dict[str, Any] = {}
        for member in self.members:
            if member.location == "uri":
                value: Any = unquote(path_match[member.wire_name])
            elif member.location == "header":
                value = request.headers.get(member.wire_name.lower())
            elif member.location == "querystring":
                value = request.query.get(member.wire_name)
            else:
                value = body.get(member.wire_name)
            if value is None:
                continue
            if member.type == "integer" and isinstance(value, str) and value.isdigit():
                value = int(value)  # left a string otherwise, for the operation to refuse
            params[member.name] = value
        return params

    def check_required(self, params: Mapping[str, Any]) -> None:
        """Refuse an input that lacks a member the model requires, as the service does."""
        for name in self.required:
            if params.get(name) in (None, ""):
                wire_name = next(m.wire_name for m in self.members if m.name == name)
                message = f"Value null at '{wire_name}' failed to satisfy constraint: Member must not be null"
                raise ApiError(_VALIDATION_ERROR[self.service], 400, message)


def _path_pattern(request_uri: str) -> re.Pattern[str]:
    """``/accounts/{AwsAccountId}/jobs/{JobId+}`` as a regex with a group per label (``+`` spans slashes)."""
    path = request_uri.split("?", 1)[0]
    pattern = ""
    for literal, label, greedy in re.findall(r"([^{]*)(?:\{(\w+)(\+?)\})?", path):
        pattern += re.escape(literal)
        if label:
            pattern += f"(?P<{label}>{'.+' if greedy else '[^/]+'})"
    return re.compile(f"^{pattern}$")


@cache
def _service_model(service: str) -> dict[str, Any]:
    model: dict[str, Any] = Loader().load_service_model(service, "service-2")
    return model


@cache
def modeled_status(service: str, code: str) -> int | None:
    """The HTTP status ``service`` answers error ``code`` with, by its model (QuickSight's
    ``AccessDeniedException`` is 401, Q Apps' 403), or None when the model does not list the code."""
    shape = _service_model(service)["shapes"].get(code, {})
    status = shape.get("error", {}).get("httpStatusCode") if shape.get("exception") else None
    return None if status is None else int(status)


def load_operation(service: str, name: str) -> Operation:
    model = _service_model(service)
    spec = model["operations"][name]
    shape = model["shapes"][spec["input"]["shape"]] if "input" in spec else {"members": {}}
    members = tuple(
        Member(
            name=member,
            location=ref.get("location"),
            wire_name=ref.get("locationName", member),
            type=model["shapes"][ref["shape"]]["type"],
        )
        for member, ref in shape["members"].items()
    )
    return Operation(
        name=name,
        service=service,
        method=spec["http"]["method"],
        path=_path_pattern(spec["http"]["requestUri"]),
        members=members,
        required=tuple(shape.get("required", ())),
    )


class Router:
    """Finds which of the implemented operations a request calls, by method and URI template."""

    def __init__(self, operations: Mapping[str, Sequence[str]]) -> None:
        self.operations = {
            name: load_operation(service, name) for service, names in operations.items() for name in names
        }

    def route(self, request: Request) -> tuple[Operation, dict[str, Any]] | None:
        # Matched as sent, labels decoded after: botocore encodes a label's "/" (unless it is greedy).
        path = request.raw_path or request.path
        for operation in self.operations.values():
            match = operation.path.match(path)
            if match is not None and operation.method == request.method:
                return operation, operation.read(request, match)
        return None
