"""Contract tests of the emulator: it must answer as the real QuickSight, Q Apps and S3 do.

Clients the emulator's tests share: real boto3 clients (one attempt a call) to the test module's ``emulator``.

``emulator`` is one seeded with the exports' resources (:func:`tests.emulator.exports.seed_exports`); a test
module that needs other resources defines its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3
from botocore.client import BaseClient

from tests.emulator.exports import seed_exports
from tests.local.emulator import ServiceEmulator


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as running:
        seed_exports(running)
        yield running


@pytest.fixture
def quicksight(emulator: ServiceEmulator) -> BaseClient:
    return emulator.client("quicksight")


@pytest.fixture
def qapps(emulator: ServiceEmulator) -> BaseClient:
    return emulator.client("qapps")


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False) as pool:
        yield pool
