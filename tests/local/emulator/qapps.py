"""Q Apps: registered apps and data-collection sessions, session exports, and file uploads to a card."""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.local.emulator.blobs import Blob, BytesSource
from tests.local.emulator.clock import VirtualClock, iso8601
from tests.local.emulator.faults import Faults
from tests.local.emulator.links import LinkHost, sha256_b64
from tests.local.emulator.paging import SortKey, page, page_size
from tests.local.emulator.wire import ApiError, Request, Response, injected_s3_error, s3_error

OPERATIONS = ("ExportQAppSessionData", "GetQApp", "CreatePresignedUrl", "ListQApps", "ListLibraryItems")

# Patterns from the botocore service model.
UUID_RE = re.compile(r"^[\da-f]{8}-[\da-f]{4}-[45][\da-f]{3}-[89ABab][\da-f]{3}-[\da-f]{12}$")
_SHA256_B64_RE = re.compile(r"^(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{42}==|[A-Za-z0-9+/]{44})$")
#: The largest file the emulator's upload policy accepts (the real limit is not in the API reference).
MAX_FILE_BYTES = 50 * 1024 * 1024


def _invalid(message: str) -> ApiError:
    return ApiError("ValidationException", 400, message)


def _not_found(resource_type: str, resource_id: str) -> ApiError:
    message = f"{resource_type} {resource_id} was not found."
    return ApiError("ResourceNotFoundException", 404, message, resourceId=resource_id, resourceType=resource_type)


def _check_uuid(params: dict[str, Any], name: str) -> None:
    if not isinstance(params.get(name), str) or not UUID_RE.match(params[name]):
        raise _invalid(f"Invalid {name}: {params.get(name)!r}.")


@dataclass(frozen=True)
class _Listing:
    """How an app is listed: among the archive user's own apps (ListQApps), in the library (ListLibraryItems)."""

    visible: bool
    in_library: bool
    since: float


@dataclass(frozen=True)
class Session:
    instance_id: str
    app_id: str
    session_id: str
    csv: bytes


class QApps:
    """The apps and sessions of every Q Business instance, and the files uploaded to their cards."""

    def __init__(self, *, clock: VirtualClock, region: str, account_id: str, links: LinkHost, faults: Faults) -> None:
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.max_file_bytes = MAX_FILE_BYTES
        self._links = links
        self._faults = faults
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self._listing: dict[tuple[str, str], _Listing] = {}
        self._sessions: dict[tuple[str, str], Session] = {}
        self._exports = itertools.count(1)
        self._upload_forms: dict[str, dict[str, Any]] = {}
        self._uploads: list[dict[str, Any]] = []

    @property
    def upload_path(self) -> str:
        """Where the presigned upload forms are posted (an S3 bucket of the service's)."""
        return f"/{self._upload_bucket}/"

    @property
    def _upload_bucket(self) -> str:
        return f"qapps-uploads-{self.region}"

    def _arn_prefix(self, instance_id: str) -> str:
        return f"arn:aws:qapps:{self.region}:{self.account_id}:application/{instance_id}"

    # -- seeding and introspection -------------------------------------------------------------

    def add_app(
        self,
        *,
        instance_id: str,
        app_id: str,
        title: str,
        app_version: int,
        cards: list[dict[str, Any]] | None,
        description: str | None,
        status: str,
        required_capabilities: Sequence[str],
        visible: bool = True,
        in_library: bool = False,
    ) -> None:
        if not UUID_RE.match(app_id):
            raise ValueError(f"app_id must be a UUID: {app_id!r}")
        now = self.clock.now()
        app = {
            "appId": app_id,
            "appArn": f"{self._arn_prefix(instance_id)}/qapp/{app_id}",
            "title": title,
            "appVersion": app_version,
            "status": status,
            "createdAt": iso8601(now),
            "createdBy": "emulator-user",
            "updatedAt": iso8601(now),
            "updatedBy": "emulator-user",
            "requiredCapabilities": list(required_capabilities),
            "appDefinition": {
                "appDefinitionVersion": "1",
                "canEdit": True,
                "cards": copy.deepcopy(cards) if cards is not None else default_cards(app_id),
            },
        }
        if description is not None:
            app["description"] = description
        with self._lock:
            self._apps.setdefault((instance_id, app_id), {})[app_version] = app
            self._listing[(instance_id, app_id)] = _Listing(visible=visible, in_library=in_library, since=now)

    def add_session(self, session: Session) -> None:
        if not UUID_RE.match(session.session_id):
            raise ValueError(f"session_id must be a UUID: {session.session_id!r}")
        with self._lock:
            self._sessions[(session.instance_id, session.session_id)] = session

    def session_csv(self, instance_id: str, session_id: str) -> bytes:
        with self._lock:
            return self._sessions[(instance_id, session_id)].csv

    def uploaded_files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._uploads]

    # -- operations ----------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Answer one call of ``operation`` (its required members present): its output and HTTP status."""
        if operation == "ExportQAppSessionData":
            return self._export_session(params), 200
        if operation == "GetQApp":
            return self._get_app(params), 200
        if operation == "ListQApps":
            return self._list_apps(params), 200
        if operation == "ListLibraryItems":
            return self._list_library(params), 200
        return self._create_presigned_url(params), 200

    def _listed(self, instance_id: str, wanted: Callable[[_Listing], bool]) -> list[tuple[_Listing, dict[str, Any]]]:
        """The latest version of each app of the instance that ``wanted`` keeps, with how it is listed."""
        with self._lock:
            return [
                (listing, versions[max(versions)])
                for (instance, _), versions in self._apps.items()
                if instance == instance_id
                and wanted(listing := self._listing[(instance, versions[max(versions)]["appId"])])
            ]

    def _page(
        self, operation: str, params: dict[str, Any], items: list[tuple[SortKey, dict[str, Any]]]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        size = page_size(params.get("limit"), refuse=_invalid, wire_name="limit")
        found, token = page(
            operation,
            items,
            size=size,
            token=params.get("nextToken"),
            refuse_token=lambda: _invalid("Invalid nextToken."),
        )
        return found, ({"nextToken": token} if token else {})

    def _list_apps(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListQApps: the archive user's own apps (those registered ``visible``), latest version of each."""
        items = [
            (
                (listing.since, app["appId"]),
                {
                    "appId": app["appId"],
                    "appArn": app["appArn"],
                    "title": app["title"],
                    **({"description": app["description"]} if "description" in app else {}),
                    "createdAt": app["createdAt"],
                    "canEdit": True,
                    "status": "ACTIVE",
                    "isVerified": False,
                },
            )
            for listing, app in self._listed(params["instanceId"], lambda listing: listing.visible)
        ]
        found, more = self._page("ListQApps", params, items)
        return {"apps": found, **more}

    def _list_library(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListLibraryItems: the apps published to the instance's library, each at its latest version."""
        items = [
            (
                (listing.since, app["appId"]),
                {
                    "libraryItemId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app['appArn']}/library")),
                    "appId": app["appId"],
                    "appVersion": app["appVersion"],
                    "categories": [],
                    "status": "PUBLISHED",
                    "createdAt": app["createdAt"],
                    "createdBy": app["createdBy"],
                    "updatedAt": app["updatedAt"],
                    "updatedBy": app["updatedBy"],
                    "ratingCount": 0,
                    "isRatedByUser": False,
                    "userCount": 1,
                    "isVerified": False,
                },
            )
            for listing, app in self._listed(params["instanceId"], lambda listing: listing.in_library)
        ]
        found, more = self._page("ListLibraryItems", params, items)
        return {"libraryItems": found, **more}

    def _export_session(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id, session_id = params["instanceId"], params["sessionId"]
        _check_uuid(params, "sessionId")
        with self._lock:
            known_instance = any(key[0] == instance_id for key in (*self._sessions, *self._apps))
            session = self._sessions.get((instance_id, session_id))
            export = next(self._exports)
        if session is None:
            raise _not_found("QAppSession", session_id) if known_instance else _not_found("Instance", instance_id)
        path = (
            f"/qapps-session-export-{self.region}/{instance_id}/{session.app_id}/{session_id}/{export}/{session_id}.csv"
        )
        blob = Blob(
            [BytesSource(session.csv)],
            content_type="text/csv",
            etag=hashlib.md5(session.csv, usedforsecurity=False).hexdigest(),
            last_modified=self.clock.now(),
        )
        url, expires = self._links.publish(path, "qapps-session-csv", lambda: blob)
        return {
            "csvFileLink": url,
            "expiresAt": iso8601(expires),
            "sessionArn": f"{self._arn_prefix(instance_id)}/qapp/{session.app_id}/session/{session_id}",
        }

    def _get_app(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_uuid(params, "appId")
        version = params.get("appVersion")
        if version is not None and not isinstance(version, int):
            raise _invalid(f"Invalid appVersion: {version!r}.")
        return copy.deepcopy(self._stored_app(params["instanceId"], params["appId"], version))

    def _stored_app(self, instance_id: str, app_id: str, version: int | None = None) -> dict[str, Any]:
        """The stored app (not a copy) at ``version``, or its latest; ResourceNotFoundException if there is none."""
        with self._lock:
            versions = self._apps.get((instance_id, app_id), {})
            app = versions.get(version if version is not None else max(versions, default=-1))
        if app is None:
            raise _not_found("QApp", app_id)
        return app

    def _create_presigned_url(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id, scope = params["instanceId"], params["scope"]
        for name in ("appId", "cardId", *(("sessionId",) if "sessionId" in params else ())):
            _check_uuid(params, name)
        checksum, file_name = params["fileContentsSha256"], params["fileName"]
        if not isinstance(checksum, str) or not _SHA256_B64_RE.match(checksum):
            raise _invalid("fileContentsSha256 must be a Base64 SHA-256 digest.")
        if not isinstance(file_name, str) or len(file_name) > 100:
            raise _invalid("fileName must be at most 100 characters.")
        if scope not in ("APPLICATION", "SESSION") or (scope == "SESSION") != ("sessionId" in params):
            raise _invalid("scope must be APPLICATION, or SESSION with a sessionId.")
        card = self._file_card(instance_id, params["appId"], params["cardId"])
        if scope == "SESSION":
            with self._lock:
                known = (instance_id, params["sessionId"]) in self._sessions
            if not known:
                raise _not_found("QAppSession", params["sessionId"])
        file_id = str(uuid.uuid4())
        key = f"{instance_id}/{params['appId']}/{card['id']}/{scope.lower()}/{file_id}/{file_name}"
        fields, expires = self._links.sign_form(
            bucket=self._upload_bucket, key=key, checksum=checksum, max_bytes=self.max_file_bytes
        )
        with self._lock:
            self._upload_forms[key] = {
                "fileId": file_id,
                "instanceId": instance_id,
                "appId": params["appId"],
                "cardId": card["id"],
                "scope": scope,
                "sessionId": params.get("sessionId"),
                "fileName": file_name,
            }
        return {
            "fileId": file_id,
            "presignedUrl": self._links.url(self.upload_path),
            "presignedUrlFields": fields,
            "presignedUrlExpiration": iso8601(expires),
        }

    def _file_card(self, instance_id: str, app_id: str, card_id: str) -> dict[str, Any]:
        app = self._stored_app(instance_id, app_id)
        for card in app["appDefinition"]["cards"]:
            kind, body = next(iter(card.items()))
            if body.get("id") == card_id:
                if kind != "fileUpload":
                    raise _invalid(f"Card {card_id} is not a file upload card.")
                return dict(body)
        raise _invalid(f"Card {card_id} was not found in QApp {app_id}.")

    # -- the upload host -----------------------------------------------------------------------

    def receive_upload(self, request: Request) -> Response:
        """Answer an S3 POST of a presigned form: store the file once, or refuse it as S3 would."""
        rejected = self._faults.take_upload_rejection()
        if rejected is not None:
            return injected_s3_error(rejected)
        try:
            fields, content = _parse_form(request)
        except ValueError as error:
            return s3_error(400, "MalformedPOSTRequest", str(error))
        refusal = self._links.check_form(fields, content)
        if refusal is not None:
            return refusal
        with self._lock:
            form = self._upload_forms.pop(fields["key"], None)
            if form is None:
                return s3_error(403, "AccessDenied", "This upload form was used already.")
            checksum = sha256_b64(content)
            self._uploads.append({**form, "bytes": content, "sha256": checksum, "time": self.clock.now()})
        return Response(204, {"x-amz-request-id": secrets.token_hex(8).upper(), "ETag": f'"{checksum}"'})


def _parse_form(request: Request) -> tuple[dict[str, str], bytes]:
    """The text fields and the file of a ``multipart/form-data`` S3 POST (the file must come last)."""
    content_type = request.headers.get("content-type", "")
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        raise ValueError("The body of your POST request is not well-formed multipart/form-data.")
    delimiter = b"--" + match[1].encode()
    body = request.body
    if not body.startswith(delimiter) or not body.rstrip(b"\r\n").endswith(delimiter + b"--"):
        raise ValueError("The body of your POST request is not well-formed multipart/form-data.")
    fields: dict[str, str] = {}
    # Each part is "\r\n<headers>\r\n\r\n<content>", and the CRLF before a delimiter belongs to it.
    for part in body[len(delimiter) : body.rindex(b"\r\n" + delimiter + b"--")].split(b"\r\n" + delimiter):
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name is None:
            raise ValueError("A form part has no name.")
        if name[1] == b"file":
            return fields, content
        fields[name[1].decode()] = content.decode()
    raise ValueError("Bucket POST must contain a field named 'file'.")


# --------------------------------------------------------------------------------------------
# Default cards: their ids derive from the app, so a definition is stable across runs
# --------------------------------------------------------------------------------------------


def file_upload_card_id(app_id: str) -> str:
    """The id of the file-upload card in an app registered with :func:`cards_with_file_upload`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/file-upload"))


def text_input_card_id(app_id: str) -> str:
    """The id of the text-input card in an app registered with the default cards."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/text-input"))


def cards_with_file_upload(app_id: str) -> list[dict[str, Any]]:
    """The default cards plus a file-upload card (id :func:`file_upload_card_id`) that takes a reference document."""
    file_upload = {
        "id": file_upload_card_id(app_id),
        "title": "Reference document",
        "dependencies": [],
        "type": "file-upload",
        "allowOverride": True,
    }
    return [*default_cards(app_id), {"fileUpload": file_upload}]


def default_cards(app_id: str) -> list[dict[str, Any]]:
    """A text-input card feeding a Q query card (card ids must be UUIDs)."""
    text_id = text_input_card_id(app_id)
    query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/q-query"))
    return [
        {"textInput": {"id": text_id, "title": "Topic", "dependencies": [], "type": "text-input"}},
        {
            "qQuery": {
                "id": query_id,
                "title": "Answer",
                "dependencies": [text_id],
                "type": "q-query",
                "prompt": f"Summarise what we know about @{text_id}",
                "outputSource": "approved-sources",
            }
        },
    ]
