"""QuickSight's asset bundles: export jobs that build a zip of the registered resources, import jobs that read one."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import itertools
import json
import re
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.local.emulator.blobs import MAX_PADDING_BYTES, Blob, PaddingSource, ZipMember, zip_blob
from tests.local.emulator.clock import VirtualClock
from tests.local.emulator.faults import Faults
from tests.local.emulator.links import LinkHost
from tests.local.emulator.quicksight_assets import (
    ASSET_OPERATIONS,
    Assets,
    Resource,
    arn_parts,
    resolve,
    unbundlable,
)
from tests.local.emulator.wire import ApiError, modeled_status

_JOB_OPERATIONS = (
    "StartAssetBundleExportJob",
    "DescribeAssetBundleExportJob",
    "StartAssetBundleImportJob",
    "DescribeAssetBundleImportJob",
)
OPERATIONS = (*_JOB_OPERATIONS, *ASSET_OPERATIONS)

QUEUED = "QUEUED_FOR_IMMEDIATE_EXECUTION"
IN_PROGRESS = "IN_PROGRESS"
SUCCESSFUL = "SUCCESSFUL"
FAILED = "FAILED"
_RUNNING = (QUEUED, IN_PROGRESS)

_JOB_RETENTION_SECONDS = 14 * 24 * 3600  # QuickSight keeps job descriptions 14 days.

# Patterns and limits from the botocore service model.
_ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}$")
_JOB_ID_RE = re.compile(r"^[\w\-]+$")
_EXPORT_FORMATS = ("QUICKSIGHT_JSON", "CLOUDFORMATION_JSON")
_BUNDLE_MEMBER_RE = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>[^/]+)\.json$")


def _error(code: str, message: str) -> ApiError:
    status = modeled_status("quicksight", code)
    assert status is not None, f"QuickSight's model lists no {code}"
    return ApiError(code, status, message)


def _invalid(message: str) -> ApiError:
    return _error("InvalidParameterValueException", message)


def _queued_or_running(elapsed: float, duration: float) -> str:
    # A short queued phase (1 s, or half of a very short job) lets tests observe every state.
    return QUEUED if elapsed < min(1.0, duration / 2) else IN_PROGRESS


@dataclass
class ExportJob:
    account_id: str
    job_id: str
    serial: int
    arn: str
    params: dict[str, Any]
    created_at: float
    duration: float
    exported: list[Resource]
    errors: list[dict[str, str]]
    warnings: list[dict[str, str]]
    padding_bytes: int
    bundle: Blob | None = None

    @property
    def outcome(self) -> str:
        return FAILED if self.errors else SUCCESSFUL

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        return self.outcome if elapsed >= self.duration else _queued_or_running(elapsed, self.duration)

    def build_bundle(self) -> Blob:
        """Build ``assetbundle-{jobId}.qs``: one JSON file per exported resource, plus padding.

        Its bytes follow what it holds (the resources as they were when the job started, and the options),
        never the job: an export of assets nobody changed is byte for byte the one before.
        """
        members = []
        for resource in self.exported:
            resource_type, resource_id = arn_parts(resource.arn)
            data = json.dumps(self._resource_document(resource), indent=2, sort_keys=True).encode()
            members.append(ZipMember.deflated(f"{resource_type}/{resource_id}.json", data))
        if self.padding_bytes:
            padding = PaddingSource(seed=self._content_digest(), length=self.padding_bytes)
            members.append(ZipMember.stored_padding("emulator-padding.bin", padding))
        etag = hashlib.md5(f"{self.arn}:{self.serial}".encode(), usedforsecurity=False).hexdigest()
        modified = max((resource.last_updated_at for resource in self.exported), default=self.created_at)
        return zip_blob(members, modified=modified, etag=etag)

    def _content_digest(self) -> str:
        held = [self._resource_document(resource) for resource in self.exported]
        return hashlib.sha256(json.dumps(held, sort_keys=True).encode()).hexdigest()

    def _resource_document(self, resource: Resource) -> dict[str, Any]:
        resource_type, resource_id = arn_parts(resource.arn)
        document: dict[str, Any] = {
            "resourceType": resource_type,
            "resourceId": resource_id,
            "arn": resource.arn,
            "name": resource.name,
            "exportFormat": self.params["ExportFormat"],
            "dependencies": list(resource.dependencies),
            "lastUpdatedTime": resource.last_updated_at,
            "version": resource.version,
        }
        if self.params.get("IncludePermissions"):
            principal = f"arn:aws:quicksight:{self.arn.split(':')[3]}:{self.account_id}:user/default/emulator-admin"
            document["permissions"] = [{"Principal": principal, "Actions": ["quicksight:DescribeDashboard"]}]
        if self.params.get("IncludeTags"):
            document["tags"] = [{"Key": "source", "Value": "service-emulator"}]
        return document


@dataclass
class ImportJob:
    account_id: str
    job_id: str
    arn: str
    created_at: float
    duration: float
    s3_uri: str | None
    bundle_sha256: str
    failure_action: str
    override_parameters: dict[str, Any]
    prefix: str
    resources: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.errors.append({"Arn": self.arn, "Type": "InvalidParameterValueException", "Message": message})

    def read_bundle(self, body: bytes) -> None:
        """List the bundle's resources, as QuickSight does before it imports them."""
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as bundle:
                names = bundle.namelist()
        except zipfile.BadZipFile:
            self.fail("Not a bundle.")
            return
        self.resources = [f"{m['type']}/{m['id']}" for name in names if (m := _BUNDLE_MEMBER_RE.match(name))]
        if not self.resources:
            self.fail("Empty bundle.")

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        if elapsed < self.duration:
            return _queued_or_running(elapsed, self.duration)
        if not self.errors:
            return SUCCESSFUL
        return "FAILED_ROLLBACK_COMPLETED" if self.failure_action == "ROLLBACK" else FAILED

    def summary(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "source": "s3Uri" if self.s3_uri else "inline",
            "s3_uri": self.s3_uri,
            "bundle_sha256": self.bundle_sha256,
            "resources": list(self.resources),
            "restored_ids": [f"{r.split('/', 1)[0]}/{self.prefix}{r.split('/', 1)[1]}" for r in self.resources],
            "prefix": self.prefix,
            "failure_action": self.failure_action,
            "override_parameters": copy.deepcopy(self.override_parameters),
            "errors": copy.deepcopy(self.errors),
        }


class QuickSight:
    """The asset-bundle jobs of every account, against the resources registered with :meth:`add_resource`."""

    def __init__(self, *, clock: VirtualClock, region: str, links: LinkHost, faults: Faults) -> None:
        self.clock = clock
        self.region = region
        self.export_duration_seconds: float = 20
        self.import_duration_seconds: float = 10
        self.max_concurrent_jobs = 5
        self._links = links
        self._faults = faults
        self._lock = threading.RLock()
        self._padding_bytes = 0
        self.assets = Assets(clock=clock)
        self._durations: list[tuple[str, float]] = []
        self._jobs: dict[tuple[str, str], ExportJob] = {}
        self._import_jobs: dict[tuple[str, str], ImportJob] = {}
        self._serials = itertools.count(1)

    # -- seeding and introspection -------------------------------------------------------------

    @property
    def bundle_padding_bytes(self) -> int:
        return self._padding_bytes

    @bundle_padding_bytes.setter
    def bundle_padding_bytes(self, value: int) -> None:
        if not 0 <= value <= MAX_PADDING_BYTES:
            raise ValueError(f"bundle_padding_bytes must be between 0 and {MAX_PADDING_BYTES}")
        self._padding_bytes = value

    def add_resource(self, resource: Resource) -> None:
        self.assets.add(resource)

    def set_export_duration(self, match: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._durations.append((match, seconds))

    def bundle_bytes(self, job_id: str) -> bytes:
        with self._lock:
            candidates = [job for (_, jid), job in self._jobs.items() if jid == job_id]
        if not candidates:
            raise KeyError(job_id)
        job = max(candidates, key=lambda j: j.serial)
        if job.outcome != SUCCESSFUL:
            raise ValueError(f"job {job_id!r} fails, so it has no bundle")
        return self._bundle(job).read_all()

    def jobs(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            return {
                job.job_id: {
                    "account_id": job.account_id,
                    "arn": job.arn,
                    "status": job.status_at(now),
                    "created_at": job.created_at,
                    "finishes_at": job.created_at + job.duration,
                    "resource_arns": list(job.params["ResourceArns"]),
                    "errors": copy.deepcopy(job.errors),
                    "warnings": copy.deepcopy(job.warnings),
                }
                for job in sorted(self._jobs.values(), key=lambda j: j.serial)
            }

    def import_jobs(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            jobs = sorted(self._import_jobs.values(), key=lambda j: j.created_at)
        return {job.job_id: {**job.summary(), "status": job.status_at(now)} for job in jobs}

    # -- operations ----------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any], request_id: str) -> tuple[dict[str, Any], int]:
        """Answer one call of ``operation``: its output and HTTP status."""
        if operation in ASSET_OPERATIONS:
            return self.assets.call(operation, params, request_id), 200
        if operation == "StartAssetBundleExportJob":
            return self._start_export(params, request_id), 202
        if operation == "DescribeAssetBundleExportJob":
            return self._describe_export(params, request_id), 200
        if operation == "StartAssetBundleImportJob":
            return self._start_import(params, request_id), 202
        return self._describe_import(params, request_id), 200

    def _start_export(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        _check_export_input(params)
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        now = self.clock.now()
        with self._lock:
            previous = self._jobs.get((account_id, job_id))
            if previous is not None and previous.status_at(now) in _RUNNING:
                raise _error("ConflictException", f"Export job {job_id} is still running.")
            running = sum(
                1 for job in self._jobs.values() if job.account_id == account_id and job.status_at(now) in _RUNNING
            )
            if running >= self.max_concurrent_jobs:
                message = f"You can run at most {self.max_concurrent_jobs} export jobs at the same time."
                raise _error("LimitExceededException", message)
            job = self._new_export_job(params, now)
            self._jobs[(account_id, job_id)] = job
        return {"Arn": job.arn, "AssetBundleExportJobId": job_id, "RequestId": request_id, "Status": 202}

    def _new_export_job(self, params: dict[str, Any], now: float) -> ExportJob:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        strict = bool(params.get("ValidationStrategy", {}).get("StrictModeForAllResources", False))
        exported, missing = resolve(self.assets, params["ResourceArns"], bool(params.get("IncludeAllDependencies")))
        errors = [
            {"Arn": arn, "Type": "ResourceNotFoundException", "Message": f"Resource {arn} was not found."}
            for arn in missing
        ]
        # What asset bundles cannot hold fails the job, as the service's validation does.
        errors += [
            {"Arn": resource.arn, "Type": "InvalidParameterValueException", "Message": refusal}
            for resource in exported
            if (refusal := unbundlable(resource))
        ]
        warnings: list[dict[str, str]] = []
        for resource in exported:
            if not resource.fails_strict_validation:
                continue
            kind = arn_parts(resource.arn)[0].capitalize()
            if strict:
                message = f"{kind} {resource.arn} has associated errors and cannot be exported."
                errors.append({"Arn": resource.arn, "Type": "InvalidParameterValueException", "Message": message})
            else:
                message = f"{kind} {resource.arn} has associated errors that were skipped by relaxed validation."
                warnings.append({"Arn": resource.arn, "Message": message})
        return ExportJob(
            account_id=account_id,
            job_id=job_id,
            serial=next(self._serials),
            arn=f"arn:aws:quicksight:{self.region}:{account_id}:asset-bundle-export-job/{job_id}",
            params=copy.deepcopy(params),
            created_at=now,
            duration=self._duration_for(job_id, params["ResourceArns"]),
            exported=exported,
            errors=errors,
            warnings=warnings,
            padding_bytes=self._padding_bytes,
        )

    def _duration_for(self, job_id: str, arns: Sequence[str]) -> float:
        for match, seconds in reversed(self._durations):
            if match in job_id or any(match in arn for arn in arns):
                return seconds
        return self.export_duration_seconds

    def _describe_export(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleExportJobId"]
        now = self.clock.now()
        with self._lock:
            job = self._jobs.get((account_id, job_id))
        if job is None or now - job.created_at > _JOB_RETENTION_SECONDS:
            raise _error("ResourceNotFoundException", f"Export job {job_id} was not found.")
        status = job.status_at(now)
        described: dict[str, Any] = {
            "JobStatus": status,
            "Arn": job.arn,
            "CreatedTime": job.created_at,
            "AssetBundleExportJobId": job.job_id,
            "AwsAccountId": job.account_id,
            "RequestId": request_id,
            "Status": 200,
            **_export_options(job.params),
        }
        if status == FAILED:
            described["Errors"] = copy.deepcopy(job.errors)
        if status == SUCCESSFUL:
            path = (
                f"/quicksight-asset-bundle-export-{self.region}/{job.account_id}/{job.job_id}/{job.serial}"
                f"/assetbundle-{job.job_id}.qs"
            )
            described["DownloadUrl"], _ = self._links.publish(path, "quicksight-bundle", lambda: self._bundle(job))
            if job.warnings:
                described["Warnings"] = copy.deepcopy(job.warnings)
        return described

    def _bundle(self, job: ExportJob) -> Blob:
        with self._lock:
            built = job.bundle
        if built is None:
            # Built outside the lock: hashing big padding takes a while, and building is
            # deterministic, so two threads racing here produce the same bundle.
            built = job.build_bundle()
            with self._lock:
                job.bundle = job.bundle or built
        return job.bundle or built

    def _start_import(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params.get("AwsAccountId", ""), params.get("AssetBundleImportJobId", "")
        if not _ACCOUNT_ID_RE.match(account_id) or not _JOB_ID_RE.match(job_id):
            raise _invalid("AwsAccountId and AssetBundleImportJobId must match the model's patterns.")
        if params.get("FailureAction", "DO_NOTHING") not in ("DO_NOTHING", "ROLLBACK"):
            raise _invalid("FailureAction must be DO_NOTHING or ROLLBACK.")
        now = self.clock.now()
        with self._lock:
            previous = self._import_jobs.get((account_id, job_id))
        if previous is not None and previous.status_at(now) in _RUNNING:
            raise _error("ConflictException", f"Import job {job_id} is still running.")
        body, uri = self._read_import_source(params.get("AssetBundleImportSource") or {})
        overrides = params.get("OverrideParameters") or {}
        job = ImportJob(
            account_id=account_id,
            job_id=job_id,
            arn=f"arn:aws:quicksight:{self.region}:{account_id}:asset-bundle-import-job/{job_id}",
            created_at=now,
            duration=self.import_duration_seconds,
            s3_uri=uri,
            bundle_sha256=hashlib.sha256(body).hexdigest(),
            failure_action=params.get("FailureAction", "DO_NOTHING"),
            override_parameters=copy.deepcopy(overrides),
            prefix=overrides.get("ResourceIdOverrideConfiguration", {}).get("PrefixForAllResources", ""),
        )
        job.read_bundle(body)
        injected = self._faults.take_import_failure()
        if injected is not None:
            job.fail(injected)
        with self._lock:
            self._import_jobs[(account_id, job_id)] = job
        return {"Arn": job.arn, "AssetBundleImportJobId": job_id, "RequestId": request_id, "Status": 202}

    def _read_import_source(self, source: Mapping[str, Any]) -> tuple[bytes, str | None]:
        """The bundle an import names: sent inline, or read from S3 (moto's, in process) as QuickSight's role."""
        if "Body" in source:
            return base64.b64decode(source["Body"]), None
        uri = source.get("S3Uri")
        match = re.match(r"^s3://([^/]+)/(.+)$", uri or "")
        if match is None:
            raise _invalid("AssetBundleImportSource must hold a Body or an s3://bucket/key S3Uri.")
        import boto3  # moto's S3, when the caller runs under mock_aws

        s3 = boto3.client("s3", region_name=self.region)
        try:
            return s3.get_object(Bucket=match[1], Key=match[2])["Body"].read(), uri
        except s3.exceptions.ClientError as error:
            code = error.response["Error"]["Code"]
            raise _error("AccessDeniedException", f"QuickSight could not read {uri}: {code}") from None

    def _describe_import(self, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        account_id, job_id = params["AwsAccountId"], params["AssetBundleImportJobId"]
        with self._lock:
            job = self._import_jobs.get((account_id, job_id))
        if job is None:
            raise _error("ResourceNotFoundException", f"Import job {job_id} was not found.")
        status = job.status_at(self.clock.now())
        described: dict[str, Any] = {
            "JobStatus": status,
            "Arn": job.arn,
            "CreatedTime": job.created_at,
            "AssetBundleImportJobId": job_id,
            "AwsAccountId": account_id,
            "AssetBundleImportSource": {"S3Uri": job.s3_uri} if job.s3_uri else {},
            "FailureAction": job.failure_action,
            "OverrideParameters": copy.deepcopy(job.override_parameters),
            "RequestId": request_id,
            "Status": 200,
        }
        if status.startswith(FAILED):
            described["Errors"] = copy.deepcopy(job.errors)
        return described


def _export_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """What DescribeAssetBundleExportJob says of the options a job was started with."""
    options: dict[str, Any] = {
        "ResourceArns": list(params["ResourceArns"]),
        "IncludeAllDependencies": bool(params.get("IncludeAllDependencies", False)),
        "ExportFormat": params["ExportFormat"],
        "IncludePermissions": bool(params.get("IncludePermissions", False)),
        "IncludeTags": bool(params.get("IncludeTags", False)),
        "ValidationStrategy": {
            "StrictModeForAllResources": bool(params.get("ValidationStrategy", {}).get("StrictModeForAllResources"))
        },
    }
    for echoed in ("CloudFormationOverridePropertyConfiguration", "IncludeFolderMemberships", "IncludeFolderMembers"):
        if echoed in params:
            options[echoed] = params[echoed]
    return options


def _check_export_input(params: Mapping[str, Any]) -> None:
    """Check a StartAssetBundleExportJob input against the model's constraints, like the service."""
    account_id = params.get("AwsAccountId", "")
    if not _ACCOUNT_ID_RE.match(account_id):
        raise _invalid(f"Value '{account_id}' at 'awsAccountId' failed to satisfy constraint: ^[0-9]{{12}}$")
    job_id = params.get("AssetBundleExportJobId")
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= 512 or not _JOB_ID_RE.match(job_id):
        raise _invalid(
            f"Value '{job_id}' at 'assetBundleExportJobId' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [\w\-]+ and have length between 1 and 512"
        )
    arns = params.get("ResourceArns")
    if not isinstance(arns, list) or not 1 <= len(arns) <= 100:
        count = len(arns) if isinstance(arns, list) else 0
        raise _invalid(f"ResourceArns must contain between 1 and 100 ARNs; got {count}.")
    for arn in arns:
        if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") < 5:
            raise _invalid(f"Invalid resource ARN: {arn!r}.")
    if params.get("ExportFormat") not in _EXPORT_FORMATS:
        raise _invalid(f"ExportFormat must be one of {', '.join(_EXPORT_FORMATS)}.")
    if not isinstance(params.get("ValidationStrategy", {}), dict):
        raise _invalid("ValidationStrategy must be an object.")
