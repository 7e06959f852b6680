"""The restore's first step: check the request against the archive and the targets, then plan it.

Everything that can be known before a single byte is uploaded is checked here, and every
problem is reported at once, each naming its field: the document itself, the archived objects
it names (they exist, their bytes still have the SHA-256 recorded when they were archived, a
bundle is a QuickSight bundle that opens as a zip and fits the chosen import source), and the
Q Apps targets (the app exists, the card is a file-upload card).
Validate mode ends after this step with a report; restore and drill modes carry the plan on.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from functools import cache
from typing import Any

from archiver.core.errors import InvalidRestoreInputError
from archiver.core.input_problems import schema_problems
from archiver.core.observability import logger
from archiver.core.service_errors import naming_errors
from archiver.restore.models import (
    ArchivedObject,
    ArchivedReference,
    ImportSource,
    PlannedBundleRestore,
    PlannedFile,
    PlannedRestoreItem,
    RestoreContext,
    RestoreKind,
    RestorePlan,
)
from archiver.restore.request import normalised_request, request_problems, restore_input_validator
from archiver.restore.sources import Manifests, SourceNotFound, bundle_resources, resolve, sha256_of

MB = 1_000_000
# StartAssetBundleImportJob: an inline Body up to 20 MB (botocore: 20,971,520 bytes), an S3Uri
# object up to 1 GB (QuickSight developer guide; counted in decimal units to stay inside it).
INLINE_MAX_BYTES = 20_971_520
S3_URI_MAX_BYTES = 1_000 * MB
FILE_UPLOAD_CARD = "fileUpload"
# Step Functions caps a state's input and output at 256 KiB; the plan travels whole through the
# first states, with room left for what the steps add.
MAX_PLAN_BYTES = 200_000


def _size_text(size: int) -> str:
    return f"{size:,} bytes ({size / MB:.1f} MB)"


def choose_import_source(requested: str, size: int) -> tuple[ImportSource | None, str | None]:
    """Which import source a bundle of ``size`` bytes uses, or why it cannot be imported.

    ``auto`` sends a bundle inline when it fits (QuickSight then needs no access to the
    archive), and lets QuickSight read it from the archive above that.
    """
    if requested in ("auto", "inline") and size <= INLINE_MAX_BYTES:
        return "inline", None
    if requested == "inline":
        return (
            None,
            f"more than an inline import takes ({_size_text(INLINE_MAX_BYTES)}): use importSource s3Uri or auto",
        )
    if size <= S3_URI_MAX_BYTES:
        return "s3Uri", None
    return None, f"more than an import from S3 takes ({_size_text(S3_URI_MAX_BYTES)})"


def _resolve(
    s3: Any, bucket: str, manifests: Manifests, reference: ArchivedReference, field: str, problems: list[str]
) -> ArchivedObject | None:
    if reference.model_fields_set not in ({"key"}, {"manifest", "item_id"}):
        return None  # reported already, as the request's own problem
    try:
        archived = resolve(s3, bucket, reference, manifests=manifests)
    except SourceNotFound as missing:
        problems.append(f"{field}.from.{missing}")
        return None
    # Every object is read once, whole, before anything is restored: a restore never starts
    # from bytes that are not the ones archived.
    digest = sha256_of(s3, bucket, archived).hex()
    if archived.sha256 and digest != archived.sha256:
        problems.append(
            f"{field}.from: {archived.key} does not match the SHA-256 recorded when it was archived "
            f"({archived.sha256[:16]}..., now {digest[:16]}...)"
        )
        return None
    return archived


def _plan_bundle(
    s3: Any, bucket: str, manifests: Manifests, bundle: PlannedBundleRestore, field: str, problems: list[str]
) -> PlannedBundleRestore:
    archived = _resolve(s3, bucket, manifests, bundle.archived, field, problems)
    if archived is None:
        return bundle
    if archived.export_format == "CLOUDFORMATION_JSON":
        problems.append(
            f"{field}.from: {archived.key} is a CloudFormation export: deploy it with CloudFormation, "
            "an asset bundle import takes QUICKSIGHT_JSON (.qs) bundles"
        )
        return bundle
    source, too_big = choose_import_source(bundle.import_source, archived.size)
    if too_big:
        problems.append(f"{field}.importSource: {archived.key} is {_size_text(archived.size)}, {too_big}")
    try:
        resources = bundle_resources(s3, bucket, archived)
    except zipfile.BadZipFile as error:
        problems.append(f"{field}.from: {archived.key} does not open as a QuickSight bundle (zip): {error}")
        resources = []
    # A bundle too big for its source keeps the one asked for: the refusal names it.
    chosen = {"import_source": source} if source else {}
    return bundle.model_copy(update={**chosen, "source": archived, "resources": resources})


def _card(definition: dict[str, Any], card_id: str) -> tuple[str, dict[str, Any]] | None:
    for card in definition.get("appDefinition", {}).get("cards", []):
        for kind, body in card.items():
            if isinstance(body, dict) and body.get("id") == card_id:
                return kind, body
    return None


def _app_reader(qapps: Any, instance_id: str | None) -> Callable[[str], dict[str, Any] | None]:
    """``GetQApp`` once per app however many files go to it; ``None`` for an app that does not exist."""

    @cache
    def read(app_id: str) -> dict[str, Any] | None:
        with naming_errors("Q Apps", resource=f"app {app_id} (instance {instance_id})"):
            try:
                app: dict[str, Any] = qapps.get_q_app(instanceId=instance_id, appId=app_id)
            except qapps.exceptions.ResourceNotFoundException:
                return None  # the request's problem, reported with the others
        return app

    return read


def _target_problems(
    read_app: Callable[[str], dict[str, Any] | None], instance_id: str | None, file: PlannedFile, field: str
) -> list[str]:
    app = read_app(file.app_id)
    if app is None:
        return [f"{field}.appId: no Q App {file.app_id} in instance {instance_id}"]
    found = _card(app, file.card_id)
    if found is None:
        return [f"{field}.cardId: app {file.app_id} (version {app.get('appVersion')}) has no card {file.card_id}"]
    kind, card = found
    if kind != FILE_UPLOAD_CARD:
        return [
            f"{field}.cardId: card {file.card_id} of app {file.app_id} is a {card.get('type', kind)} card, "
            "not a file-upload card: it takes no files"
        ]
    return []


def _plan_file(
    s3: Any,
    bucket: str,
    manifests: Manifests,
    read_app: Callable[[str], dict[str, Any] | None],
    instance_id: str | None,
    file: PlannedFile,
    field: str,
    problems: list[str],
) -> PlannedFile:
    problems.extend(_target_problems(read_app, instance_id, file, field))
    archived = _resolve(s3, bucket, manifests, file.archived, field, problems)
    return file if archived is None else file.model_copy(update={"source": archived})


def plan_restore(
    document: Any, restore: RestoreContext, *, s3: Any, qapps: Any, bucket: str, default_account: str
) -> dict[str, Any]:
    """Validate a restore request against the archive and its targets; return the plan.

    Raises
    ------
    InvalidRestoreInputError
        With every problem found, each naming its field and what was expected.
    """
    problems = schema_problems(document, restore_input_validator())
    if problems:
        # What the document gets wrong beyond the schema is named in the same refusal.
        raise InvalidRestoreInputError(problems + request_problems(document))
    # A sound document: every other problem, of the request, the archive or the targets, is reported at once.
    problems = request_problems(document)
    request = normalised_request(document, restore, default_account=default_account)
    if request.quicksight.bundles and not request.quicksight.aws_account_id:
        problems.append("quicksight.awsAccountId: required (no default account is configured)")
    manifests = Manifests(s3, bucket)
    bundles = [
        _plan_bundle(s3, bucket, manifests, bundle, f"quicksight.bundles[{index}]", problems)
        for index, bundle in enumerate(request.quicksight.bundles)
    ]
    instance_id = request.qapps.instance_id
    read_app = _app_reader(qapps, instance_id)
    files = [
        _plan_file(s3, bucket, manifests, read_app, instance_id, file, f"qapps.files[{index}]", problems)
        for index, file in enumerate(request.qapps.files)
    ]
    # What the state machine carries, measured as it carries it: the plan's JSON, which plan_restore returns.
    plan = request.model_copy(
        update={
            "quicksight": request.quicksight.model_copy(update={"bundles": bundles}),
            "qapps": request.qapps.model_copy(update={"files": files}),
        }
    ).wire()
    size = len(json.dumps(plan))
    if size > MAX_PLAN_BYTES:
        problems.append(
            f"(document): expected a restore one execution can carry (a plan of at most {MAX_PLAN_BYTES:,} bytes "
            f"of state), this one is {size:,} bytes: split it into several restores"
        )
    if problems:
        raise InvalidRestoreInputError(problems)
    logger.info(
        "Restore planned",
        extra={"mode": request.restore.mode, "bundles": len(bundles), "files": len(files)},
    )
    return plan


def restore_items(plan: RestorePlan) -> list[tuple[RestoreKind, PlannedRestoreItem]]:
    """Every item a restore plan puts back, each with its kind."""
    return [
        *(("bundle", bundle) for bundle in plan.quicksight.bundles),
        *(("file", file) for file in plan.qapps.files),
    ]
