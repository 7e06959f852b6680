"""Settings every test shares: no real AWS, and a clean function configuration per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Never let a test reach a real account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "archiver",
        "POWERTOOLS_METRICS_NAMESPACE": "Archiver",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    from archiver.core import clients
    from archiver.core.settings import get_settings

    get_settings.cache_clear()
    clients.reset()
    yield
    get_settings.cache_clear()
    clients.reset()


@pytest.fixture(scope="session")
def synthesized_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The archiver stack's CloudFormation template, synthesized once per test session.

    Built by app.py's own ``build_app``, with cdk.json's context, so tests see what deploys.
    """
    import app

    assembly = app.build_app(outdir=str(tmp_path_factory.mktemp("cdk.out"))).synth()
    stack = next(s for s in assembly.stacks if s.stack_name == "Archiver")
    template: dict[str, Any] = stack.template
    return template
