"""The dependency layer's local bundler: pip once per lock, installing only what it hashes, then the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.bundling import PIP_TARGET_FLAGS, PipLayerBundler, layer_key


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text("boto3==1.44.5 --hash=sha256:667b344e25d2bcbb7c42fcf6b92a07bb1d73ee9d6d12c3a7873ec4c490b6fb64\n")
    return path


def fake_pip(calls: list[list[str]]) -> Any:
    """Stands in for pip: records the command and installs one file where --target points."""

    def run(command: list[str], check: bool) -> None:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "boto3").mkdir(parents=True)
        (target / "boto3" / "__init__.py").write_text("")

    return run


def test_the_key_changes_with_the_lock_and_the_platform(requirements: Path) -> None:
    before = layer_key(requirements)
    requirements.write_text(
        "boto3==1.44.5 --hash=sha256:70c3e0409794b29ec1900bcaff0695b73234a2d32ffaed35045b94caa26212a5\n"
    )

    assert layer_key(requirements) != before
    assert layer_key(requirements, ("--platform", "manylinux2014_x86_64")) != layer_key(requirements)


def test_a_cold_cache_runs_pip_for_the_lambda_platform_then_a_warm_one_does_not(
    requirements: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", fake_pip(calls))
    bundler = PipLayerBundler(requirements=requirements, cache_root=tmp_path / ".build")

    # When two assets are bundled from the same requirements
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert bundler.try_bundle(str(first), object())
    assert bundler.try_bundle(str(second), object())

    # Then pip ran once, for Lambda's platform, on the lock's hashed wheels alone, and both got the layer's tree
    assert len(calls) == 1
    assert calls[0][1:6] == ["-m", "pip", "install", "-r", str(requirements)]
    assert all(flag in calls[0] for flag in PIP_TARGET_FLAGS)
    assert {"--require-hashes", "--no-deps"} <= set(calls[0])
    assert (first / "python" / "boto3" / "__init__.py").is_file()
    assert (second / "python" / "boto3" / "__init__.py").is_file()
    assert [p.name for p in (tmp_path / ".build").iterdir()] == [bundler.cache_dir.name]


def test_a_failed_install_leaves_no_cache_entry(
    requirements: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pip(command: list[str], check: bool) -> None:
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(subprocess, "run", failing_pip)
    bundler = PipLayerBundler(requirements=requirements, cache_root=tmp_path / ".build")
    output = tmp_path / "out"
    output.mkdir()

    with pytest.raises(subprocess.CalledProcessError):
        bundler.try_bundle(str(output), object())
    assert list((tmp_path / ".build").iterdir()) == []
