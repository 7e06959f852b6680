"""Reading what the archive holds, for a restore: find an archived object, stream it, look inside a bundle.

An object is named by a run's manifest and item id (``latest`` for the newest manifest) or by its
key. Either way it is pinned to the S3 version found here, so every later step reads exactly the
bytes that were checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from archiver.core import layout
from archiver.core.service_errors import naming_errors, object_missing
from archiver.restore.models import ArchivedObject, ArchivedReference, PlannedRestoreItem
from archiver.restore.request import LATEST_MANIFEST
from archiver.store.write_once import recorded_sha256

_CHUNK = 1024 * 1024
# A bundle lists one JSON document per resource, under a folder named after its type.
_BUNDLE_RESOURCE = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>[^/]+)\.json$")


class SourceNotFound(Exception):
    """The reference names nothing restorable; the message says why, for the named field."""


def latest_run_id(s3: Any, bucket: str) -> str | None:
    """The run whose manifest was written last (``manifests/{run id}.json``), or None."""
    newest: tuple[Any, str] | None = None
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.MANIFESTS_PREFIX, Delimiter="/")
    for page in pages:
        for entry in page.get("Contents", []):
            if entry["Key"].endswith(".json") and (newest is None or entry["LastModified"] > newest[0]):
                newest = (entry["LastModified"], entry["Key"])
    if newest is None:
        return None
    return newest[1][len(layout.MANIFESTS_PREFIX) : -len(".json")]


class Manifests:
    """The archive's manifests as one restore reads them: ``latest`` is settled once, each manifest read once.

    Settling ``latest`` anew for every item would list the manifests each time and, should a run finish
    meanwhile, restore items named by the same ``latest`` from two different runs.
    """

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self._bucket = s3, bucket
        self._latest: str | None = None
        self._read: dict[str, dict[str, Any]] = {}

    def run_id(self, name: str) -> str:
        if name != LATEST_MANIFEST:
            return name
        if self._latest is None:
            self._latest = latest_run_id(self._s3, self._bucket)
            if self._latest is None:
                raise SourceNotFound(f"manifest: no manifest in the archive yet ({layout.MANIFESTS_PREFIX} is empty)")
        return self._latest

    def manifest(self, run_id: str) -> dict[str, Any]:
        if run_id not in self._read:
            key = layout.manifest_key(run_id)
            try:
                self._read[run_id] = json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
            except self._s3.exceptions.NoSuchKey:
                raise SourceNotFound(f"manifest: no manifest for run {run_id!r} ({key})") from None
        return self._read[run_id]


def _from_manifest(s3: Any, bucket: str, manifests: Manifests, name: str, item_id: str) -> ArchivedObject:
    run_id = manifests.run_id(name)
    manifest = manifests.manifest(run_id)
    for artifact in manifest["artifacts"]:
        if artifact["itemId"] == item_id:
            head = _head(s3, bucket, artifact["key"], artifact.get("versionId"))
            return ArchivedObject(
                key=artifact["key"],
                size=int(head["ContentLength"]),
                version_id=artifact.get("versionId"),
                sha256=artifact["sha256"],
                run_id=run_id,
                item_id=item_id,
                export_format=artifact.get("source", {}).get("exportFormat"),
            )
    # An item onlyChanged did not archive again is held by an earlier run's copy: that copy is restored.
    for unchanged in manifest.get("unchanged", []):
        if unchanged["itemId"] == item_id:
            held = unchanged["held"]
            head = _head(s3, bucket, held["key"], held.get("versionId"))
            return ArchivedObject(
                key=held["key"],
                size=int(head["ContentLength"]),
                version_id=held.get("versionId"),
                sha256=held["sha256"],
                run_id=held["runId"],
                item_id=item_id,
                export_format=_export_format_of(held["key"]),
            )
    for failure in manifest["failures"]:
        if failure["itemId"] == item_id:
            raise SourceNotFound(
                f"itemId: {item_id} failed in run {run_id} ({failure['error']['type']}), nothing was archived"
            )
    archived = ", ".join(artifact["itemId"] for artifact in manifest["artifacts"]) or "none"
    raise SourceNotFound(f"itemId: no item {item_id!r} in the manifest of run {run_id} (archived: {archived})")


def _head(s3: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    try:
        head: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key, **_version(version_id))
    except Exception as error:
        if object_missing(error):
            raise SourceNotFound(f"key: no archived object at {key!r}") from None
        raise
    return head


def _from_key(s3: Any, bucket: str, key: str) -> ArchivedObject:
    head = _head(s3, bucket, key, None)
    version_id = head.get("VersionId")
    sha256 = recorded_sha256(s3, bucket, key, version_id=version_id)
    return ArchivedObject(
        key=key,
        size=int(head["ContentLength"]),
        version_id=version_id,
        sha256=sha256,
        export_format=_export_format_of(key),
    )


def _export_format_of(key: str) -> str | None:
    """A bundle's export format, as its key's extension says (``layout.bundle_key``): only CloudFormation's is told."""
    return "CLOUDFORMATION_JSON" if key.startswith(layout.QUICKSIGHT_PREFIX) and key.endswith(".json") else None


def resolve(
    s3: Any, bucket: str, reference: ArchivedReference, *, manifests: Manifests | None = None
) -> ArchivedObject:
    """Find the archived object a ``from`` reference names (``manifests``: shared by one restore's references).

    Raises
    ------
    SourceNotFound
        Its message starts with the reference's sub-field at fault (``key``, ``manifest``, ``itemId``).
    """
    if reference.key is not None:
        return _from_key(s3, bucket, reference.key)
    if reference.manifest is None or reference.item_id is None:
        raise SourceNotFound("itemId: expected either key, or manifest and itemId")
    return _from_manifest(s3, bucket, manifests or Manifests(s3, bucket), reference.manifest, reference.item_id)


def planned_source(item: PlannedRestoreItem) -> ArchivedObject:
    """The archived object a planned item restores, as ValidateRestore found and pinned it."""
    if item.source is None:
        raise ValueError(f"{item.item_id} has no source: the plan is not one ValidateRestore returned")
    return item.source


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def iter_object(s3: Any, bucket: str, archived: ArchivedObject, chunk_size: int = _CHUNK) -> Iterator[bytes]:
    """Stream the archived object's bytes (that version), ``chunk_size`` at a time."""
    with naming_errors("S3", resource=f"s3://{bucket}/{archived.key}"):
        body = s3.get_object(Bucket=bucket, Key=archived.key, **_version(archived.version_id))["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def sha256_of(s3: Any, bucket: str, archived: ArchivedObject) -> bytes:
    """The SHA-256 digest of the archived object, read streaming."""
    digest = hashlib.sha256()
    for chunk in iter_object(s3, bucket, archived):
        digest.update(chunk)
    return digest.digest()


class _RangeReader(io.RawIOBase):
    """A seekable view of an archived object that reads only the ranges asked for.

    A zip's directory is at its end, so listing a bundle's resources reads a few kilobytes of
    it however big the bundle is.
    """

    def __init__(self, s3: Any, bucket: str, archived: ArchivedObject) -> None:
        self._s3, self._bucket, self._archived = s3, bucket, archived
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._archived.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        stop = min(self._position + len(buffer), self._archived.size)
        if stop <= self._position:
            return 0
        data = self._s3.get_object(
            Bucket=self._bucket,
            Key=self._archived.key,
            Range=f"bytes={self._position}-{stop - 1}",
            **_version(self._archived.version_id),
        )["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def bundle_resources(s3: Any, bucket: str, archived: ArchivedObject) -> list[str]:
    """The resources an archived ``.qs`` bundle holds (``dashboard/finance-overview``, ...).

    Raises
    ------
    zipfile.BadZipFile
        The object is not a zip archive: QuickSight could not import it.
    """
    reader = io.BufferedReader(_RangeReader(s3, bucket, archived), buffer_size=256 * 1024)
    with zipfile.ZipFile(reader) as bundle:
        names = bundle.namelist()
    return [f"{m['type']}/{m['id']}" for name in names if (m := _BUNDLE_RESOURCE.match(name))]
