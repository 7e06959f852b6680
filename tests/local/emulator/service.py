"""The emulator as tests hold it: one HTTP host for both services and their links, seeded, faulted and inspected."""

from __future__ import annotations

import copy
import dataclasses
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tests.local.emulator import qapps, quicksight
from tests.local.emulator.clock import VirtualClock
from tests.local.emulator.events import change_event
from tests.local.emulator.faults import Faults
from tests.local.emulator.links import LinkHost
from tests.local.emulator.qapps import QApps, Session
from tests.local.emulator.quicksight import QuickSight
from tests.local.emulator.quicksight_assets import FILE_UPLOAD_REFUSAL, Resource, tag_pairs
from tests.local.emulator.server import Server
from tests.local.emulator.wire import (
    ApiError,
    Request,
    Response,
    Router,
    Stall,
    api_error_response,
    json_response,
    modeled_status,
    signing_identity,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import Config

_OPERATIONS = {"quicksight": quicksight.OPERATIONS, "qapps": qapps.OPERATIONS}

T = TypeVar("T")


class _Setting(Generic[T]):
    """A setting one part of the emulator owns, read and set on the emulator as callers always have."""

    def __init__(self, part: str, name: str) -> None:
        self._part, self._name = part, name

    def __get__(self, emulator: Any, owner: type | None = None) -> T:
        value: T = getattr(getattr(emulator, self._part), self._name)
        return value

    def __set__(self, emulator: Any, value: T) -> None:
        setattr(getattr(emulator, self._part), self._name, value)


class ServiceEmulator:
    """Emulates QuickSight asset bundles and Q Apps over real HTTP, for unmodified boto3 clients.

    Parameters
    ----------
    clock
        The virtual clock to use; a fresh :class:`VirtualClock` by default.
    link_ttl_seconds
        How long (virtual seconds) a download link or upload form stays valid after it is issued.
    export_duration_seconds
        Virtual time from an export job's start to its end (see :meth:`set_export_duration`).
    max_concurrent_jobs
        Export jobs that may be queued or running at once per account.
    region
        The region used in ARNs and link credentials.
    account_id
        The account that owns Q Apps ARNs (QuickSight takes the account from each request).

    Notes
    -----
    State lives on the instance, so tests can run many emulators side by side. Each part guards
    its own state with a lock; downloads stream outside them.
    """

    link_ttl_seconds = _Setting[int]("_links", "ttl_seconds")
    export_duration_seconds = _Setting[float]("_quicksight", "export_duration_seconds")
    import_duration_seconds = _Setting[float]("_quicksight", "import_duration_seconds")
    max_concurrent_jobs = _Setting[int]("_quicksight", "max_concurrent_jobs")
    #: Size of an incompressible padding member added to bundles of jobs started from now on.
    bundle_padding_bytes = _Setting[int]("_quicksight", "bundle_padding_bytes")
    #: The largest file a Q Apps upload form accepts.
    qapps_max_file_bytes = _Setting[int]("_qapps", "max_file_bytes")

    def __init__(
        self,
        *,
        clock: VirtualClock | None = None,
        link_ttl_seconds: int = 300,
        export_duration_seconds: float = 20,
        max_concurrent_jobs: int = 5,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.clock = clock or VirtualClock()
        self.region = region
        self.account_id = account_id
        self._router = Router(_OPERATIONS)
        self._faults = Faults(self._router.operations)
        self._links = LinkHost(clock=self.clock, region=region, faults=self._faults, ttl_seconds=link_ttl_seconds)
        self._quicksight = QuickSight(clock=self.clock, region=region, links=self._links, faults=self._faults)
        self._qapps = QApps(
            clock=self.clock, region=region, account_id=account_id, links=self._links, faults=self._faults
        )
        self.export_duration_seconds = export_duration_seconds
        self.max_concurrent_jobs = max_concurrent_jobs
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint for both services and for download links."""
        if self._links.endpoint_url is None:
            raise RuntimeError("the emulator is not started")
        return self._links.endpoint_url

    def client(self, service: str, *, config: Config | None = None) -> BaseClient:
        """A real boto3 client for ``service`` (``quicksight`` or ``qapps``) that calls this emulator.

        It makes one attempt per call, so an injected error reaches the caller instead of being retried
        away (with real sleeps); ``config`` adds to that. Any credentials do: the emulator checks none.
        """
        import boto3
        from botocore.config import Config

        one_attempt = Config(retries={"total_max_attempts": 1})
        client: BaseClient = boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=one_attempt.merge(config) if config else one_attempt,
        )
        return client

    def start(self) -> ServiceEmulator:
        """Bind a free port on 127.0.0.1 and serve from a background thread; return ``self``, for chaining."""
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        server = Server(self._handle, self.clock)
        port = server.server_address[1]
        self._links.endpoint_url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"emulator:{port}", daemon=True
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and wait for every handler thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stop()
        thread.join(timeout=5)
        server.join_handlers(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ServiceEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- seeding -------------------------------------------------------------------------------

    def add_quicksight_resource(
        self,
        arn: str,
        *,
        fails_strict_validation: bool = False,
        name: str | None = None,
        dependencies: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        data_source_type: str = "ATHENA",
        members: Sequence[str] = (),
        file_upload: bool = False,
        describe_error: tuple[str, str] | None = None,
    ) -> None:
        """Register a QuickSight asset: listed by its List call, described, and exported by jobs that name it.

        Parameters
        ----------
        arn
            The asset's ARN, e.g. ``arn:aws:quicksight:us-east-1:123456789012:dashboard/sales``; its type
            (``dashboard``, ``analysis``, ``dataset``, ``datasource``, ``theme``, ``folder``) says which List
            call lists it. Created and last updated now (virtual time).
        fails_strict_validation
            If true, strict-mode exports of it fail and relaxed ones succeed with a warning.
        name
            Its display name (List calls, Describe calls, the bundle); defaults to the resource id.
        dependencies
            ARNs exported with it when a job sets ``IncludeAllDependencies``, and what its Describe call
            reports: a dashboard's or analysis's data sets and theme, a data set's data sources and the data
            sets it is built on.
        tags
            What ListTagsForResource answers for it.
        data_source_type
            A data source's ``Type`` (the model's enum: ``ATHENA``, ``SALESFORCE``, ...).
        members
            A folder's members (ARNs), as ListFolderMembers lists them.
        file_upload
            A data set made from an uploaded file: DescribeDataSet refuses it, as the API does.
        describe_error
            ``(code, message)`` its Describe call answers instead (e.g. ``("AccessDeniedException", ...)``).
        """
        refusal = FILE_UPLOAD_REFUSAL if file_upload else describe_error
        resource = Resource(
            arn=arn,
            fails_strict_validation=fails_strict_validation,
            name=name or "",
            dependencies=tuple(dependencies),
            tags=tag_pairs(tags),
            data_source_type=data_source_type,
            members=tuple(members),
            describe_error=refusal,
        )
        self._quicksight.add_resource(resource)
        self._emit(arn, "created")

    def edit_quicksight_asset(
        self, arn: str, *, name: str | None = None, dependencies: Sequence[str] | None = None
    ) -> None:
        """Edit (and publish) an asset now: its ``LastUpdatedTime`` moves, a dashboard's ``PublishedVersionNumber``
        and a theme's ``LatestVersionNumber`` go up by one, and exports started from now on hold the new state."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if dependencies is not None:
            changes["dependencies"] = tuple(dependencies)
        self._quicksight.assets.edit(arn, **changes)
        self._emit(arn, "updated")

    def delete_quicksight_asset(self, arn: str) -> None:
        """Delete an asset: it is no longer listed nor exported (an analysis stays listed, ``Status`` ``DELETED``)."""
        self._quicksight.assets.delete(arn)
        self._emit(arn, "deleted")

    def _emit(self, arn: str, change: str) -> None:
        event = change_event(arn, change, at=self.clock.now(), region=self.region)
        if event is not None:
            with self._lock:
                self._events.append(event)

    def quicksight_events(self) -> list[dict[str, Any]]:
        """The EventBridge events QuickSight emitted for asset changes (``emulator.events``), oldest first."""
        with self._lock:
            return copy.deepcopy(self._events)

    def quicksight_asset(self, arn: str) -> dict[str, Any]:
        """What the emulator holds of an asset: ``name``, ``last_updated_at``, ``version``, ``dependencies``, ..."""
        resource = self._quicksight.assets.get(arn)
        if resource is None:
            raise KeyError(arn)
        return dataclasses.asdict(resource)

    def quicksight_assets(self, resource_type: str | None = None) -> list[str]:
        """The ARNs of every asset registered (of one type), deleted analyses included."""
        return sorted(resource.arn for resource in self._quicksight.assets.listed(resource_type))

    def set_export_duration(self, match: str, seconds: float) -> None:
        """Make export jobs started from now on that match take ``seconds`` of virtual time.

        Parameters
        ----------
        match
            Matches a job whose id contains it or any of whose ``ResourceArns`` contains it
            (the archiver chooses job ids itself, so tests usually match on an ARN).
        seconds
            The job's duration; the most recently set matching rule wins.
        """
        self._quicksight.set_export_duration(match, seconds)

    def add_qapp(
        self,
        *,
        instance_id: str,
        app_id: str,
        title: str,
        app_version: int = 1,
        cards: list[dict[str, Any]] | None = None,
        description: str | None = None,
        status: str = "PUBLISHED",
        required_capabilities: Sequence[str] = (),
        visible: bool = True,
        in_library: bool = False,
    ) -> None:
        """Register a Q App version that ``GetQApp`` returns.

        Parameters
        ----------
        instance_id, app_id, title, app_version
            Identity of the app; ``app_id`` must be a UUID as the service requires.
        cards
            The definition's cards (each a one-key union such as ``{"textInput": {...}}``);
            a text-input card feeding a Q query card by default.
        description, status, required_capabilities
            Optional metadata returned as is.
        visible
            Whether ListQApps lists it: one of the archive user's own apps.
        in_library
            Whether ListLibraryItems lists it: published to the instance's library.
        """
        self._qapps.add_app(
            instance_id=instance_id,
            app_id=app_id,
            title=title,
            app_version=app_version,
            cards=cards,
            description=description,
            status=status,
            required_capabilities=required_capabilities,
            visible=visible,
            in_library=in_library,
        )

    def add_session(self, *, instance_id: str, app_id: str, session_id: str, csv: bytes) -> None:
        """Register a data-collection session whose export serves ``csv``.

        Parameters
        ----------
        instance_id, app_id, session_id
            Identity of the session; ``session_id`` must be a UUID as the service requires.
        csv
            The exact bytes a download of the session's export serves.
        """
        self._qapps.add_session(Session(instance_id, app_id, session_id, bytes(csv)))

    # -- fault injection -----------------------------------------------------------------------

    def inject_api_error(
        self,
        operation: str,
        code: str,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after_seconds: int | None = None,
        message: str = "Injected by the service emulator",
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with an error.

        Parameters
        ----------
        operation
            The botocore operation name, e.g. ``"StartAssetBundleExportJob"``.
        code
            The error code boto3 reports, e.g. ``"ThrottlingException"``.
        status
            The HTTP status to answer with; by default the one the service's model gives ``code``
            (QuickSight's ``AccessDeniedException`` is 401, Q Apps' 403). A status the model
            contradicts is refused: a test must not rely on an answer the real service never sends.
        times
            How many consecutive matching calls fail.
        retry_after_seconds
            Sent as ``Retry-After``; botocore parses it into ``retryAfterSeconds`` for qapps.
        message
            The error message.
        fields
            Extra members for the JSON error body (e.g. ``resourceId``).
        """
        if operation not in self._router.operations:
            raise ValueError(f"unknown operation {operation!r}; expected one of {sorted(self._router.operations)}")
        service = self._router.operations[operation].service
        modeled = modeled_status(service, code)
        if status is None:
            if modeled is None:
                raise ValueError(f"{service} models no {code}: give its HTTP status")
            status = modeled
        elif modeled is not None and status != modeled:
            raise ValueError(f"{service} answers {code} with HTTP {modeled}, not {status}")
        error = ApiError(code, status, message, retry_after_seconds=retry_after_seconds, **dict(fields or {}))
        self._faults.add_api_error(operation, error, times)

    def expire_next_downloads(self, times: int = 1) -> None:
        """Answer the next ``times`` downloads 403 "Request has expired", whatever the link."""
        self._faults.expire_downloads(times)

    def truncate_next_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """Make the next ``times`` downloads announce the full length, then close early."""
        self._faults.truncate_downloads(times, after_bytes)

    def fail_next_downloads(self, times: int = 1, *, status: int = 503) -> None:
        """Answer the next ``times`` downloads with an S3-style error of ``status``."""
        self._faults.fail_downloads(times, status)

    def stall_next_downloads(self, times: int = 1, *, after_bytes: int | None = 0) -> None:
        """Make the next ``times`` downloads go silent and hold the connection open.

        Parameters
        ----------
        times
            How many consecutive downloads stall.
        after_bytes
            Body bytes sent (after the full headers) before going silent; ``None`` stalls before
            even the status line, as a host that accepts the connection and never answers.

        Nothing sleeps on the test's side: the client's own read timeout ends the wait (give it
        a short one), and stopping the emulator releases every stalled connection.
        """
        self._faults.stall_downloads(times, Stall(before_headers=after_bytes is None, after_bytes=after_bytes or 0))

    def reject_next_uploads(self, times: int = 1, *, status: int = 503) -> None:
        """Answer the next ``times`` Q Apps file uploads with an S3-style error of ``status``, storing nothing."""
        self._faults.reject_uploads(times, status)

    def fail_next_imports(self, times: int = 1, *, message: str = "Injected by the service emulator") -> None:
        """Make the next ``times`` import jobs end failed (rolled back if asked), with ``message`` as their error."""
        self._faults.fail_imports(times, message)

    # -- introspection -------------------------------------------------------------------------

    def requests_for(self, operation: str) -> list[dict[str, Any]]:
        """Return what each call of ``operation`` received, oldest first.

        Returns
        -------
        list of dict
            Each with ``params`` (the input members by their botocore names, e.g.
            ``AwsAccountId``, ``ResourceArns``, ``instanceId``), ``access_key_id`` and
            ``security_token`` (from the request's signature, or None), ``request_id``, ``time``
            (virtual) and ``status`` (the HTTP status answered).
        """
        with self._lock:
            return [copy.deepcopy(r) for r in self._requests if r["operation"] == operation]

    def downloads(self) -> list[dict[str, Any]]:
        """Return one record per download request, oldest first.

        Returns
        -------
        list of dict
            Each with ``path``, ``range`` (the ``Range`` header asked for, or None: downloads are
            served whole, so one with a range is refused), ``status``, ``bytes_sent``,
            ``content_length``, ``kind`` (``"quicksight-bundle"``, ``"qapps-session-csv"`` or None)
            and ``time`` (virtual).
        """
        return self._links.downloads()

    def bundle_bytes(self, job_id: str) -> bytes:
        """Return the exact bytes the latest job with ``job_id`` serves (materialised: tests only)."""
        return self._quicksight.bundle_bytes(job_id)

    def session_csv(self, instance_id: str, session_id: str) -> bytes:
        """Return the bytes registered for a session."""
        return self._qapps.session_csv(instance_id, session_id)

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Return export job id -> a summary of the latest job with that id, status as of now."""
        return self._quicksight.jobs()

    def import_jobs(self) -> dict[str, dict[str, Any]]:
        """Return import job id -> what the job imported, status as of now.

        Each with ``status``, ``source`` (``"inline"`` or ``"s3Uri"``), ``s3_uri``, ``bundle_sha256``
        (hex), ``resources`` (as in the bundle, e.g. ``dashboard/sales``), ``restored_ids`` (with the
        prefix applied), ``prefix``, ``failure_action``, ``override_parameters`` and ``errors``.
        """
        return self._quicksight.import_jobs()

    def uploaded_files(self) -> list[dict[str, Any]]:
        """Return one record per Q Apps file stored by an upload, oldest first.

        Returns
        -------
        list of dict
            Each with ``fileId``, ``instanceId``, ``appId``, ``cardId``, ``scope``, ``sessionId``,
            ``fileName``, ``bytes`` (the exact content), ``sha256`` (Base64, as checked) and ``time``.
        """
        return self._qapps.uploaded_files()

    # -- requests (called from handler threads) ------------------------------------------------

    def _handle(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD") and (
            "X-Amz-Signature" in request.query or "X-Amz-Algorithm" in request.query
        ):
            return self._links.serve(request)
        if request.method == "POST" and request.path == self._qapps.upload_path:
            return self._qapps.receive_upload(request)
        request_id = str(uuid.uuid4())
        routed = self._router.route(request)
        if routed is None:
            message = f"The emulator does not implement {request.method} {request.path}"
            return api_error_response("quicksight", ApiError("UnknownOperationException", 404, message), request_id)
        operation, params = routed
        record = self._record(operation.name, params, request, request_id)
        try:
            self._faults.raise_api_error(operation.name)
            operation.check_required(params)
            if operation.service == "quicksight":
                payload, status = self._quicksight.call(operation.name, params, request_id)
            else:
                payload, status = self._qapps.call(operation.name, params)
            response = json_response(status, payload, request_id)
        except ApiError as error:
            response = api_error_response(operation.service, error, request_id)
        with self._lock:
            record["status"] = response.status
        return response

    def _record(self, operation: str, params: dict[str, Any], request: Request, request_id: str) -> dict[str, Any]:
        access_key, token = signing_identity(request.headers)
        record: dict[str, Any] = {
            "operation": operation,
            "params": copy.deepcopy(params),
            "access_key_id": access_key,
            "security_token": token,
            "request_id": request_id,
            "time": self.clock.now(),
            "status": None,
        }
        with self._lock:
            self._requests.append(record)
        return record
