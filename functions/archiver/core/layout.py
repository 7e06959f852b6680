"""Where things live in the archive bucket.

Keys are deterministic (a retried step writes the same key) and browsable by a person:
service, then owner (account or Q Business instance), then what was archived, then when.
"""

from __future__ import annotations

import hashlib
import json
import re

QUICKSIGHT_PREFIX = "quicksight/"
QAPPS_PREFIX = "qapps/"
MANIFESTS_PREFIX = "manifests/"

_BUNDLE_EXTENSION = {"QUICKSIGHT_JSON": "qs", "CLOUDFORMATION_JSON": "json"}
# QuickSight's job ids (export and import): ``[\w\-]+``, 1 to 512 characters; ``\w`` is ASCII there.
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_JOB_ID_READABLE_MAX = 400
_JOB_ID_DIGEST_CHARS = 16


def job_id(*parts: str) -> str:
    """A QuickSight job id for ``parts`` (a run id and a bundle name; a restore id and an index).

    Readable (the parts, joined by ``-`` and with what QuickSight refuses turned into ``-``) and
    distinct for distinct parts: that readable form alone is not (run ``daily`` with bundle
    ``eu-finance`` and run ``daily-eu`` with bundle ``finance``; run ``nightly.7`` and ``nightly-7``),
    so a digest of the exact parts follows it. A job id names a job for 14 days and, for a bundle,
    its key in the archive: two runs sharing one would adopt each other's job and objects.
    """
    readable = _JOB_ID_UNSAFE.sub("-", "-".join(parts)).strip("-")[:_JOB_ID_READABLE_MAX]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:_JOB_ID_DIGEST_CHARS]
    return f"{readable}-{digest}" if readable else digest


def bundle_key(*, account_id: str, bundle_name: str, run_date: str, job_id: str, export_format: str) -> str:
    """``quicksight/{account}/{bundle}/{run date}/{job id}.qs`` (``.json`` for CloudFormation exports)."""
    extension = _BUNDLE_EXTENSION[export_format]
    return f"{QUICKSIGHT_PREFIX}{account_id}/{bundle_name}/{run_date}/{job_id}.{extension}"


def session_key(*, instance_id: str, app_id: str, session_id: str, run_date: str, run_id: str) -> str:
    """``qapps/{instance}/{app}/sessions/{session}/{run date}/{run id}.csv``."""
    return f"{QAPPS_PREFIX}{instance_id}/{app_id}/sessions/{session_id}/{run_date}/{run_id}.csv"


def app_definition_prefix(*, instance_id: str, app_id: str) -> str:
    """``qapps/{instance}/{app}/definition/``: where every version of an app's definition is kept."""
    return f"{QAPPS_PREFIX}{instance_id}/{app_id}/definition/"


def app_definition_key(*, instance_id: str, app_id: str, app_version: int) -> str:
    """``qapps/{instance}/{app}/definition/v{version}.json``: one object per app version, kept once."""
    return f"{app_definition_prefix(instance_id=instance_id, app_id=app_id)}v{app_version}.json"


def manifest_key(run_id: str) -> str:
    """``manifests/{run id}.json``: what a run archived and what failed."""
    return f"{MANIFESTS_PREFIX}{run_id}.json"


def outcome_key(run_id: str, item_id: str) -> str:
    """``manifests/{run id}/items/{item id}.json``: one item's outcome, gathered into the manifest."""
    return f"{MANIFESTS_PREFIX}{run_id}/items/{item_id}.json"


def plan_items_key(run_id: str, kind: str) -> str:
    """``manifests/{run id}/plan/{kind}s.json``: the run's planned items of one kind, a JSON array.

    ValidateRun writes them; the run's Distributed Map of that kind reads them (``ItemReader``), and
    WriteManifest reads them back to account for every planned item.
    """
    return f"{MANIFESTS_PREFIX}{run_id}/plan/{kind}s.json"


def discovery_key(run_id: str) -> str:
    """``manifests/{run id}/discovery.json``: what DiscoverAssets found, left out (unsupported) or could not list."""
    return f"{MANIFESTS_PREFIX}{run_id}/discovery.json"


# Where the Distributed Maps' ResultWriter puts each Map Run's results ({prefix}{map run id}/...).
MAP_RESULTS_PREFIX = f"{MANIFESTS_PREFIX}map-results/"


RESTORES_PREFIX = "restores/"


def restore_report_key(restore_id: str) -> str:
    """``restores/{restore id}.json``: what a restore (or drill, or validation) did, item by item."""
    return f"{RESTORES_PREFIX}{restore_id}.json"


def restore_outcome_key(restore_id: str, item_id: str) -> str:
    """``restores/{restore id}/items/{item id}.json``: one item's outcome, gathered into the report."""
    return f"{RESTORES_PREFIX}{restore_id}/items/{item_id}.json"


CATALOGUE_PREFIX = "catalogue/"
CATALOGUE_ENTRIES_PREFIX = f"{CATALOGUE_PREFIX}entries/"
CATALOGUE_INDEX_PREFIX = f"{CATALOGUE_PREFIX}index/"
# Key-safe subject ids: what S3 keys and a person's shell both take as they are; anything else is %XX.
_SUBJECT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
CATALOGUE_STAMP = "%Y%m%dT%H%M%SZ"


def subject_part(text: str) -> str:
    """One part of a catalogue subject, key-safe (``%XX`` for each unsafe byte), never empty."""
    safe = _SUBJECT_UNSAFE.sub(lambda match: "".join(f"%{byte:02X}" for byte in match[0].encode()), text)
    return safe or "%00"


def catalogue_entries_prefix(subject: str) -> str:
    """``catalogue/entries/{subject}/``: every archived version of one subject, in date order."""
    return f"{CATALOGUE_ENTRIES_PREFIX}{subject}/"


def catalogue_entry_key(subject: str, *, stamp: str, run_id: str) -> str:
    """``catalogue/entries/{subject}/{archivedAt:%Y%m%dT%H%M%SZ}-{run id}.json``: one archived version."""
    return f"{catalogue_entries_prefix(subject)}{stamp}-{subject_part(run_id)}.json"


def catalogue_index_key(*, stamp: str, run_id: str) -> str:
    """``catalogue/index/{YYYY}/{writtenAt:%Y%m%dT%H%M%SZ}-{run id}.json.gz``: the catalogue after a run.

    Sharded by year so that the latest index is found by listing one year's keys, not every run's.
    """
    return f"{CATALOGUE_INDEX_PREFIX}{stamp[:4]}/{stamp}-{subject_part(run_id)}.json.gz"
