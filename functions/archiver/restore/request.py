"""The restore's input document: validated against the published schema, then normalised.

The schema (``schema/restore-input.schema.json``) is the contract; what it cannot say (a
``from`` that names both a key and a manifest item, ``sessionId`` without scope ``SESSION``, a
drill without a drill session for Q Apps files) is checked here. Every problem is reported at
once, each naming its field. Nothing here touches AWS: whether the named objects exist and can be
restored is checked next, by ``archiver.restore.plan``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from archiver.core import layout
from archiver.core.input_problems import listed_items, part_conforms, schema_problems
from archiver.restore.models import (
    Drill,
    PlannedBundleRestore,
    PlannedFile,
    PlannedRestore,
    QAppsRestorePlan,
    QuickSightRestorePlan,
    RestoreContext,
    RestoreInput,
    RestorePlan,
)

SCHEMA_PATH = Path(__file__).parents[1] / "schema" / "restore-input.schema.json"

RESTORE, DRILL, VALIDATE = "restore", "drill", "validate"
LATEST_MANIFEST = "latest"
DEFAULT_DRILL_PREFIX = "drill-"


@cache
def restore_input_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def import_job_id(restore_id: str, index: int) -> str:
    """The QuickSight import job id of a restore's ``index``-th bundle: a retried start finds the same job."""
    return layout.job_id(restore_id, str(index))


def _conforms(value: Any, pointer: str) -> bool:
    return part_conforms(value, pointer, restore_input_validator())


def _reference_problems(reference: Any, field: str, *, kind: str) -> list[str]:
    if not _conforms(reference, "#/$defs/archived"):
        return []  # the schema has named what is wrong with it
    has_key, has_manifest, has_item = ("key" in reference, "manifest" in reference, "itemId" in reference)
    if has_key and not (has_manifest or has_item):
        if kind == "bundle" and not reference["key"].startswith("quicksight/"):
            return [f"{field}.key: expected a bundle under quicksight/, got {reference['key']!r}"]
        return []
    if has_manifest and has_item and not has_key:
        if kind == "bundle" and not reference["itemId"].startswith("bundle/"):
            return [f"{field}.itemId: expected a bundle item (bundle/<name>), got {reference['itemId']!r}"]
        return []
    return [f"{field}: expected either key, or manifest and itemId"]


def _drill_problems(document: dict[str, Any], mode: str) -> list[str]:
    drill = document.get("drill")
    if drill is not None and mode != DRILL:
        return [f"drill: only allowed when mode is {DRILL!r} (mode is {mode!r})"]
    if mode == DRILL and "qapps" in document and not (drill if isinstance(drill, dict) else {}).get("sessionId"):
        return ["drill.sessionId: required to drill Q Apps files (they are restored into this session only)"]
    if mode == DRILL:
        # A Q Apps session belongs to one app: one drill session cannot take files for several apps.
        files = [file for _, file in listed_items(document.get("qapps"), "files")]
        apps = sorted({str(f.get("appId")) for f in files if isinstance(f, dict)})
        if len(apps) > 1:
            return [
                f"drill.sessionId: a session belongs to one app, but qapps.files target {len(apps)} apps "
                f"({', '.join(map(str, apps))}): drill each app's files in a restore of their own"
            ]
    return []


def _bundle_problems(bundle: Any, field: str, mode: str) -> list[str]:
    if not isinstance(bundle, dict):
        return []
    problems = _reference_problems(bundle.get("from"), f"{field}.from", kind="bundle")
    overrides = bundle.get("overrideParameters")
    ids = overrides.get("ResourceIdOverrideConfiguration") if isinstance(overrides, dict) else None
    if mode == DRILL and isinstance(ids, dict) and "PrefixForAllResources" in ids:
        problems.append(
            f"{field}.overrideParameters.ResourceIdOverrideConfiguration.PrefixForAllResources: "
            "set by the drill (drill.resourcePrefix), not per bundle"
        )
    return problems


def _file_problems(file: Any, field: str) -> list[str]:
    if not isinstance(file, dict):
        return []
    problems = _reference_problems(file.get("from"), f"{field}.from", kind="file")
    scope = file.get("scope", "APPLICATION")
    if scope == "SESSION" and "sessionId" not in file:
        problems.append(f"{field}.sessionId: required when scope is SESSION")
    if scope == "APPLICATION" and "sessionId" in file:
        problems.append(f"{field}.sessionId: only allowed when scope is SESSION")
    if isinstance(file.get("fileName"), str) and re.search(r"[\x00-\x1f\x7f\"/\\]", file["fileName"]):
        problems.append(f"{field}.fileName: expected a plain file name (no control characters, quotes or slashes)")
    return problems


def input_problems(document: Any) -> list[str]:
    """Every way ``document`` is not a restore input, one field-naming line each."""
    return schema_problems(document, restore_input_validator()) + request_problems(document)


def request_problems(document: Any) -> list[str]:
    """What the schema cannot say (combinations of fields), checked on every part that is well-formed.

    They are checked whatever the schema found elsewhere, so one refusal names every problem.
    """
    if not isinstance(document, dict):
        return []
    mode = document.get("mode", RESTORE)
    if mode not in (RESTORE, DRILL, VALIDATE):
        return []  # which checks apply depends on the mode: the schema has named it
    problems = _drill_problems(document, mode)
    for index, bundle in listed_items(document.get("quicksight"), "bundles"):
        problems += _bundle_problems(bundle, f"quicksight.bundles[{index}]", mode)
    for index, file in listed_items(document.get("qapps"), "files"):
        problems += _file_problems(file, f"qapps.files[{index}]")
    return problems


def normalised_request(document: Any, restore: RestoreContext, *, default_account: str) -> RestorePlan:
    """The document with every default filled in and the drill applied (call once the schema has passed).

    In drill mode every bundle's resource ids get the drill prefix and every file goes to the
    drill session, so nothing restored by a drill lands on an original.
    """
    # The schema has passed, so the model reads it (their agreement is tests/unit/restore/test_models.py's).
    request = RestoreInput.model_validate(document)
    drill = None
    if request.mode == DRILL:
        given = request.drill.model_dump(exclude_unset=True) if request.drill else {}
        drill = Drill.model_validate({"resource_prefix": DEFAULT_DRILL_PREFIX, **given})
    bundles = []
    for index, bundle in enumerate(request.quicksight.bundles if request.quicksight else []):
        overrides = dict(bundle.override_parameters)
        if drill is not None:
            overrides["ResourceIdOverrideConfiguration"] = {
                **overrides.get("ResourceIdOverrideConfiguration", {}),
                "PrefixForAllResources": drill.resource_prefix,
            }
        bundles.append(
            PlannedBundleRestore(
                item_id=f"bundle/{index}",
                archived=bundle.archived,
                import_source=bundle.import_source,
                failure_action=bundle.failure_action,
                override_parameters=overrides,
                job_id=import_job_id(restore.restore_id, index),
            )
        )
    files = []
    for index, file in enumerate(request.qapps.files if request.qapps else []):
        target: dict[str, Any] = {"app_id": file.app_id, "card_id": file.card_id, "file_name": file.file_name}
        if drill is not None:
            target.update(scope="SESSION", session_id=drill.session_id)
        else:
            target["scope"] = file.scope
            if "session_id" in file.model_fields_set:
                target["session_id"] = file.session_id
        files.append(PlannedFile(item_id=f"file/{index}", archived=file.archived, **target))
    return RestorePlan(
        restore=PlannedRestore(**restore.model_dump(), mode=request.mode),
        drill=drill,
        quicksight=QuickSightRestorePlan(
            aws_account_id=(request.quicksight.aws_account_id if request.quicksight else None) or default_account,
            bundles=bundles,
        ),
        qapps=QAppsRestorePlan(instance_id=request.qapps.instance_id if request.qapps else None, files=files),
    )
