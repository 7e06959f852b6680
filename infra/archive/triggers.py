"""Runs started by a change (context ``changeTriggers``): QuickSight's events start a run for the changed asset.

An EventBridge rule matches ``aws.quicksight`` events whose detail-type starts (in any case) with the
family of a configured type: the documented names vary ("QuickSight Dashboard Creation Successful",
"... Update Successful", "QuickSight Dashboard Published Version Updated", "QuickSight DataSet Created"),
so the rule matches the family and the function (``start_changed_run``) skips deletions. The function
starts the archive state machine with a run input for that asset (``archiver.archive.triggers``), named so
that a burst of events for one asset starts one run per window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.core.functions import SMALL, StepSpec
from infra.settings import ChangeTriggers

TRIGGER_STEP_SPECS: Mapping[str, StepSpec] = {"start_changed_run": SMALL}

# Each type's detail-type families, as the QuickSight user guide's pages spell them (case aside).
DETAIL_TYPE_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "dashboard": ("QuickSight Dashboard",),
    "analysis": ("QuickSight Analysis",),
    "dataset": ("QuickSight DataSet", "QuickSight Data Set"),
    "datasource": ("QuickSight DataSource", "QuickSight Data Source"),
    "theme": ("QuickSight Theme",),
    "folder": ("QuickSight Folder",),
}


def detail_type_prefixes(types: Iterable[str]) -> list[str]:
    """The detail-type prefixes the rule matches for ``types`` (in any case)."""
    return [family for kind in types for family in DETAIL_TYPE_FAMILIES[kind]]


def change_event_pattern(types: Iterable[str]) -> dict[str, Any]:
    """The rule's event pattern, as EventBridge reads it."""
    return {
        "source": ["aws.quicksight"],
        "detail-type": [{"prefix": {"equals-ignore-case": prefix}} for prefix in detail_type_prefixes(types)],
    }


class ChangeTriggerRule(Construct):
    """The rule on QuickSight's change events and its target, the function that starts the run."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ChangeTriggers,
        function: lambda_.Function,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        function.add_environment("STATE_MACHINE_ARN", state_machine.state_machine_arn)
        function.add_environment("CHANGE_TRIGGER_TYPES", ",".join(settings.types))
        function.add_environment("CHANGE_TRIGGER_WINDOW_MINUTES", str(settings.window_minutes))
        state_machine.grant_start_execution(function)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Starts an archive run for a QuickSight asset that was created, updated or published",
            event_pattern=events.EventPattern(
                source=["aws.quicksight"],
                detail_type=events.Match.any_of(
                    *(events.Match.prefix_equals_ignore_case(p) for p in detail_type_prefixes(settings.types))
                ),
            ),
            targets=[targets.LambdaFunction(function, retry_attempts=3)],
        )
