"""The dependency layer's lock: ``functions/requirements.in`` resolved for Lambda, every package hashed.

``requirements.in`` names the functions' direct dependencies, each pinned with ``==``; ``requirements.lock``
pins the whole tree with ``--hash``, resolved for Lambda's Python 3.13 on arm64 (environment markers are
evaluated for that Python, not the build machine's). The layer installs the lock alone, with
``--require-hashes --no-deps``, so what deploys is the lock and nothing pip resolves on the day.

``make lock`` (``python -m infra.layer_lock``) regenerates it with uv, keeping existing pins where they still
satisfy ``requirements.in``. No CDK import here: locking needs neither jsii nor Node.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
REQUIREMENTS_IN = FUNCTIONS_DIR / "requirements.in"
LOCK = FUNCTIONS_DIR / "requirements.lock"

# Lambda's arm64 Python 3.13 runtime; change together with the functions' runtime and architecture.
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_PLATFORM = "manylinux2014_aarch64"

_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;]+)")


class LayerLockError(Exception):
    """The lock does not match requirements.in, or pins something without a hash: run ``make lock``."""


@dataclass(frozen=True)
class Pin:
    """One requirement line: a name (PEP 503 normalised), its ``==`` version, and its hashes (lock only)."""

    name: str
    version: str | None
    line: str
    hashes: tuple[str, ...] = field(default=())


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> list[Pin]:
    """Every requirement of a requirements file, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split(" --")
        pinned = _PINNED.match(requirement.strip())
        name = pinned["name"] if pinned else re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]
        hashes = tuple(option.split("=", 1)[1] for option in options if option.startswith("hash="))
        pins.append(Pin(normalise(name), pinned["version"] if pinned else None, line, hashes))
    return pins


def lock_problems(requirements_in: Path = REQUIREMENTS_IN, lock: Path = LOCK) -> list[str]:
    """What makes the lock unfit to build the layer from, one line each; empty when it is current."""
    if not lock.is_file():
        return [f"{lock.name} is missing"]
    locked = {pin.name: pin for pin in read_pins(lock)}
    problems = [f"{lock.name}: {pin.line!r} is not pinned with ==" for pin in locked.values() if pin.version is None]
    problems += [f"{lock.name}: {pin.name}=={pin.version} has no --hash" for pin in locked.values() if not pin.hashes]
    for direct in read_pins(requirements_in):
        if direct.version is None:
            problems.append(f"{requirements_in.name}: pin {direct.line!r} with == (the layer deploys exact versions)")
        elif direct.name not in locked:
            problems.append(f"{lock.name} lacks {direct.name}=={direct.version} of {requirements_in.name}")
        elif locked[direct.name].version != direct.version:
            problems.append(
                f"{lock.name} pins {direct.name}=={locked[direct.name].version}, "
                f"{requirements_in.name} asks for =={direct.version}"
            )
    return problems


def check_lock(requirements_in: Path = REQUIREMENTS_IN, lock: Path = LOCK) -> Path:
    """The lock, once it is known current and fully hashed; else :class:`LayerLockError` saying what to do."""
    problems = lock_problems(requirements_in, lock)
    if problems:
        raise LayerLockError(
            f"{lock} is stale or incomplete; run `make lock` and commit it:\n  " + "\n  ".join(problems)
        )
    return lock


def compile_command(requirements_in: Path = REQUIREMENTS_IN, lock: Path = LOCK) -> list[str]:
    """uv's resolver, for Lambda's interpreter and platform, hashing every distribution of each pin; run it in
    the project's root."""
    uv = Path(sys.executable).with_name("uv")
    platform_tag, _, machine = LAMBDA_PLATFORM.partition("_")
    # Relative paths: uv writes them into the lock's comments, which must not name this machine's checkout.
    root = FUNCTIONS_DIR.parent
    return [
        str(uv),
        "pip",
        "compile",
        os.path.relpath(requirements_in, root),
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--python-platform",
        f"{machine}-{platform_tag}",
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        "--output-file",
        os.path.relpath(lock, root),
        "--quiet",
    ]


if __name__ == "__main__":
    subprocess.run(compile_command(), check=True, cwd=FUNCTIONS_DIR.parent)
    check_lock()
    print(f"Locked {REQUIREMENTS_IN.name} into {LOCK.relative_to(FUNCTIONS_DIR.parent)}", file=sys.stderr)
