"""The transfer benchmark's machinery: its download host, its S3 sinks, and one tiny run of it.

No timing is asserted: the benchmark reports speed, the tests only prove that what it measures
is a real copy of the right bytes, in a process of its own, over S3's wire protocol or not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import replace

import pytest
import urllib3
from botocore.exceptions import ClientError

import tests.bench.transfer as bench
from archiver.core.settings import Settings
from tests.bench.endpoints import (
    BUCKET,
    MIB,
    DiscardingS3,
    Source,
    SourceServer,
    WireS3,
    serving,
    source_crc32,
    wire_server,
)
from tests.bench.transfer import (
    ARCHIVER,
    BASELINE,
    CANDIDATES,
    SINKS,
    UPLOAD_FILEOBJ,
    CopySpec,
    Measurement,
    copy_in_child,
    report,
    run,
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


@pytest.fixture(scope="module")
def wire() -> Iterator[WireS3]:
    with wire_server() as endpoint:
        yield WireS3(endpoint)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_every_candidate_delivers_exactly_the_downloaded_bytes_over_the_wire(
    candidate: str, server: SourceServer, wire: WireS3, small_parts: Settings
) -> None:
    # When the candidate copies a download through S3's wire protocol into the benchmark's server
    key = f"bench/{candidate}/object"
    CANDIDATES[candidate](server.url(SIZE), wire, key, small_parts)

    # Then the server holds an object of the source's size and CRC32 (every body checked on arrival)
    assert wire.received(key) == (SIZE, zlib.crc32(source_bytes(SIZE))) == (SIZE, source_crc32(SIZE))
    assert wire.received(f"{key}.missing") is None
    assert wire.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_the_wire_server_refuses_bytes_that_do_not_match_their_checksum_and_a_second_write(wire: WireS3) -> None:
    s3 = wire.client
    body = b"archived bytes"
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    with pytest.raises(ClientError, match="BadDigest"):
        s3.put_object(Bucket=BUCKET, Key="w", Body=body, ChecksumSHA256=wrong)
    with pytest.raises(ClientError, match="BadDigest"):
        s3.put_object(Bucket=BUCKET, Key="w", Body=body, ChecksumCRC32=crc32_b64(b"other bytes"))
    assert wire.received("w") is None

    s3.put_object(Bucket=BUCKET, Key="w", Body=body, ChecksumSHA256=sha256, IfNoneMatch="*")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=BUCKET, Key="w", Body=body, ChecksumSHA256=sha256, IfNoneMatch="*")


@pytest.mark.parametrize("client", ["wire", "in-process"])
def test_s3_refuses_a_full_object_crc32_that_is_not_its_parts(client: str, wire: WireS3) -> None:
    # Given a two-part upload with a full-object CRC32 checksum
    s3 = wire.client if client == "wire" else DiscardingS3().client
    first, second = b"a" * (5 * MIB), b"tail"
    upload_id = s3.create_multipart_upload(
        Bucket=BUCKET, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    parts = []
    for number, body in enumerate((first, second), start=1):
        etag = s3.upload_part(
            Bucket=BUCKET, Key="full", UploadId=upload_id, PartNumber=number, Body=body, ChecksumCRC32=crc32_b64(body)
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag, "ChecksumCRC32": crc32_b64(body)})

    def complete(checksum: str) -> None:
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="full",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumCRC32=checksum,
            ChecksumType="FULL_OBJECT",
        )

    # When it is completed with a CRC32 of other bytes, then S3 refuses it; with the right one it accepts
    with pytest.raises(ClientError, match="BadDigest"):
        complete(crc32_b64(second + first))
    complete(crc32_b64(first + second))
    if client == "wire":
        assert wire.received("full") == (len(first) + len(second), zlib.crc32(first + second))


@pytest.fixture(scope="module")
def tiny_run() -> tuple[Settings, list[Measurement]]:
    # Each copy in a fresh process, with the settings passed through its environment.
    settings = replace(transfer_settings(), part_size_bytes=5 * MIB, max_parts_in_flight=2)
    return settings, run([SIZE // MIB], repeats=1, settings=settings)


def test_one_tiny_run_measures_every_candidate_in_every_sink(tiny_run: tuple[Settings, list[Measurement]]) -> None:
    # When the benchmark runs once at a tiny size (each copy checked against the source as it goes)
    settings, measurements = tiny_run
    summary = report(measurements, settings)

    # Then every candidate has a row per sink, with a throughput, a CPU cost and a whole-process peak
    rows = {(row["sink"], row["candidate"]): row for row in summary["rows"]}
    assert set(rows) == {(sink, candidate) for sink in SINKS for candidate in CANDIDATES}
    assert all(row["MBps"] > 0 and row["cpuSecondsPerGiB"] > 0 and row["idleMiB"] > 20 for row in rows.values())
    # A copy's peak is the process's, over its idle size: about the bytes the candidate holds at once
    # (the idle process may already own some free heap the copy reuses).
    for sink in SINKS:
        assert rows[(sink, BASELINE)]["peakOverIdleMiB"] >= 0.9 * SIZE / MIB
        assert rows[(sink, ARCHIVER)]["peakOverIdleMiB"] >= 5
        # And ratios within the run, against both baselines
        assert rows[(sink, BASELINE)]["speedVsReadAll"] == 1.0
        assert rows[(sink, UPLOAD_FILEOBJ)]["speedVsUploadFileobj"] == 1.0
        assert rows[(sink, UPLOAD_FILEOBJ)]["memoryVsUploadFileobj"] == 1.0
    assert summary["settings"] == {"partSizeMiB": 5, "maxPartsInFlight": 2}
    # The bound: parts in flight, the part being read, two of the allocator's slack, reads, a constant.
    assert summary["archiverBoundMiB"] == 5 * (2 + 1 + 2) + 2 + 4
    assert set(summary["targets"]) == set(SINKS)
    assert summary["archiverWithinBound"] is True
    assert summary["copyStepMemoryMB"] == 1024


def test_the_benchmark_fails_when_the_archiver_is_over_its_bound(
    tiny_run: tuple[Settings, list[Measurement]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the tiny run's measurements and a bound no copy can meet
    _, measurements = tiny_run
    monkeypatch.setattr(bench, "run", lambda *args, **kwargs: measurements)
    monkeypatch.setattr(bench, "archiver_bound", lambda settings: 0)

    # When the benchmark's command reports them, then it exits 1, saying so
    assert bench.main(["--sizes", "12", "--repeats", "1", "--json"]) == 1
    out = capsys.readouterr().out
    assert "OVER IT" in out
    assert json.loads(out.strip().splitlines()[-1])["archiverWithinBound"] is False


def test_a_copy_that_did_not_arrive_intact_fails_the_benchmark(
    server: SourceServer, wire: WireS3, small_parts: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a source the copy's bytes will not match
    monkeypatch.setattr(bench, "source_crc32", lambda size: 0)
    spec = CopySpec(ARCHIVER, "s3-wire", server.url(SIZE), "bench/mismatch", SIZE, wire.endpoint)

    # When the copy is measured in its own process, then the check after it refuses it
    with pytest.raises(AssertionError, match="did not deliver"):
        copy_in_child(spec, small_parts, 0)
