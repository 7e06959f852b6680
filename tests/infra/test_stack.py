"""The stack as a whole: the state machine it runs, and the app entry point."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized, definition_text, state_machine_id


def _definition(synth: Synthesized, *, starts_at: str = "ValidateRun") -> str:
    """The state machine's ASL (the archive run's unless told) with CloudFormation tokens left as JSON text."""
    state_machine = synth.resources[state_machine_id(synth.template, starts_at=starts_at)]
    return definition_text(state_machine["Properties"]["DefinitionString"])


def test_the_state_machine_is_standard_with_full_logging_and_tracing(archiver: Synthesized) -> None:
    archiver.template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like(
                {"Level": "ALL", "IncludeExecutionData": True, "Destinations": Match.any_value()}
            ),
        },
    )


def test_a_run_times_out_after_the_configured_hours(archiver: Synthesized) -> None:
    assert '"TimeoutSeconds":43200' in _definition(archiver)


def test_the_state_machines_invoke_only_the_step_functions(archiver: Synthesized) -> None:
    definition = _definition(archiver) + _definition(archiver, starts_at="ValidateRestore")
    functions = archiver.template.find_resources("AWS::Lambda::Function")

    assert all(logical_id in definition for logical_id in functions)


def test_app_py_builds_the_stack_with_cdk_json_context(synthesized_template: dict[str, Any]) -> None:
    # Given the template app.py's build_app synthesizes without the CLI (tests/conftest.py)
    resources = synthesized_template["Resources"]

    # Then it holds the archiver, built with cdk.json's settings and feature flags
    # (the archive run's state machine and the restore's)
    assert [r["Type"] for r in resources.values()].count("AWS::StepFunctions::StateMachine") == 2
    assert not [r for r in resources.values() if "ScheduleExpression" in r.get("Properties", {})]
    # (@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy: access logs are delivered under a bucket policy)
    assert "logging.s3.amazonaws.com" in json.dumps(resources)
