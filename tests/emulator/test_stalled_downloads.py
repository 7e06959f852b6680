"""The emulator's stalled downloads: silent until the client's own timeout, released when it stops."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
import urllib3

from tests.local.emulator import ServiceEmulator

INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
SESSION = "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"
CSV = b"a,b\n" * 1000


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as running:
        running.add_session(instance_id=INSTANCE, app_id=APP, session_id=SESSION, csv=CSV)
        yield running


def link(emulator: ServiceEmulator) -> str:
    qapps = boto3.client("qapps", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    url: str = qapps.export_q_app_session_data(instanceId=INSTANCE, sessionId=SESSION)["csvFileLink"]
    return url


def test_a_download_stalled_before_answering_ends_in_the_clients_read_timeout(emulator: ServiceEmulator) -> None:
    emulator.stall_next_downloads(1, after_bytes=None)
    started = time.monotonic()

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        urllib3.request("GET", link(emulator), timeout=urllib3.Timeout(connect=1, read=0.2), retries=False)

    assert time.monotonic() - started < 2
    # And the next download is served whole
    assert urllib3.request("GET", link(emulator), retries=False).data == CSV


def test_a_download_stalled_mid_body_sends_its_first_bytes_then_nothing(emulator: ServiceEmulator) -> None:
    emulator.stall_next_downloads(1, after_bytes=100)
    response = urllib3.request(
        "GET", link(emulator), timeout=urllib3.Timeout(connect=1, read=0.2), retries=False, preload_content=False
    )

    assert response.status == 200 and response.headers["Content-Length"] == str(len(CSV))
    assert response.read(100) == CSV[:100]
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        response.read(1)
    response.release_conn()


def test_stopping_the_emulator_releases_a_stalled_download_at_once() -> None:
    emulator = ServiceEmulator().start()
    emulator.add_session(instance_id=INSTANCE, app_id=APP, session_id=SESSION, csv=CSV)
    emulator.stall_next_downloads(1, after_bytes=None)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        urllib3.request("GET", link(emulator), timeout=urllib3.Timeout(connect=1, read=0.1), retries=False)

    started = time.monotonic()
    emulator.stop()

    assert time.monotonic() - started < 2
