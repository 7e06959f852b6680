"""The transfer benchmark's machinery: its download host, its S3 sink, and one tiny run of it.

No timing is asserted: the benchmark reports speed, the tests only prove that what it measures
is a real copy of the right bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import replace

import pytest
import urllib3
from botocore.exceptions import ClientError

from archiver.core.settings import Settings
from tests.bench.transfer import (
    BASELINE,
    BUCKET,
    CANDIDATES,
    MIB,
    DiscardingS3,
    Source,
    SourceServer,
    report,
    run,
    serving,
    transfer_settings,
)

# Above one 5 MiB part and above upload_fileobj's 8 MiB threshold: every multipart path runs.
SIZE = 12 * MIB + 17


@pytest.fixture(scope="module")
def server() -> Iterator[SourceServer]:
    with serving() as server:
        yield server


@pytest.fixture
def small_parts() -> Settings:
    return replace(transfer_settings(), part_size_bytes=5 * MIB, max_parts_in_flight=2)


def source_bytes(size: int) -> bytes:
    return b"".join(Source(size).chunks())


def test_the_download_host_serves_the_source_with_its_length(server: SourceServer) -> None:
    # Given a size that is not a whole number of the repeated block
    size = 3_000_017

    # When it is downloaded
    response = urllib3.PoolManager().request("GET", server.url(size, query="X-Amz-Signature=x"))

    # Then it is the source's bytes, announced with their length, and the source's digest is theirs
    assert response.headers["Content-Length"] == str(size)
    assert response.data == source_bytes(size)
    assert Source(size).sha256() == hashlib.sha256(response.data).digest()


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_every_candidate_delivers_exactly_the_downloaded_bytes(
    candidate: str, server: SourceServer, small_parts: Settings
) -> None:
    # Given the benchmark's sink
    sink = DiscardingS3()

    # When the candidate copies a download into it
    CANDIDATES[candidate](server.url(SIZE), sink, "bench/object", small_parts)

    # Then the sink received the source's bytes, part after part, and no upload is left open
    received = sink.objects["bench/object"]
    expected = source_bytes(SIZE)
    offset = 0
    for size, digest in received.parts:
        assert hashlib.sha256(expected[offset : offset + size]).digest() == digest
        offset += size
    assert offset == SIZE == received.size
    assert received.holds(Source(SIZE))
    assert not received.holds(Source(SIZE - 1))
    assert sink.uploads_in_progress == 0
    if candidate == "archiver":
        assert [size for size, _ in received.parts] == [5 * MIB, 5 * MIB, 2 * MIB + 17]
        assert received.tags == [{"Key": "sha256", "Value": hashlib.sha256(expected).hexdigest()}]


def test_the_sink_refuses_a_body_that_does_not_match_its_sha256_and_a_second_write() -> None:
    sink = DiscardingS3()
    body = b"archived bytes"
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    with pytest.raises(ClientError, match="BadDigest"):
        sink.client.put_object(Bucket=BUCKET, Key="k", Body=body, ChecksumSHA256=wrong)
    assert "k" not in sink.objects

    sink.client.put_object(Bucket=BUCKET, Key="k", Body=body, ChecksumSHA256=checksum, IfNoneMatch="*")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        sink.client.put_object(Bucket=BUCKET, Key="k", Body=body, ChecksumSHA256=checksum, IfNoneMatch="*")


def test_one_tiny_run_reports_every_candidate_against_the_baseline(small_parts: Settings) -> None:
    # When the benchmark runs once at a tiny size (each copy checked against the source as it goes)
    summary = report(run([SIZE // MIB], repeats=1, settings=small_parts), small_parts)

    # Then every candidate has a row with a peak and a throughput, and ratios against the baseline
    rows = {row["candidate"]: row for row in summary["rows"]}
    assert set(rows) == set(CANDIDATES)
    assert all(row["peakMiB"] > 0 and row["MBps"] > 0 for row in rows.values())
    assert rows[BASELINE]["memoryRatio"] == rows[BASELINE]["speedRatio"] == 1.0
    assert summary["settings"] == {"partSizeMiB": 5, "maxPartsInFlight": 2}
    # The bound: parts in flight, the part being read and its joined copy, reads, a constant.
    assert summary["archiverBoundMiB"] == 5 * (2 + 2) + 2 + 4
    assert summary["copyStepMemoryMB"] == 1024
