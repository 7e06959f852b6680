"""The development lock: requirements.txt current against pyproject.toml, hashed; the layer's pins in step."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from infra.layer_lock import REQUIREMENTS_IN, normalise, read_pins

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_LOCK = ROOT / "requirements.txt"


def declared() -> list[Requirement]:
    """pyproject.toml's dependencies and every dependency group's requirements (includes skipped)."""
    groups = PYPROJECT["dependency-groups"].values()
    lines = PYPROJECT["project"]["dependencies"] + [item for group in groups for item in group if isinstance(item, str)]
    return [Requirement(line) for line in lines]


def test_every_declared_requirement_is_pinned_and_locked_at_its_version_with_hashes() -> None:
    # Given the lock `make setup` installs with --require-hashes
    locked = read_pins(DEV_LOCK)
    versions = {(pin.name, pin.version) for pin in locked}

    # Then every entry is pinned and hashed, and every declared requirement is locked at its own pin
    assert [pin.line for pin in locked if pin.version is None or not pin.hashes] == []
    for requirement in declared():
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"pyproject.toml: pin {requirement} with == (the lock resolves around it)"
        assert (normalise(requirement.name), specifier.version) in versions, (
            f"requirements.txt lacks {requirement.name}=={specifier.version}: run `make lock` and commit it"
        )


def test_the_lock_holds_what_setup_builds_the_project_with() -> None:
    # Given the build backend pyproject.toml names (make setup installs with --no-build-isolation)
    (backend,) = PYPROJECT["build-system"]["requires"]

    # Then the lock has it: nothing is installed unpinned
    assert normalise(backend) in {pin.name for pin in read_pins(DEV_LOCK)}


def test_the_functions_direct_dependencies_are_the_same_pins_in_both_projects() -> None:
    # Given the layer's direct dependencies and the project's
    layer = {pin.name: pin.version for pin in read_pins(REQUIREMENTS_IN)}
    project = {normalise(r.name): next(iter(r.specifier)).version for r in declared()}

    # Then the tests import what Lambda runs
    assert {name: project.get(name) for name in layer} == layer
