"""The catalogue in a bucket: versions in date order, the latest at or before a time, write-once, indexes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archiver import catalogue
from archiver.catalogue import CatalogueEntry, Fingerprint

BUCKET = "catalogue-test"
ACCOUNT = "123456789012"
ARN = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/sales"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def version(at: str, run_id: str, *, key: str | None = None, updated: str = "2026-01-01T00:00:00Z") -> CatalogueEntry:
    return CatalogueEntry(
        subject=catalogue.subject_of_asset(ACCOUNT, ARN),
        kind="asset",
        key=key or f"quicksight/{ACCOUNT}/dashboard-sales/{at[:10]}/{run_id}.qs",
        version_id=None,
        size=10,
        sha256="ab" * 32,
        archived_at=at,
        run_id=run_id,
        arn=ARN,
        type="dashboard",
        fingerprint=Fingerprint(last_updated_time=updated),
        bundle="dashboard-sales",
    )


def test_subjects_are_key_safe_and_name_what_they_are() -> None:
    assert catalogue.subject_of_asset(ACCOUNT, ARN) == f"quicksight/{ACCOUNT}/dashboard/sales"
    assert catalogue.subject_of_bundle("finance") == "bundle/finance"
    assert catalogue.subject_of_asset(ACCOUNT, f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/a b/c") == (
        f"quicksight/{ACCOUNT}/dataset/a%20b%2Fc"
    )


def test_entries_come_back_in_date_order_and_as_of_picks_the_latest_at_or_before(s3: Any) -> None:
    # Given three versions archived on three days, recorded out of order
    monday = version("2026-11-30T22:00:05Z", "nightly-3")
    tuesday = version("2026-12-01T22:00:07Z", "nightly-4")
    wednesday = version("2026-12-02T22:00:01Z", "nightly-5")
    for entry in (wednesday, monday, tuesday):
        catalogue.record(s3, BUCKET, entry)
    subject = monday.subject

    # Then every version is listed, oldest first
    assert [entry.run_id for entry in catalogue.entries(s3, BUCKET, subject)] == ["nightly-3", "nightly-4", "nightly-5"]
    # And as_of finds the one archived at or before a time, a date meaning the end of that day
    assert catalogue.as_of(s3, BUCKET, subject, "2026-12-01T22:00:06Z") == monday
    assert catalogue.as_of(s3, BUCKET, subject, "2026-12-01T22:00:07Z") == tuesday
    assert catalogue.as_of(s3, BUCKET, subject, "2026-12-01") == tuesday
    assert catalogue.as_of(s3, BUCKET, subject, datetime(2026, 12, 3, tzinfo=UTC)) == wednesday
    assert catalogue.as_of(s3, BUCKET, subject, "2026-11-29") is None
    assert catalogue.latest_entry(s3, BUCKET, subject) == (catalogue.entry_key(wednesday), wednesday)
    assert catalogue.entries(s3, BUCKET, catalogue.subject_of_bundle("never")) == []


def test_an_entry_is_written_once_a_retry_leaves_the_first(s3: Any) -> None:
    first = version("2026-12-01T22:00:07Z", "nightly-4")
    key = catalogue.record(s3, BUCKET, first)
    again = catalogue.record(s3, BUCKET, first.model_copy(update={"size": 99}))
    assert again == key
    assert catalogue.entries(s3, BUCKET, first.subject) == [first]


def test_the_latest_index_is_the_last_written_and_merges_what_overlapping_runs_recorded(s3: Any) -> None:
    assert catalogue.latest_index(s3, BUCKET) is None
    monday = version("2026-11-30T22:00:05Z", "nightly-3")
    first = catalogue.updated_index(
        s3,
        BUCKET,
        base=None,
        run_id="nightly-3",
        written_at=datetime(2026, 11, 30, 22, 5, tzinfo=UTC),
        recorded={catalogue.entry_key(monday): monday},
        gone={},
    )
    first_key = catalogue.write_index(s3, BUCKET, first)
    # Two runs read the same index; one (a change-triggered run) writes its index first
    other = CatalogueEntry(**{**version("2026-12-01T09:00:00Z", "change-1").model_dump(), "subject": "bundle/b"})
    base = (first_key, first)
    catalogue.write_index(
        s3,
        BUCKET,
        catalogue.updated_index(
            s3,
            BUCKET,
            base=base,
            run_id="change-1",
            written_at=datetime(2026, 12, 1, 9, 1, tzinfo=UTC),
            recorded={catalogue.entry_key(other): other},
            gone={},
        ),
    )
    tuesday = version("2026-12-01T22:00:07Z", "nightly-4")
    last = catalogue.updated_index(
        s3,
        BUCKET,
        base=base,
        run_id="nightly-4",
        written_at=datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC),
        recorded={catalogue.entry_key(tuesday): tuesday},
        gone={"bundle/b": "2027-01-01T00:00:01Z"},
    )
    catalogue.write_index(s3, BUCKET, last)

    # Then the latest index (next year's shard) holds both runs' entries, newest per subject
    latest = catalogue.latest_index(s3, BUCKET)
    assert latest is not None and latest.run_id == "nightly-4"
    assert latest.subjects[monday.subject].entry == tuesday
    assert latest.subjects["bundle/b"].entry == other
    assert latest.subjects["bundle/b"].deleted_upstream_at == "2027-01-01T00:00:01Z"
    assert len(latest.builds_on) == 2


def test_of_two_versions_archived_in_the_same_second_the_one_recorded_last_is_the_latest(s3: Any) -> None:
    # Given a nightly run and a change-driven run archiving one subject within one second (run ids that
    # sort the other way round)
    nightly = version("2026-12-01T22:00:07Z", "nightly-4").model_copy(
        update={"recorded_at": "2026-12-01T22:00:07.100000Z"}
    )
    change = version("2026-12-01T22:00:07Z", "change-1", key="quicksight/new.qs").model_copy(
        update={"recorded_at": "2026-12-01T22:00:07.900000Z"}
    )
    for entry in (nightly, change):
        catalogue.record(s3, BUCKET, entry)
    subject = nightly.subject
    assert catalogue.latest_entry(s3, BUCKET, subject) == (catalogue.entry_key(change), change)
    assert catalogue.as_of(s3, BUCKET, subject, "2026-12-01T22:00:07Z") == change
    assert catalogue.entries(s3, BUCKET, subject) == [nightly, change]
