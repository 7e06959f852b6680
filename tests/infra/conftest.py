"""Synthesizes the archiver once per session (jsii starts Node, so each synth costs seconds).

Apps are built with cdk.json's context, exactly as ``cdk synth`` builds them. The dependency layer is
bundled for real, from the ``.build/`` cache when it is warm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app
from infra.nag import findings_of_synth
from infra.pipeline import PIPELINE_CONTEXT_KEY
from infra.settings import CONTEXT_KEY, ArchiverSettings, load_cdk_json_context
from infra.stack import ArchiverStack

# Q Apps as the archive user, through Identity Center: what any schedule that calls Q Apps needs.
IDENTITY_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:archiver/qapps-user-AbCdEf"
IDENTITY_APPLICATION_ARN = "arn:aws:sso::123456789012:application/ssoins-1111222233334444/apl-5555666677778888"
IDENTITY_SECRET_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
IDENTITY_CENTER_CREDENTIALS: dict[str, Any] = {
    "mode": "identity-center",
    "secretArn": IDENTITY_SECRET_ARN,
    "applicationArn": IDENTITY_APPLICATION_ARN,
}

# A second deployment's settings: a plan to run on a schedule (Q Apps through Identity Center, which a
# scheduled Q Apps plan requires), a subscriber, a shorter cold-storage delay.
SCHEDULED_PLAN: dict[str, Any] = {
    "quicksight": {
        "bundles": [
            {"name": "sales", "resourceArns": ["arn:aws:quicksight:us-east-1:123456789012:dashboard/sales-overview"]}
        ]
    },
    "qapps": {"instanceId": "11111111-2222-3333-4444-555555555555", "apps": ["3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"]},
}
# Prove each night's archive restores: the sales bundle of the latest manifest, beside the original.
SCHEDULED_DRILL_PLAN: dict[str, Any] = {
    "mode": "drill",
    "quicksight": {"bundles": [{"from": {"manifest": "latest", "itemId": "bundle/sales"}}]},
}
SCHEDULED_OVERRIDES: dict[str, Any] = {
    "schedulePlan": SCHEDULED_PLAN,
    "scheduleExpression": "rate(1 day)",
    "drillPlan": SCHEDULED_DRILL_PLAN,
    "drillScheduleExpression": "cron(0 6 * * ? *)",
    "notificationEmail": "archive-operator@example.com",
    "coldStorageAfterDays": 30,
    "qappsCredentials": IDENTITY_CENTER_CREDENTIALS,
}

# A hardened deployment: Q Apps as the archive user through Identity Center, one Q Apps instance, a
# break-glass role, Object Lock.
QAPPS_INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
BREAK_GLASS_ROLE_ARN = "arn:aws:iam::123456789012:role/archive-break-glass"
HARDENED_OVERRIDES: dict[str, Any] = {
    "qappsCredentials": {
        **IDENTITY_CENTER_CREDENTIALS,
        "secretKeyArn": IDENTITY_SECRET_KEY_ARN,
        "identityCenterRegion": "eu-west-1",
    },
    "qappsInstanceIds": [QAPPS_INSTANCE],
    "breakGlassRoleArn": BREAK_GLASS_ROLE_ARN,
    "objectLock": {"mode": "COMPLIANCE", "retentionDays": 2555},
}


# The opt-in pipeline, deploying to another account and region than its own: a cross-account key and a
# cross-region replication bucket.
PIPELINE_CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0d7a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"
PIPELINE_SAMPLE: dict[str, Any] = {
    "connectionArn": PIPELINE_CONNECTION,
    "repository": "example-org/archiver",
    "branch": "release",
    "stages": [{"name": "prod", "account": "222222222222", "region": "eu-central-1"}],
}


@dataclass(frozen=True)
class Synthesized:
    stack: ArchiverStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return resources


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> Synthesized:
    context = load_cdk_json_context()
    if overrides:
        context[CONTEXT_KEY] = {**context[CONTEXT_KEY], **overrides}
    app = cdk.App(context=context, outdir=str(outdir))
    stack = ArchiverStack(app, "Archiver", settings=ArchiverSettings.from_context(app))
    return Synthesized(stack=stack, template=Template.from_stack(stack), outdir=outdir)


@pytest.fixture(scope="session")
def archiver(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack as `cdk synth` builds it from cdk.json."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with a scheduled plan, an e-mail subscriber and 30 days to cold storage."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), SCHEDULED_OVERRIDES)


CHANGE_TRIGGERS: dict[str, Any] = {"types": ["dashboard", "dataset"], "windowMinutes": 15}


@pytest.fixture(scope="session")
def triggered(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with change triggers on, for dashboards and data sets."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), {"changeTriggers": CHANGE_TRIGGERS})


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with Identity Center credentials for Q Apps, one instance, a break-glass role and Object Lock."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), HARDENED_OVERRIDES)


@pytest.fixture(scope="session")
def pipeline_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The pipeline app (`cdk synth` with archiverPipeline set), cdk-nag clean: its stack, stages, support stacks."""
    outdir = str(tmp_path_factory.mktemp("cdk.out"))
    built = app.build_app(outdir=outdir, context={PIPELINE_CONTEXT_KEY: PIPELINE_SAMPLE})
    findings = findings_of_synth(built)
    assert not findings, "\n".join(findings)
    return built


# -- helpers shared by the test modules -----------------------------------------------------------------


def only_id(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> str:
    """The logical id of the single resource matching ``props`` (found by intent, never hard-coded)."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {sorted(found)}"
    return next(iter(found))


def function_id(template: Template, step: str) -> str:
    return only_id(template, "AWS::Lambda::Function", {"Handler": f"{step}.handler.lambda_handler"})


def archive_bucket_id(template: Template) -> str:
    return only_id(template, "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synth: Synthesized, step: str) -> list[dict[str, Any]]:
    """Every statement of every inline policy attached to the step function's role."""
    function = synth.resources[function_id(synth.template, step)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for resource in synth.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def allowed(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources (as JSON text, tokens included) that ``action`` is allowed on."""
    return [
        json.dumps(resource)
        for statement in statements
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


@pytest.fixture(scope="module")
def states(synthesized_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of the archive workflow's definition, nested ones included, by name."""
    from tests.local.template import load_workflow

    found: dict[str, dict[str, Any]] = {}

    def collect(machine: dict[str, Any]) -> None:
        for name, state in machine["States"].items():
            found[name] = state
            for inner in [*state.get("Branches", []), *([state["ItemProcessor"]] if "ItemProcessor" in state else [])]:
                collect(inner)

    collect(load_workflow(synthesized_template, bucket_name="archive").definition)
    return found


def definition_text(definition: Any) -> str:
    """A state machine's ASL with CloudFormation tokens left as JSON text."""
    if isinstance(definition, str):
        return definition
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in definition["Fn::Join"][1])


def state_machine_id(template: Template, *, starts_at: str = "ValidateRun") -> str:
    """The logical id of the state machine whose first state is ``starts_at`` (the archive run's unless told)."""
    found = [
        logical_id
        for logical_id, machine in template.find_resources("AWS::StepFunctions::StateMachine").items()
        if f'"StartAt":"{starts_at}"' in definition_text(machine["Properties"]["DefinitionString"])
    ]
    assert len(found) == 1, f"expected one state machine starting at {starts_at}, found {found}"
    return found[0]
