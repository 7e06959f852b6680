"""CDK entry point: settings from context, the ArchiverStack (or the pipeline that deploys it), cdk-nag.

No AWS calls, so it synthesizes offline.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aws_cdk as cdk

from infra.layer_lock import LayerLockError
from infra.nag import add_checks, findings_of_synth
from infra.pipeline import ArchiverPipelineStack, PipelineSettings
from infra.settings import ArchiverSettings, SettingsError, load_cdk_json_context
from infra.stack import DESCRIPTION, ArchiverStack


def build_app(outdir: str | None = None, *, context: dict[str, Any] | None = None) -> cdk.App:
    """The archiver's App; ``context`` replaces top-level keys of cdk.json's (tests pass other settings)."""
    # cdk.json's context is passed explicitly so `python app.py` alone synthesizes what `cdk synth`
    # does; under the CLI, the context it passes (cdk.json, cdk.context.json, -c) takes precedence.
    app = cdk.App(context={**load_cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = ArchiverSettings.from_context(app)
    pipeline = PipelineSettings.from_context(app)
    if pipeline is None:
        ArchiverStack(app, "Archiver", settings=settings, description=DESCRIPTION)
    else:
        # The pipeline deploys the Archiver stack to each stage; `cdk deploy ArchiverPipeline` once starts it.
        ArchiverPipelineStack(
            app,
            "ArchiverPipeline",
            pipeline_settings=pipeline,
            settings=settings,
            description="Tests the archiver on every push, then deploys it to each configured account and region",
        )
    # Every synth runs cdk-nag; an unacknowledged finding fails it (see infra/nag.py).
    add_checks(app)
    return app


if __name__ == "__main__":
    try:
        # The CLI names the output directory; alone, write where `cdk synth` would.
        findings = findings_of_synth(build_app(outdir=None if "CDK_OUTDIR" in os.environ else "cdk.out"))
    except SettingsError as error:
        sys.exit(f"Invalid archiver settings: {error}")
    except LayerLockError as error:
        sys.exit(f"Dependency layer: {error}")
    if findings:
        sys.exit(
            "cdk-nag findings neither fixed nor acknowledged (see infra/nag.py for how to acknowledge one):\n  "
            + "\n  ".join(findings)
        )
