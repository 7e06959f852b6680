"""Workflow tests: the synthesized state machine on moto's ASL engine, against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver.core import layout
from tests.local.emulator import ServiceEmulator, VirtualClock
from tests.local.engine import ExecutionResult, LocalStepFunctions, local_environment
from tests.local.template import LOCAL_REGION, SynthesizedWorkflow, load_workflow

BUCKET = "archive-under-test"


@pytest.fixture(scope="session")
def synthesized_workflow(synthesized_template: dict[str, Any]) -> SynthesizedWorkflow:
    return load_workflow(synthesized_template, bucket_name=BUCKET)


@dataclass
class LocalArchive:
    """A deployed-in-process archiver with its emulated services, as a test drives it."""

    engine: LocalStepFunctions
    emulator: ServiceEmulator
    s3: Any

    def run(self, document: Any, *, name: str = "run-1") -> ExecutionResult:
        return self.engine.run(document, name=name)

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))

    def artifact_keys(self) -> list[str]:
        """What the archive holds besides the runs' own records: manifests (outcomes, plans) and the catalogue."""
        return [key for key in self.keys() if not key.startswith((layout.MANIFESTS_PREFIX, layout.CATALOGUE_PREFIX))]

    def manifest(self, run_id: str = "run-1") -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads(self.read(layout.manifest_key(run_id)))
        return manifest

    def logs(self) -> str:
        return str(self.engine.log_stream.getvalue())  # type: ignore[attr-defined]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emulator(clock: VirtualClock) -> Iterator[ServiceEmulator]:
    with ServiceEmulator(clock=clock) as running:
        yield running


@pytest.fixture
def archive(
    synthesized_workflow: SynthesizedWorkflow, emulator: ServiceEmulator, clock: VirtualClock
) -> Iterator[LocalArchive]:
    environment = local_environment(
        synthesized_workflow,
        bucket=BUCKET,
        endpoint=emulator.endpoint_url,
        # Small parts, so that a few MiB exercise the multipart path.
        TRANSFER_PART_SIZE_MIB="5",
    )
    with LocalStepFunctions(synthesized_workflow, clock=clock, environment=environment) as engine:
        s3 = boto3.client("s3", region_name=LOCAL_REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield LocalArchive(engine=engine, emulator=emulator, s3=s3)


@pytest.fixture
def cdk_out(tmp_path: Path, synthesized_template: dict[str, Any]) -> Path:
    """A cloud assembly folder holding the synthesized template, as the local runner's --cdk-out expects."""
    directory = tmp_path / "cdk.out"
    directory.mkdir()
    (directory / "Archiver.template.json").write_text(json.dumps(synthesized_template))
    return directory
