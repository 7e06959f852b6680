"""The dependency layer's lock: current against requirements.in, every package pinned and hashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bundling import dependency_layer_code
from infra.layer_lock import LOCK, REQUIREMENTS_IN, LayerLockError, check_lock, lock_problems, read_pins

# Entries as uv writes them: continuation lines, hashes, a comment saying which requirement pulled it in.
BOTO3 = (
    "boto3==1.44.5 \\\n"
    "    --hash=sha256:667b344e25d2bcbb7c42fcf6b92a07bb1d73ee9d6d12c3a7873ec4c490b6fb64\n"
    "    # via -r functions/requirements.in\n"
)
JMESPATH = "jmespath==1.1.0 \\\n    --hash=sha256:b4a3e9b2c1d0a1f2e3d4c5b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2\n"


def write(tmp_path: Path, requirements_in: str, lock: str) -> tuple[Path, Path]:
    (tmp_path / "requirements.in").write_text(requirements_in)
    (tmp_path / "requirements.lock").write_text(lock)
    return tmp_path / "requirements.in", tmp_path / "requirements.lock"


def test_the_committed_lock_is_current_hashed_and_resolved_for_python_3_13() -> None:
    assert lock_problems(REQUIREMENTS_IN, LOCK) == []
    locked = {pin.name for pin in read_pins(LOCK)}
    # The whole tree, not the direct dependencies alone ...
    assert {"boto3", "botocore", "s3transfer", "jsonschema", "referencing", "rpds-py"} <= locked
    # ... with markers evaluated for Lambda's 3.13: referencing needs typing-extensions below 3.13 only.
    assert "typing-extensions" not in locked


def test_a_requirement_changed_without_make_lock_is_named(tmp_path: Path) -> None:
    requirements_in, lock = write(tmp_path, "boto3==1.44.6\njmespath==1.1.0\n", BOTO3)

    problems = lock_problems(requirements_in, lock)

    assert problems == [
        "requirements.lock pins boto3==1.44.5, requirements.in asks for ==1.44.6",
        "requirements.lock lacks jmespath==1.1.0 of requirements.in",
    ]


def test_an_unhashed_or_unpinned_entry_is_named(tmp_path: Path) -> None:
    requirements_in, lock = write(tmp_path, "boto3==1.44.5\n", BOTO3 + "six==1.17.0\nurllib3>=2 --hash=sha256:00\n")

    problems = lock_problems(requirements_in, lock)

    assert problems == [
        "requirements.lock: 'urllib3>=2 --hash=sha256:00' is not pinned with ==",
        "requirements.lock: six==1.17.0 has no --hash",
    ]


def test_a_direct_requirement_must_be_pinned_exactly(tmp_path: Path) -> None:
    requirements_in, lock = write(tmp_path, "boto3>=1.34.141\n", BOTO3)

    assert lock_problems(requirements_in, lock) == [
        "requirements.in: pin 'boto3>=1.34.141' with == (the layer deploys exact versions)"
    ]


def test_names_match_whatever_their_spelling_and_comments_are_ignored(tmp_path: Path) -> None:
    requirements_in, lock = write(tmp_path, "# why\nBoto3==1.44.5  # the qapps client\n", BOTO3 + JMESPATH)

    assert check_lock(requirements_in, lock) == lock


def test_the_synth_refuses_a_stale_lock_and_says_to_run_make_lock(tmp_path: Path) -> None:
    _, lock = write(tmp_path, "boto3==1.44.6\n", BOTO3)

    with pytest.raises(LayerLockError, match=r"run `make lock`[\s\S]*boto3==1.44.5, requirements.in asks for ==1.44.6"):
        dependency_layer_code(lock)
