"""What the catalogue keeps: one entry per archived version of a subject, and an index per run.

A *subject* is one thing the archiver keeps versions of: a QuickSight asset
(``quicksight/{account}/{type}/{id}``), a bundle (``bundle/{name}``), a Q Apps session
(``session/{id}``) or app (``app/{id}``); ``archiver.catalogue.subjects`` makes them.
"""

from __future__ import annotations

from typing import Literal

from archiver.core.wire import WireModel

SubjectKind = Literal["asset", "bundle", "session", "app"]


class Fingerprint(WireModel):
    """What says an asset changed: its ``LastUpdatedTime`` and, where the API has one, its version number."""

    last_updated_time: str | None = None
    version: int | None = None


class CatalogueEntry(WireModel):
    """One archived version of one subject: where its bytes are and what they held.

    ``key``, ``version_id``, ``size`` and ``sha256`` are the archived object's (for an asset, the bundle
    holding it). ``archived_at`` is when that object was written (S3's ``LastModified``, UTC, to the
    second), or, for an entry that only confirms an archived copy under new fingerprints, when it was
    confirmed: the entry's key sorts by it.
    """

    subject: str
    kind: SubjectKind
    key: str
    version_id: str | None
    size: int
    sha256: str
    archived_at: str
    run_id: str
    # When the entry was made (UTC ISO, to the microsecond): orders two versions archived in the same second.
    recorded_at: str | None = None
    # An asset's own change markers; its ARN and type, as QuickSight names them.
    arn: str | None = None
    type: str | None = None
    fingerprint: Fingerprint | None = None
    # A bundle's: its assets' fingerprints when it was exported (ARN -> fingerprint), and a digest of
    # what it asked the export for (resources and options): the same request of unchanged assets is
    # an unchanged bundle.
    assets: dict[str, Fingerprint] = {}
    request: str | None = None
    # ARNs the bundle lists as needed from other bundles (an asset's: its bundle's).
    dependencies: list[str] = []
    # An asset's: the bundle that holds it.
    bundle: str | None = None


class IndexedSubject(WireModel):
    """A subject in an index: its latest entry, that entry's key, and whether QuickSight still lists it."""

    entry_key: str
    entry: CatalogueEntry
    # When a full discovery of its type first found it gone (ISO time), None while it is listed.
    deleted_upstream_at: str | None = None


class CatalogueIndex(WireModel):
    """The catalogue's whole state after a run: every subject's latest entry."""

    run_id: str
    written_at: str
    # The index this one was built from (None for the first), and any written meanwhile it merged.
    builds_on: list[str] = []
    subjects: dict[str, IndexedSubject] = {}
