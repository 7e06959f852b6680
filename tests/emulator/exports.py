"""What the emulator's archive-side contract tests share: the seeded resources, and how they start and fetch exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import urllib3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.local.emulator import ServiceEmulator

ACCOUNT = "123456789012"
DASHBOARD = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/sales"
DATASET = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/orders"
BROKEN_DASHBOARD = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/broken"
INSTANCE = "a1b2c3d4-instance"
APP_ID = "0f5e7a52-3c1d-4b6e-9a8f-2d4c6e8a0b1c"
SESSION_ID = "7d3f2a10-5b6c-4e8d-9f01-23456789abcd"
CSV = b"name,answer\nada,42\ngrace,43\n"


def seed_exports(emulator: ServiceEmulator) -> None:
    """A dashboard with its data set, and a dashboard that fails strict validation."""
    emulator.add_quicksight_resource(DASHBOARD, dependencies=[DATASET])
    emulator.add_quicksight_resource(DATASET)
    emulator.add_quicksight_resource(BROKEN_DASHBOARD, fails_strict_validation=True)


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(http: urllib3.PoolManager, url: str, **headers: str) -> Fetched:
    response = http.request("GET", url, headers=headers)
    return Fetched(response.status, dict(response.headers), response.data)


def start_job(quicksight: BaseClient, job_id: str = "job-1", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AwsAccountId": ACCOUNT,
        "AssetBundleExportJobId": job_id,
        "ResourceArns": [DASHBOARD],
        "ExportFormat": "QUICKSIGHT_JSON",
        "IncludeAllDependencies": True,
    }
    return quicksight.start_asset_bundle_export_job(**(params | overrides))


def describe(quicksight: BaseClient, job_id: str = "job-1") -> dict[str, Any]:
    return quicksight.describe_asset_bundle_export_job(AwsAccountId=ACCOUNT, AssetBundleExportJobId=job_id)


def finished_link(emulator: ServiceEmulator, quicksight: BaseClient, job_id: str = "job-1") -> str:
    start_job(quicksight, job_id)
    emulator.clock.advance(emulator.export_duration_seconds)
    described = describe(quicksight, job_id)
    assert described["JobStatus"] == "SUCCESSFUL"
    return str(described["DownloadUrl"])


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return dict(excinfo.value.response)
