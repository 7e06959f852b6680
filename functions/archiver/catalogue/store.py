"""Reading and writing the catalogue in the archive bucket: entries written once, an index per run.

Nothing here is ever overwritten: an entry's key names its subject, its time and its run, and is
written with ``IfNoneMatch="*"``; an index is a new key per run. A run that dies before its index
leaves the last index and every entry as they were: its own entries are found by listing a subject
(``entries``, ``as_of``, ``latest_entry``), and the next index that touches their subjects includes
or supersedes them.
"""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time
from typing import Any

from botocore.exceptions import ClientError

from archiver.catalogue.models import CatalogueEntry, CatalogueIndex, IndexedSubject
from archiver.core import layout
from archiver.core.service_errors import naming_errors
from archiver.store.write_once import precondition_failed

# Entries read at once (browsing a subject's versions); boto3 keeps 10 connections by default.
READERS = 10
_STAMP_CHARS = len("20261202T101500Z")


def stamp_of(moment: datetime) -> str:
    """``moment`` as the catalogue's keys name times: UTC, ``%Y%m%dT%H%M%SZ``."""
    return moment.astimezone(UTC).strftime(layout.CATALOGUE_STAMP)


def iso(moment: datetime) -> str:
    """``moment`` as entries and indexes write times: UTC ISO 8601, to the second, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment_of(value: str | datetime) -> datetime:
    """A time from ``value``: an aware or naive (UTC) datetime, an ISO time, or a date (the end of that day, UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif len(value) == len("2026-12-02"):
        moment = datetime.combine(datetime.fromisoformat(value).date(), time(23, 59, 59))
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_key(entry: CatalogueEntry) -> str:
    """Where ``entry`` is kept: its subject, its time, its run."""
    return layout.catalogue_entry_key(entry.subject, stamp=stamp_of(moment_of(entry.archived_at)), run_id=entry.run_id)


def iso_precise(moment: datetime) -> str:
    """``moment`` to the microsecond (an entry's ``recordedAt``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _order(entry: CatalogueEntry) -> tuple[str, str]:
    # Keys sort by second, then run id; within one second the entry made last is the later version.
    return stamp_of(moment_of(entry.archived_at)), entry.recorded_at or ""


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    with naming_errors("S3", resource=f"s3://{bucket}/{prefix}"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _read_entry(s3: Any, bucket: str, key: str) -> CatalogueEntry:
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return CatalogueEntry.model_validate_json(body)


def _put_once(s3: Any, bucket: str, key: str, body: bytes, **options: str) -> None:
    """Write ``body`` at ``key`` unless something is there: what a retried step wrote first stands."""
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        try:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
                **options,
            )
        except ClientError as error:
            if not precondition_failed(error):
                raise


def record(s3: Any, bucket: str, entry: CatalogueEntry) -> str:
    """Write ``entry`` once and return its key; an entry already at that key (a retried step's) is kept as it is."""
    key = entry_key(entry)
    _put_once(s3, bucket, key, json.dumps(entry.wire(), indent=2, sort_keys=True).encode())
    return key


def entries(s3: Any, bucket: str, subject: str) -> list[CatalogueEntry]:
    """Every archived version of ``subject``, oldest first (dead runs' entries included: their bytes are kept)."""
    keys = _keys(s3, bucket, layout.catalogue_entries_prefix(subject))
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return sorted(pool.map(lambda key: _read_entry(s3, bucket, key), keys), key=_order)


def _stamp_in(key: str) -> str:
    return key.rsplit("/", 1)[-1][:_STAMP_CHARS]


def as_of(s3: Any, bucket: str, subject: str, when: str | datetime) -> CatalogueEntry | None:
    """The latest version of ``subject`` archived at or before ``when`` (a date: by the end of that day, UTC)."""
    limit = stamp_of(moment_of(when))
    keys = [key for key in _keys(s3, bucket, layout.catalogue_entries_prefix(subject)) if _stamp_in(key) <= limit]
    last = _last_of(s3, bucket, keys)
    return None if last is None else last[1]


def _last_of(s3: Any, bucket: str, keys: list[str]) -> tuple[str, CatalogueEntry] | None:
    """The latest of the entries at ``keys`` (sorted): those of the last second are read, the last made wins."""
    if not keys:
        return None
    last_second = [key for key in keys if _stamp_in(key) == _stamp_in(keys[-1])]
    read = [(key, _read_entry(s3, bucket, key)) for key in last_second]
    return max(read, key=lambda found: _order(found[1]))


def latest_entry(s3: Any, bucket: str, subject: str) -> tuple[str, CatalogueEntry] | None:
    """The latest version of ``subject`` and its key, if it was ever archived."""
    return _last_of(s3, bucket, _keys(s3, bucket, layout.catalogue_entries_prefix(subject)))


# The index.


def read_index(s3: Any, bucket: str, key: str) -> CatalogueIndex:
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return CatalogueIndex.model_validate_json(gzip.decompress(body))


def latest_index_key(s3: Any, bucket: str) -> str | None:
    """The last key under ``catalogue/index/``: the latest year's shard, listed in ascending order."""
    prefix = layout.CATALOGUE_INDEX_PREFIX
    with naming_errors("S3", resource=f"s3://{bucket}/{prefix}"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        years = sorted(common["Prefix"] for page in pages for common in page.get("CommonPrefixes", []))
    for year in reversed(years):
        if keys := _keys(s3, bucket, year):
            return keys[-1]
    return None


def latest_index(s3: Any, bucket: str) -> CatalogueIndex | None:
    """The catalogue as the last run that wrote an index left it, or ``None`` before the first."""
    key = latest_index_key(s3, bucket)
    return None if key is None else read_index(s3, bucket, key)


def write_index(s3: Any, bucket: str, index: CatalogueIndex) -> str:
    """Write ``index`` once (gzipped JSON) under a key of its own; return the key."""
    key = layout.catalogue_index_key(stamp=stamp_of(moment_of(index.written_at)), run_id=index.run_id)
    body = gzip.compress(json.dumps(index.wire(), separators=(",", ":"), sort_keys=True).encode(), mtime=0)
    # A key taken already: the same run wrote its index in the same second (a retried step).
    _put_once(s3, bucket, key, body, ContentEncoding="gzip")
    return key


def _newer(candidate: IndexedSubject, current: IndexedSubject | None) -> bool:
    if current is None:
        return True
    return (*_order(candidate.entry), candidate.entry_key) > (*_order(current.entry), current.entry_key)


def updated_index(
    s3: Any,
    bucket: str,
    *,
    base: tuple[str, CatalogueIndex] | None,
    run_id: str,
    written_at: datetime,
    recorded: dict[str, CatalogueEntry],
    gone: dict[str, str],
) -> CatalogueIndex:
    """The index after a run: ``base`` (the latest when the run read it), any index written since, this run's entries.

    ``recorded`` maps each entry this run wrote by its key; ``gone`` the subjects a full discovery found
    no longer listed to the time it first found them so. A subject's newer entry wins; one archived
    again is listed again.
    """
    subjects: dict[str, IndexedSubject] = dict(base[1].subjects) if base else {}
    builds_on = [base[0]] if base else []
    # Runs that overlapped this one wrote their indexes after ``base``: what they recorded is kept too.
    for key in _index_keys_after(s3, bucket, base[0] if base else None):
        for subject, indexed in read_index(s3, bucket, key).subjects.items():
            if _newer(indexed, subjects.get(subject)):
                subjects[subject] = indexed
        builds_on.append(key)
    for key, entry in recorded.items():
        indexed = IndexedSubject(entry_key=key, entry=entry)
        if _newer(indexed, subjects.get(entry.subject)):
            subjects[entry.subject] = indexed
    for subject, at in gone.items():
        if subject in subjects and subject not in {entry.subject for entry in recorded.values()}:
            subjects[subject] = subjects[subject].model_copy(
                update={"deleted_upstream_at": subjects[subject].deleted_upstream_at or at}
            )
    return CatalogueIndex(run_id=run_id, written_at=iso(written_at), builds_on=builds_on, subjects=subjects)


def _index_keys_after(s3: Any, bucket: str, key: str | None) -> list[str]:
    if key is None:
        return _keys(s3, bucket, layout.CATALOGUE_INDEX_PREFIX)
    with naming_errors("S3", resource=f"s3://{bucket}/{layout.CATALOGUE_INDEX_PREFIX}"):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=layout.CATALOGUE_INDEX_PREFIX, StartAfter=key
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
