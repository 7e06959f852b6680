"""The Lambda functions behind both workflows' steps, all built from one set of defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aws_cdk import Aws, Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from archiver.core import metric_names
from infra.bundling import FUNCTIONS_DIR, dependency_layer_code
from infra.nag import acknowledge

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A workflow's steps: a dataclass with a field per step.
Steps = TypeVar("Steps", bound="DataclassInstance")

REQUIREMENTS = FUNCTIONS_DIR.parent / "requirements.txt"
# Powertools publishes each release's layer ARN under this public SSM parameter, per region.
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/{version}"


def pinned_powertools_version(requirements: Path = REQUIREMENTS) -> str:
    """The Powertools release pinned in requirements.txt: the one the tests run with is the one deployed."""
    found = re.search(r"^aws-lambda-powertools(?:\[[^\]]*\])?==(\S+)", requirements.read_text(), re.MULTILINE)
    if not found:
        raise ValueError(f"{requirements} must pin aws-lambda-powertools with == (the deployed layer follows it)")
    return found.group(1)


@dataclass(frozen=True)
class StepSpec:
    """What differs between two step functions: their size. Everything else is shared."""

    memory_mb: int
    timeout: Duration


# The size of most steps: a few service calls and small S3 objects.
SMALL = StepSpec(memory_mb=256, timeout=Duration.minutes(1))
# The copy steps stream a download into a multipart upload: their memory stays about part size x (parts
# in flight + 1), at most 48 MiB over idle with the allocator's slack (make bench); the size buys Lambda's
# CPU share for TLS, SHA-256 and CRC32 over every byte.
COPY = StepSpec(memory_mb=1024, timeout=Duration.minutes(15))
# WriteManifest reads every outcome of a run (12,000 and more), 32 at a time: botocore's work on each
# request is CPU, and 1,769 MB is Lambda's one full vCPU; the time allows for the largest runs.
GATHER = StepSpec(memory_mb=1769, timeout=Duration.minutes(15))


class ArchiverFunctions(Construct):
    """One Lambda function per workflow step, sharing runtime, layers, code asset and environment.

    Each side of the house names its steps and their sizes (``infra.archive.workflow.STEP_SPECS``,
    ``infra.restore.workflow.RESTORE_STEP_SPECS``); this construct is the one place a function is defined.

    Attributes
    ----------
    functions:
        The functions by step name (``validate_run``, ...), in the order of ``specs``.
    log_groups:
        Each function's log group by step name.
    dependency_layer:
        The layer built from ``functions/requirements.lock``.
    powertools_layer:
        The pinned public Powertools for AWS Lambda (Python) layer.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Mapping[str, StepSpec],
        archive_bucket_name: str,
        download_allowlist: str,
        export_deadline: Duration,
        plans_prefix: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)

        # Resolved by CloudFormation at deploy time (no AWS call at synth), in the stack's own region.
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(
                self, POWERTOOLS_LAYER_PARAMETER.format(version=pinned_powertools_version())
            ),
        )
        self.dependency_layer = lambda_.LayerVersion(
            self,
            "DependencyLayer",
            code=dependency_layer_code(),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Locked dependencies of the archiver's functions (functions/requirements.lock)",
        )
        # One asset for all functions: the steps share the archiver package.
        code = lambda_.Code.from_asset(
            str(FUNCTIONS_DIR),
            exclude=["requirements.in", "requirements.lock", "**/__pycache__", "*.pyc", "**/*.pyc"],
        )
        environment = {
            "ARCHIVE_BUCKET": archive_bucket_name,
            "DEFAULT_AWS_ACCOUNT_ID": Aws.ACCOUNT_ID,
            "DOWNLOAD_ALLOWLIST": download_allowlist,
            "EXPORT_DEADLINE_SECONDS": str(int(export_deadline.to_seconds())),
            "PLANS_PREFIX": plans_prefix,
            "POWERTOOLS_SERVICE_NAME": metric_names.SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": metric_names.NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        self.functions: dict[str, lambda_.Function] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        for name, spec in specs.items():
            construct_name = "".join(part.title() for part in name.split("_"))
            log_group = logs.LogGroup(self, f"{construct_name}Logs", retention=log_retention)
            self.log_groups[name] = log_group
            self.functions[name] = lambda_.Function(
                self,
                construct_name,
                description=f"Archiver step: {name.replace('_', ' ')}",
                runtime=lambda_.Runtime.PYTHON_3_13,
                architecture=lambda_.Architecture.ARM_64,
                handler=f"{name}.handler.lambda_handler",
                code=code,
                layers=[self.powertools_layer, self.dependency_layer],
                memory_size=spec.memory_mb,
                timeout=spec.timeout,
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                environment=environment,
            )

        acknowledge(
            self,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "Allows only logs:CreateLogGroup, CreateLogStream and PutLogEvents, which every function needs to log",
        )
        acknowledge(
            self, "AwsSolutions-IAM5[Resource::*]", "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource"
        )
        acknowledge(
            self,
            "AwsSolutions-L1",
            "Python 3.13 on purpose: the pinned Powertools layer (python313) and the dependency layer are built for it",
        )


def steps_of(steps: type[Steps], functions: Mapping[str, lambda_.Function]) -> Steps:
    """A workflow's steps (``WorkflowSteps``, ``RestoreSteps``: a dataclass, a field per step) out of every function."""
    named: dict[str, Any] = {field.name: functions[field.name] for field in fields(steps)}
    return steps(**named)
