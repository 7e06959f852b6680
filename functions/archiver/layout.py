"""Where things live in the archive bucket.

Keys are deterministic (a retried step writes the same key) and browsable by a person:
service, then owner (account or Q Business instance), then what was archived, then when.
"""

from __future__ import annotations

QUICKSIGHT_PREFIX = "quicksight/"
QAPPS_PREFIX = "qapps/"
MANIFESTS_PREFIX = "manifests/"

_BUNDLE_EXTENSION = {"QUICKSIGHT_JSON": "qs", "CLOUDFORMATION_JSON": "json"}


def bundle_key(*, account_id: str, bundle_name: str, run_date: str, job_id: str, export_format: str) -> str:
    """``quicksight/{account}/{bundle}/{run date}/{job id}.qs`` (``.json`` for CloudFormation exports)."""
    extension = _BUNDLE_EXTENSION[export_format]
    return f"{QUICKSIGHT_PREFIX}{account_id}/{bundle_name}/{run_date}/{job_id}.{extension}"


def session_key(*, instance_id: str, app_id: str, session_id: str, run_date: str, run_id: str) -> str:
    """``qapps/{instance}/{app}/sessions/{session}/{run date}/{run id}.csv``."""
    return f"{QAPPS_PREFIX}{instance_id}/{app_id}/sessions/{session_id}/{run_date}/{run_id}.csv"


def app_definition_key(*, instance_id: str, app_id: str, app_version: int) -> str:
    """``qapps/{instance}/{app}/definition/v{version}.json``: one object per app version, kept once."""
    return f"{QAPPS_PREFIX}{instance_id}/{app_id}/definition/v{app_version}.json"


def manifest_key(run_id: str) -> str:
    """``manifests/{run id}.json``: what a run archived and what failed."""
    return f"{MANIFESTS_PREFIX}{run_id}.json"


def outcome_key(run_id: str, item_id: str) -> str:
    """``manifests/{run id}/items/{item id}.json``: one item's outcome, gathered into the manifest."""
    return f"{MANIFESTS_PREFIX}{run_id}/items/{item_id}.json"


RESTORES_PREFIX = "restores/"


def restore_report_key(restore_id: str) -> str:
    """``restores/{restore id}.json``: what a restore (or drill, or validation) did, item by item."""
    return f"{RESTORES_PREFIX}{restore_id}.json"


def restore_outcome_key(restore_id: str, item_id: str) -> str:
    """``restores/{restore id}/items/{item id}.json``: one item's outcome, gathered into the report."""
    return f"{RESTORES_PREFIX}{restore_id}/items/{item_id}.json"
