"""Builds the functions' dependency layer with pip on this machine, without Docker.

``pip install --require-hashes --no-deps -r functions/requirements.lock --platform manylinux2014_aarch64
--only-binary=:all:`` installs exactly the locked wheels (see infra/layer_lock.py) for the Lambda arm64
Python 3.13 runtime, whatever machine runs the synth: pip resolves nothing. Downloads are slow, so each
result is kept under ``.build/layer-<key>`` (the key hashes the lock and the pip flags) and later synths
copy it from there. The same key is the asset's hash, so CDK knows the asset without bundling first, and
the layer changes exactly when the lock does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.layer_lock import FUNCTIONS_DIR, LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, LOCK, check_lock

REPO_ROOT = FUNCTIONS_DIR.parent
CACHE_ROOT = REPO_ROOT / ".build"

# What pip installs, for Lambda's runtime (infra/layer_lock.py names it): every wheel hashed in the lock,
# none of their dependencies resolved anew (the lock lists them all).
PIP_TARGET_FLAGS: tuple[str, ...] = (
    "--require-hashes",
    "--no-deps",
    "--platform",
    LAMBDA_PLATFORM,
    "--only-binary=:all:",
    "--python-version",
    LAMBDA_PYTHON_VERSION,
    "--implementation",
    "cp",
)


def layer_key(requirements: Path = LOCK, flags: tuple[str, ...] = PIP_TARGET_FLAGS) -> str:
    """Hash of what decides the layer's contents: the lock (versions and hashes) and the target platform."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("\0".join(flags).encode())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class PipLayerBundler:
    """Installs a hashed lock into ``<output>/python`` (the layout Lambda layers expect)."""

    def __init__(
        self,
        *,
        requirements: Path = LOCK,
        cache_root: Path = CACHE_ROOT,
        flags: tuple[str, ...] = PIP_TARGET_FLAGS,
    ) -> None:
        self._requirements = requirements
        self._flags = flags
        self.cache_dir = cache_root / f"layer-{layer_key(requirements, flags)[:16]}"

    # jsii calls this with the BundlingOptions struct as a second positional argument.
    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        if not self.cache_dir.is_dir():
            self._install_into_cache()
        else:
            print(f"Dependency layer: reusing {self.cache_dir}", file=sys.stderr)
        shutil.copytree(self.cache_dir, output_dir, dirs_exist_ok=True)
        return True

    def _install_into_cache(self) -> None:
        self.cache_dir.parent.mkdir(parents=True, exist_ok=True)
        print(f"Dependency layer: pip install -r {self._requirements} (cold cache)", file=sys.stderr)
        # Install beside the cache entry, then rename: an interrupted install never looks complete.
        staging = Path(tempfile.mkdtemp(prefix=f"{self.cache_dir.name}.", dir=self.cache_dir.parent))
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the layer's files must stay world-readable
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-r",
                    str(self._requirements),
                    "--target",
                    str(staging / "python"),
                    *self._flags,
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-compile",
                ],
                check=True,
            )
            try:
                os.rename(staging, self.cache_dir)
            except OSError:
                # Another synth filled the cache first; its copy is as good as ours.
                if not self.cache_dir.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def dependency_layer_code(lock: Path = LOCK) -> lambda_.Code:
    """The layer's code asset, bundled locally; Docker is never used (the image name is a placeholder).

    A lock that is stale against requirements.in, or unhashed, fails the synth (``make lock`` fixes it)
    rather than deploy something other than what requirements.in says.
    """
    requirements = check_lock(lock.with_suffix(".in"), lock)
    bundler = PipLayerBundler(requirements=requirements)
    return lambda_.Code.from_asset(
        str(requirements.parent),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=layer_key(requirements),
        bundling=BundlingOptions(image=DockerImage.from_registry("unused"), local=bundler),
    )
