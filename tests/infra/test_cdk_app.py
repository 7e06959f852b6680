"""cdk.json's app command: `npx cdk synth|diff|deploy` works from a plain shell once `make setup` has run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.pipeline import PIPELINE_CONTEXT_KEY
from tests.infra.conftest import PIPELINE_SAMPLE

REPO_ROOT = Path(__file__).resolve().parents[2]


def plain_path() -> str:
    """A plain shell's PATH: system directories (their python, if any, lacks aws-cdk-lib) and node's, since
    jsii runs it; no virtualenv activated."""
    directories = ["/usr/local/bin", "/usr/bin", "/bin"]
    node = shutil.which("node")
    if node:
        directories.insert(0, str(Path(node).parent))
    return os.pathsep.join(directories)


def app_command() -> str:
    command: str = json.loads((REPO_ROOT / "cdk.json").read_text())["app"]
    return command


def run_app_command(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs cdk.json's app command the way the CLI does: through a shell, in the project's root."""
    return subprocess.run(
        app_command(),
        shell=True,
        cwd=root,
        env={"PATH": plain_path(), "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A project root holding cdk.json and the launcher, and no .venv: what a fresh clone has before setup."""
    shutil.copy(REPO_ROOT / "cdk.json", tmp_path / "cdk.json")
    launcher = app_command().split()[-1]
    (tmp_path / launcher).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / launcher, tmp_path / launcher)
    return tmp_path


def test_before_setup_the_app_command_says_to_run_make_setup(project_copy: Path) -> None:
    result = run_app_command(project_copy)

    assert result.returncode == 1
    assert "run 'make setup'" in result.stderr
    assert str(project_copy / ".venv") in result.stderr


def test_a_venv_that_setup_did_not_finish_counts_as_none(project_copy: Path) -> None:
    # Given a .venv whose python exists but whose requirements never finished installing
    python = project_copy / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)

    result = run_app_command(project_copy)

    assert result.returncode == 1
    assert "run 'make setup'" in result.stderr


@pytest.mark.parametrize(
    ("context", "stack"),
    [({}, "Archiver"), ({PIPELINE_CONTEXT_KEY: PIPELINE_SAMPLE}, "ArchiverPipeline")],
    ids=["stack", "pipeline"],
)
def test_after_setup_the_app_command_synthesizes_with_the_projects_venv(
    context: dict[str, object], stack: str, tmp_path: Path
) -> None:
    # The real app, from a PATH whose python (if any) lacks aws-cdk-lib: only the project's .venv can do this.
    # The CLI hands the app its output directory and its -c context through these two variables.
    outdir = tmp_path / "cdk.out"

    result = run_app_command(REPO_ROOT, CDK_OUTDIR=str(outdir), CDK_CONTEXT_JSON=json.dumps(context))

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((outdir / f"{stack}.template.json").read_text())["Resources"]
