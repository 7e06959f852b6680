"""An opt-in CDK Pipelines deployment: every push to the branch is tested, synthesized, then deployed.

Configured by the ``archiverPipeline`` context object (absent or ``null``: no pipeline, ``cdk deploy``
deploys the ``Archiver`` stack directly)::

    "archiverPipeline": {
      "connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/0d7a...",
      "repository": "example-org/archiver",
      "branch": "main",
      "stages": [{"name": "prod", "account": "222222222222", "region": "eu-west-1"}]
    }

The pipeline lives in the connection's account and region. Its synth step runs ``make test`` (lint,
cdk-nag, cfn-lint, the whole suite) before ``make synth``, so a change that fails a test never deploys.
Each stage deploys the ``Archiver`` stack, with the ``archiver`` settings, to one account and region, in
the order listed; every stage account must be bootstrapped to trust the pipeline's account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct, Node

from infra.nag import acknowledge, acknowledge_wildcard, acknowledge_wildcard_actions
from infra.settings import ArchiverSettings, Problems, SettingsError, from_json_text
from infra.stack import DESCRIPTION, ArchiverStack

PIPELINE_CONTEXT_KEY = "archiverPipeline"
DEFAULT_BRANCH = "main"

_CONNECTION = re.compile(
    r"^arn:aws(-[a-z]+)*:(?P<service>codestar-connections|codeconnections):(?P<region>[a-z]{2}(-[a-z]+)+-\d):"
    r"(?P<account>\d{12}):connection/[0-9A-Za-z-]+$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_KEYS = {"connectionArn", "repository", "branch", "stages"}
_STAGE_KEYS = {"name", "account", "region"}


@dataclass(frozen=True)
class DeployStage:
    """One account and region the archiver is deployed to."""

    name: str
    account: str
    region: str


@dataclass(frozen=True)
class PipelineSettings:
    """Where the source comes from and where it is deployed (see the module docstring)."""

    connection_arn: str
    repository: str
    branch: str
    stages: tuple[DeployStage, ...]

    @property
    def environment(self) -> cdk.Environment:
        """The pipeline's own account and region: the connection's."""
        match = _CONNECTION.match(self.connection_arn)
        assert match is not None  # validated in from_mapping
        return cdk.Environment(account=match["account"], region=match["region"])

    @property
    def connection_service(self) -> str:
        """The connection ARN's service prefix: ``codeconnections`` (what the console creates now) or the
        older ``codestar-connections``. IAM authorises UseConnection under the same prefix."""
        match = _CONNECTION.match(self.connection_arn)
        assert match is not None  # validated in from_mapping
        return match["service"]

    @classmethod
    def from_context(cls, scope: Construct | Node) -> PipelineSettings | None:
        """The ``archiverPipeline`` context object (JSON object or JSON string), or ``None`` when absent."""
        node = scope.node if isinstance(scope, Construct) else scope
        raw = node.try_get_context(PIPELINE_CONTEXT_KEY)
        raw = from_json_text(raw, f"context '{PIPELINE_CONTEXT_KEY}' is not valid JSON")
        return None if raw is None else cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Any) -> PipelineSettings:
        if not isinstance(raw, Mapping):
            raise SettingsError(
                f"context '{PIPELINE_CONTEXT_KEY}' must be null (no pipeline) or a JSON object, "
                f"got {type(raw).__name__}"
            )
        # Every problem at once, each naming its key.
        problems = Problems()
        problems.check(lambda: _only_keys(raw, _KEYS, PIPELINE_CONTEXT_KEY))
        values: dict[str, Any] = {
            "connection_arn": problems.check(
                lambda: _matching(raw, "connectionArn", _CONNECTION, "a CodeConnections (CodeStar) connection ARN")
            ),
            "repository": problems.check(lambda: _matching(raw, "repository", _REPOSITORY, "'owner/repository'")),
            "branch": problems.check(lambda: _branch(raw)),
            "stages": problems.check(lambda: _stages(raw.get("stages"))),
        }
        problems.raise_any()
        return cls(**values)


def _branch(raw: Mapping[str, Any]) -> str:
    # The one default of the pipeline's settings: cdk.json's archiverPipeline is null until a user opts in.
    branch = raw.get("branch", DEFAULT_BRANCH)
    if not isinstance(branch, str) or not branch.strip():
        raise SettingsError(f"{_key('branch')} must be a branch name, got {branch!r}")
    return branch.strip()


def _key(path: str) -> str:
    return f"context '{PIPELINE_CONTEXT_KEY}.{path}'"


def _only_keys(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"context '{where}' has unknown keys {unknown}; the known keys are {sorted(known)}")


def _matching(raw: Mapping[str, Any], path: str, pattern: re.Pattern[str], expected: str, *, at: str = "") -> str:
    value = raw.get(path.rsplit(".", 1)[-1])
    if not isinstance(value, str) or not pattern.match(value):
        raise SettingsError(f"{_key(at + path)} must be {expected}, got {value!r}")
    return value


def _stages(raw: Any) -> tuple[DeployStage, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise SettingsError(f"{_key('stages')} must be a non-empty list of {{name, account, region}} objects")
    stages = []
    for index, stage in enumerate(raw):
        at = f"stages[{index}]."
        if not isinstance(stage, Mapping):
            raise SettingsError(f"{_key(at[:-1])} must be an object with name, account and region")
        _only_keys(stage, _STAGE_KEYS, f"{PIPELINE_CONTEXT_KEY}.{at[:-1]}")
        stages.append(
            DeployStage(
                name=_matching(stage, "name", _STAGE_NAME, "a name of letters, digits and '-'", at=at),
                account=_matching(stage, "account", _ACCOUNT, "a 12-digit AWS account id", at=at),
                region=_matching(stage, "region", _REGION, "an AWS region such as 'eu-west-1'", at=at),
            )
        )
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise SettingsError(f"{_key('stages')} names must be unique, got {names}")
    return tuple(stages)


class ArchiverStage(cdk.Stage):
    """One deployment of the archiver: the ``Archiver`` stack in the stage's account and region."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: ArchiverSettings, env: cdk.Environment):
        super().__init__(scope, construct_id, env=env)
        self.stack = ArchiverStack(self, "Archiver", settings=settings, description=DESCRIPTION)


class ArchiverPipelineStack(cdk.Stack):
    """The CDK pipeline that tests, synthesizes and deploys the archiver to each configured stage.

    Attributes
    ----------
    pipeline:
        The CDK Pipelines ``CodePipeline``.
    stages:
        The deployed stages, in order, by name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_settings: PipelineSettings,
        settings: ArchiverSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=pipeline_settings.environment, **kwargs)
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=pipelines.ShellStep(
                "TestAndSynth",
                input=pipelines.CodePipelineSource.connection(
                    pipeline_settings.repository,
                    pipeline_settings.branch,
                    connection_arn=pipeline_settings.connection_arn,
                ),
                # `make test` lints, synthesizes with cdk-nag and runs every test: a red build never deploys.
                commands=["make test", "make synth"],
                primary_output_directory="cdk.out",
            ),
            synth_code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0)
            ),
            # A customer-managed, rotated key encrypts the artifacts and the build projects (cdk-nag CB4),
            # and lets other accounts' stages read them.
            cross_account_keys=True,
            enable_key_rotation=True,
        )
        self.stages: dict[str, ArchiverStage] = {}
        for stage in pipeline_settings.stages:
            deployed = ArchiverStage(
                self,
                stage.name,
                settings=settings,
                env=cdk.Environment(account=stage.account, region=stage.region),
            )
            self.pipeline.add_stage(deployed)
            self.stages[stage.name] = deployed
        # The pipeline's internals exist only once build_pipeline() runs; build it now to acknowledge them.
        self.pipeline.build_pipeline()
        self._grant_connection_use(pipeline_settings)
        self._acknowledge_pipeline_findings({self.account, *(stage.account for stage in pipeline_settings.stages)})

    def _grant_connection_use(self, pipeline_settings: PipelineSettings) -> None:
        """Lets the source action use a ``codeconnections:`` connection, not only a ``codestar-connections:`` one.

        CDK's CodeStarConnectionsSourceAction grants ``codestar-connections:UseConnection`` whatever the ARN;
        a connection created under the newer prefix is authorised as ``codeconnections:UseConnection``.
        """
        service = pipeline_settings.connection_service
        if service == "codestar-connections":
            return
        codepipeline = self.pipeline.pipeline
        source = codepipeline.stages[0]
        for action in source.actions:
            # CodePipeline creates each action's role at <pipeline>/<stage>/<action>/CodePipelineActionRole.
            role = (
                codepipeline.node.find_child(source.stage_name)
                .node.find_child(action.action_properties.action_name)
                .node.find_child("CodePipelineActionRole")
            )
            assert isinstance(role, iam.Role), role
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=[f"{service}:UseConnection"], resources=[pipeline_settings.connection_arn])
            )

    def _acknowledge_pipeline_findings(self, accounts: set[str]) -> None:
        """CDK Pipelines' own resources and grants: generated by the library, scoped to the pipeline's things."""
        pipeline = self.pipeline
        acknowledge_wildcard_actions(
            pipeline,
            [
                "s3:GetObject*",
                "s3:GetBucket*",
                "s3:List*",
                "s3:DeleteObject*",
                "s3:Abort*",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "CDK Pipelines' read/write grants on its own artifact bucket and key (object versions, multipart uploads)",
        )
        acknowledge_wildcard(
            pipeline,
            pipeline.pipeline.artifact_bucket.arn_for_objects("*"),
            "Every build artifact of this pipeline lives in its own artifact bucket",
        )
        acknowledge(
            pipeline,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK Pipelines: cloudformation:DescribeStacks and codebuild:StartBuild/BatchGetBuilds for asset "
            "publishing, and the cross-region replication key referenced by alias, accept no narrower resource",
        )
        for account in sorted(accounts):
            acknowledge(
                pipeline,
                f"AwsSolutions-IAM5[Resource::arn:*:iam::{account}:role/*]",
                "Self-mutation and asset publishing assume the CDK bootstrap roles (cdk-*) of the deploy accounts",
            )
        acknowledge_wildcard(pipeline, self._report_groups("*"), "Asset publishing's CodeBuild reports")
        acknowledge_wildcard(pipeline, self._build_logs("*"), "Asset publishing's build logs")
        for project in (pipeline.synth_project, pipeline.self_mutation_project):
            acknowledge_wildcard(
                pipeline, self._report_groups(f"{project.project_name}-*"), "The build project's own test reports"
            )
            acknowledge_wildcard(
                pipeline, self._build_logs(f"{project.project_name}:*"), "The build project's own log streams"
            )
        acknowledge(
            pipeline,
            "AwsSolutions-S1",
            "The artifact bucket holds transient build artifacts; CloudTrail data events can record who reads them",
        )
        for support in pipeline.pipeline.cross_region_support.values():
            acknowledge_wildcard(
                pipeline,
                support.replication_bucket.arn_for_objects("*"),
                "CodePipeline replicates this pipeline's artifacts to a stage region through this bucket",
            )
            acknowledge(
                support.stack,
                "AwsSolutions-S1",
                "CodePipeline's cross-region replication bucket holds transient copies of build artifacts",
            )

    def _report_groups(self, name: str) -> str:
        return self.format_arn(service="codebuild", resource="report-group", resource_name=name)

    def _build_logs(self, name: str) -> str:
        return self.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/codebuild/{name}",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
