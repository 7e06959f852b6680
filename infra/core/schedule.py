"""The scheduled run: starts the state machine with a fixed plan on a cron or rate expression."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class RunSchedule(Construct):
    """An EventBridge rule that starts a run with ``plan`` as the execution's input.

    Attributes
    ----------
    rule:
        The scheduled rule.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        schedule: events.Schedule,
        plan: Mapping[str, Any],
        description: str = "Starts a scheduled archive run",
    ) -> None:
        super().__init__(scope, construct_id)

        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            schedule=schedule,
            targets=[
                targets.SfnStateMachine(
                    state_machine,
                    input=events.RuleTargetInput.from_object(dict(plan)),
                    retry_attempts=3,
                )
            ],
        )
