"""What changed since the last archived copy (``onlyChanged``), and what the catalogue records of a copy.

A bundle is unchanged when its export would ask for the same thing (resources and options, its digest
``request``), its dependencies are the same, and every asset's fingerprint (``LastUpdatedTime``, version)
is the one its last archived copy was exported with: then no export job is started. That needs every
resource fingerprinted and no ``IncludeAllDependencies`` (whose dependencies the plan does not
fingerprint); any other bundle is exported, and its bytes compared with the last copy's instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archiver import catalogue
from archiver.archive.models import HeldCopy, PlannedBundle, PlannedItem, PlannedSession, RunContext
from archiver.catalogue import CatalogueEntry, Fingerprint
from archiver.catalogue.models import SubjectKind
from archiver.catalogue.store import iso, iso_precise
from archiver.core.service_errors import naming_errors
from archiver.core.settings import Settings
from archiver.store.write_once import StoredObject, is_archived_intact


def request_digest(bundle: PlannedBundle) -> str:
    """A digest of what the bundle's export asks for: its resources (in any order) and options."""
    asked = {
        "resourceArns": sorted(bundle.resource_arns),
        "exportFormat": bundle.export_format,
        "includeAllDependencies": bundle.include_all_dependencies,
        "includePermissions": bundle.include_permissions,
        "includeTags": bundle.include_tags,
        "strictValidation": bundle.strict_validation,
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def fingerprints(bundle: PlannedBundle) -> dict[str, Fingerprint]:
    return {asset.arn: asset.fingerprint() for asset in bundle.assets}


def fingerprinted(bundle: PlannedBundle) -> bool:
    """Whether the plan tells if all the bundle holds changed: every resource fingerprinted, no dependencies added."""
    return not bundle.include_all_dependencies and set(bundle.resource_arns) <= set(fingerprints(bundle))


def holds_unchanged(entry: CatalogueEntry, bundle: PlannedBundle) -> bool:
    """Whether the copy ``entry`` records was exported from the same request, dependencies and fingerprints."""
    return (
        entry.request == request_digest(bundle)
        and sorted(entry.dependencies) == sorted(bundle.dependencies)
        and entry.assets == fingerprints(bundle)
    )


@dataclass(frozen=True)
class Subjects:
    """What one item's archived copy is a version of: the item's subject and, for a bundle, its assets'."""

    run: RunContext
    item: PlannedItem
    account_id: str | None = None

    @property
    def subject(self) -> str:
        if isinstance(self.item, PlannedBundle):
            return catalogue.subject_of_bundle(self.item.name)
        if isinstance(self.item, PlannedSession):
            return catalogue.subject_of_session(self.item.session_id)
        return catalogue.subject_of_app(self.item.app_id)

    @property
    def kind(self) -> SubjectKind:
        if isinstance(self.item, PlannedBundle):
            return "bundle"
        return "session" if isinstance(self.item, PlannedSession) else "app"

    def last_copy(self, s3: Any, settings: Settings) -> CatalogueEntry | None:
        """The item's last archived copy, if ``onlyChanged`` and its object is still there, intact."""
        if not self.run.only_changed:
            return None
        found = catalogue.latest_entry(s3, settings.archive_bucket, self.subject)
        if found is None:
            return None
        entry = found[1]
        intact = is_archived_intact(s3, settings.archive_bucket, entry.key, size=entry.size, sha256=entry.sha256)
        return entry if intact else None

    def moved_on_from(self, entry: CatalogueEntry) -> bool:
        """Whether what the plan knows of the item is not what ``entry`` recorded (a bundle's fingerprints)."""
        return isinstance(self.item, PlannedBundle) and not holds_unchanged(entry, self.item)

    def entries(self, copy: HeldCopy) -> list[CatalogueEntry]:
        """The catalogue entries of ``copy``: the item's, and for a bundle one per fingerprinted asset."""
        held = CatalogueEntry(
            subject=self.subject,
            kind=self.kind,
            key=copy.key,
            version_id=copy.version_id,
            size=copy.size,
            sha256=copy.sha256,
            archived_at=copy.archived_at,
            run_id=self.run.run_id,
            recorded_at=iso_precise(datetime.now(UTC)),
        )
        bundle = self.item if isinstance(self.item, PlannedBundle) else None
        if bundle is None:
            return [held]
        assets = [
            held.model_copy(
                update={
                    "subject": catalogue.subject_of_asset(self.account_id or "", asset.arn),
                    "kind": "asset",
                    "arn": asset.arn,
                    "type": asset.type,
                    "fingerprint": asset.fingerprint(),
                    "dependencies": bundle.dependencies,
                    "bundle": bundle.name,
                }
            )
            for asset in bundle.assets
        ]
        update = {
            "assets": fingerprints(bundle),
            "request": request_digest(bundle),
            "dependencies": bundle.dependencies,
        }
        return [held.model_copy(update=update), *assets]

    def record(self, s3: Any, settings: Settings, copy: HeldCopy) -> dict[str, CatalogueEntry]:
        """Record ``copy``'s entries (each written once); return them by key, for the run's index."""
        return {catalogue.record(s3, settings.archive_bucket, entry): entry for entry in self.entries(copy)}


def new_copy(s3: Any, stored: StoredObject, run: RunContext) -> HeldCopy:
    """The copy a step just archived (or found archived by this run), dated by S3's ``LastModified``.

    S3's date, not the step's clock: a retried step finds the same object and records the same entry key.
    """
    version = {"VersionId": stored.version_id} if stored.version_id else {}
    with naming_errors("S3", resource=f"s3://{stored.bucket}/{stored.key}"):
        modified = s3.head_object(Bucket=stored.bucket, Key=stored.key, **version)["LastModified"]
    return HeldCopy(
        key=stored.key,
        version_id=stored.version_id,
        size=stored.size,
        sha256=stored.sha256,
        archived_at=iso(modified),
        run_id=run.run_id,
    )
