"""cdk-nag's AwsSolutions checks on every synth, and the one way a finding is acknowledged.

cdk-nag 3 is a CDK policy-validation plugin: ``app.synth()`` raises ``Validation failed`` (and ``cdk synth``
exits non-zero) while any finding is neither fixed nor acknowledged. Acknowledge a finding next to the
construct that causes it, with the reason it is acceptable there::

    acknowledge(self.role, "AwsSolutions-IAM4", "why this managed policy is the right one here")
    acknowledge_wildcard(self, bucket.arn_for_objects("exports/*"), "why this prefix and not one key")

An acknowledgement covers the construct and everything under it, and matches one finding id exactly
(cdk-nag 3 has no prefix matching): a new wildcard elsewhere still fails the build.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Stack, Stage, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# Written by the CDK into the cloud assembly when a validation plugin reports a violation.
REPORT_FILE = "validation-report.json"


def add_checks(scope: Stage) -> None:
    """Run the AwsSolutions pack over every stack of ``scope`` (an App or a Stage) when it synthesizes."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept ``finding`` (a cdk-nag id, e.g. ``AwsSolutions-L1``) on ``scope`` and all its children."""
    if not reason.strip():
        raise ValueError(f"acknowledging {finding} needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcard(scope: IConstruct, resource: str, reason: str) -> None:
    """Accept the IAM5 finding for one wildcard ``resource`` (an ARN, tokens allowed) granted under ``scope``."""
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{nag_notation(scope, resource)}]", reason)


def acknowledge_wildcard_actions(scope: IConstruct, actions: Iterable[str], reason: str) -> None:
    """Accept the IAM5 findings for wildcard ``actions`` (e.g. ``kms:GenerateDataKey*``) under ``scope``."""
    for action in actions:
        acknowledge(scope, f"AwsSolutions-IAM5[Action::{action}]", reason)


def nag_notation(scope: IConstruct, value: str) -> str:
    """``value`` as cdk-nag spells it in a finding id: ``<LogicalId.Arn>``, ``<AWS::Region>``, literal text.

    The finding id names the deployed template, not the Python expression, so the value is resolved in
    ``scope``'s stack; that keeps hashed logical ids out of the acknowledgements.
    """
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            return f"<{argument}>"
        if name == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if name == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
        if name in ("Fn::Select", "Fn::Split"):
            # cdk-nag writes these as compact JSON, inner Refs included (an ARN CDK derives from another).
            return json.dumps(value, separators=(",", ":"))
    raise ValueError(f"cannot spell {json.dumps(value)} as cdk-nag does; acknowledge its finding id directly")


def findings_of_synth(app: Stage) -> list[str]:
    """Synthesize ``app``; return its unacknowledged findings (none when the synth passes the checks)."""
    try:
        app.synth()
    except RuntimeError:
        findings = unacknowledged_findings(app.outdir)
        if not findings:
            raise  # failed for another reason
        return findings
    return []


def unacknowledged_findings(outdir: str | Path) -> list[str]:
    """Each finding of a failed synth's validation report, one line per construct: ``rule at path``."""
    report = Path(outdir) / REPORT_FILE
    if not report.exists():
        return []
    findings = []
    for plugin in json.loads(report.read_text(encoding="utf-8"))["pluginReports"]:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                findings.append(f"{violation['ruleName']} at {construct['constructPath']}: {violation['description']}")
    return sorted(findings)
