"""The catalogue: what the archiver knows of every archived thing, kept in the archive bucket.

Every archived version of each subject (a QuickSight asset, a bundle, a Q Apps session or app) is one
entry, written once; each run that changed anything ends by writing an index of every subject's latest
entry. See ``docs/archive-layout.md`` ("The catalogue"). Others read it through this package only.
"""

from archiver.catalogue.models import CatalogueEntry, CatalogueIndex, Fingerprint, IndexedSubject
from archiver.catalogue.store import (
    as_of,
    entries,
    entry_key,
    iso,
    latest_entry,
    latest_index,
    latest_index_key,
    moment_of,
    read_index,
    record,
    updated_index,
    write_index,
)
from archiver.catalogue.subjects import (
    asset_type_and_id,
    subject_of_app,
    subject_of_asset,
    subject_of_bundle,
    subject_of_session,
)

__all__ = [
    "CatalogueEntry",
    "CatalogueIndex",
    "Fingerprint",
    "IndexedSubject",
    "as_of",
    "asset_type_and_id",
    "entries",
    "entry_key",
    "iso",
    "latest_entry",
    "latest_index",
    "latest_index_key",
    "moment_of",
    "read_index",
    "record",
    "subject_of_app",
    "subject_of_asset",
    "subject_of_bundle",
    "subject_of_session",
    "updated_index",
    "write_index",
]
