"""The step functions: one definition, eight functions, the same runtime, layers, code and environment."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.archive.workflow import STEP_SPECS
from infra.layer_lock import LOCK, normalise, read_pins
from infra.restore.workflow import RESTORE_STEP_SPECS
from tests.infra.conftest import Synthesized, archive_bucket_id, function_id, only_id

COPY_STEPS = {"archive_bundle", "archive_session"}
# Memory and timeout of the steps not sized like most (256 MB, a minute).
# The copy steps stream whole bundles, WriteManifest gathers every outcome, discovery pages through an estate.
SIZED_STEPS = {
    **dict.fromkeys(COPY_STEPS, (1024, 900)),
    "write_manifest": (1769, 900),
    "discover_assets": (512, 900),
}


def staged_asset(synth: Synthesized, code: dict[str, Any]) -> Path:
    """The directory a zip asset was staged to in the cloud assembly (named after its hash)."""
    object_key: str = code["S3Key"]
    return synth.outdir / f"asset.{object_key.removesuffix('.zip')}"


@pytest.mark.parametrize("step", sorted(STEP_SPECS))
def test_each_step_runs_python_313_on_arm64_with_tracing(archiver: Synthesized, step: str) -> None:
    memory, timeout = SIZED_STEPS.get(step, (256, 60))

    archiver.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": f"{step}.handler.lambda_handler",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "TracingConfig": {"Mode": "Active"},
            "MemorySize": memory,
            "Timeout": timeout,
        },
    )


@pytest.mark.parametrize("step", sorted(STEP_SPECS))
def test_each_step_gets_the_same_environment(archiver: Synthesized, step: str) -> None:
    archiver.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": f"{step}.handler.lambda_handler",
            "Environment": {
                "Variables": {
                    "ARCHIVE_BUCKET": {"Ref": archive_bucket_id(archiver.template)},
                    "DEFAULT_AWS_ACCOUNT_ID": {"Ref": "AWS::AccountId"},
                    "DOWNLOAD_ALLOWLIST": "https://*.amazonaws.com,https://*.amazonaws.com.cn",
                    "EXPORT_DEADLINE_SECONDS": "7200",
                    "PLANS_PREFIX": "plans/",
                    "POWERTOOLS_SERVICE_NAME": "archiver",
                    "POWERTOOLS_METRICS_NAMESPACE": "Archiver",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            },
        },
    )


@pytest.mark.parametrize("step", sorted(STEP_SPECS))
def test_each_step_has_the_pinned_powertools_layer_and_the_dependency_layer(archiver: Synthesized, step: str) -> None:
    dependency_layer = only_id(archiver.template, "AWS::Lambda::LayerVersion")
    layers = archiver.resources[function_id(archiver.template, step)]["Properties"]["Layers"]

    assert {"Ref": dependency_layer} in layers
    (powertools,) = [layer for layer in layers if layer != {"Ref": dependency_layer}]
    parameter = archiver.template.to_json()["Parameters"][powertools["Ref"]]
    # The deployed Powertools is the release the tests ran with, resolved from its public SSM parameter.
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == f"/aws/service/powertools/python/arm64/python3.13/{version('aws-lambda-powertools')}"
    assert len(layers) == 2


@pytest.mark.parametrize("step", sorted(STEP_SPECS))
def test_each_step_logs_to_its_own_log_group_with_retention(archiver: Synthesized, step: str) -> None:
    function = archiver.resources[function_id(archiver.template, step)]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    assert archiver.resources[log_group]["Properties"]["RetentionInDays"] == 90


def test_all_steps_share_one_code_asset(archiver: Synthesized) -> None:
    functions = archiver.template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": Match.string_like_regexp(r"\.handler\.lambda_handler$")}},
    )
    log_groups = {fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for fn in functions.values()}

    # The archive's eight steps and the restore's six.
    assert len(functions) == len(STEP_SPECS) + len(RESTORE_STEP_SPECS) == 15
    assert len({json.dumps(fn["Properties"]["Code"]) for fn in functions.values()}) == 1
    assert len(log_groups) == 15


def test_the_code_asset_holds_the_steps_but_not_requirements_or_bytecode(archiver: Synthesized) -> None:
    function = archiver.resources[function_id(archiver.template, "validate_run")]
    asset = staged_asset(archiver, function["Properties"]["Code"])

    assert (asset / "archiver" / "core" / "settings.py").is_file()
    assert {step for step in STEP_SPECS if (asset / step).is_dir()} == set(STEP_SPECS)
    assert not (asset / "requirements.in").exists() and not (asset / "requirements.lock").exists()
    assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.pyc"))


def test_the_dependency_layer_holds_exactly_the_locked_packages_for_the_lambda_platform(
    archiver: Synthesized,
) -> None:
    layer = archiver.resources[only_id(archiver.template, "AWS::Lambda::LayerVersion")]
    asset = staged_asset(archiver, layer["Properties"]["Content"])

    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # A wheel's metadata directory is named {name}-{version}.dist-info.
    installed = {
        (normalise(name), version)
        for name, _, version in (dist.stem.rpartition("-") for dist in (asset / "python").glob("*.dist-info"))
    }
    # Every locked package at its locked version and nothing else: typing-extensions, which referencing
    # needs only below Python 3.13, stays out although the build machine's Python is older.
    assert installed == {(pin.name, pin.version) for pin in read_pins(LOCK)}
    assert ("boto3", "1.44.5") in installed and ("jsonschema", "4.26.0") in installed
    # rpds-py is compiled: the wheel pip picked must be the Linux arm64 CPython 3.13 build.
    assert list((asset / "python" / "rpds").glob("*cpython-313-aarch64-linux-gnu.so"))
