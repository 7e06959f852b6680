"""Contract tests of the emulator: it must answer as the real QuickSight, Q Apps and S3 do.

Clients the emulator's tests share: real boto3 clients (one attempt a call) to the test module's ``emulator``.

Each test module defines ``emulator`` with the resources its tests need; these fixtures only connect to it.
"""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from tests.local.emulator import ServiceEmulator


@pytest.fixture
def quicksight(emulator: ServiceEmulator) -> BaseClient:
    return emulator.client("quicksight")


@pytest.fixture
def qapps(emulator: ServiceEmulator) -> BaseClient:
    return emulator.client("qapps")
