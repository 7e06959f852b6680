"""The scheduled run exists only when a plan is configured, and then sends exactly that plan."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import SCHEDULED_PLAN, Synthesized, state_machine_id


def test_no_schedule_is_created_without_a_plan(archiver: Synthesized) -> None:
    scheduled_rules = archiver.template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}}
    )

    assert scheduled_rules == {}


def test_a_configured_plan_is_sent_to_the_state_machine_on_the_schedule(scheduled: Synthesized) -> None:
    state_machine = state_machine_id(scheduled.template)

    scheduled.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 day)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": state_machine},
                        "Input": Match.serialized_json(Match.object_equals(SCHEDULED_PLAN)),
                        "RoleArn": Match.any_value(),
                    }
                )
            ],
        },
    )


def test_the_schedule_may_start_this_state_machine_only(scheduled: Synthesized) -> None:
    state_machine = state_machine_id(scheduled.template)

    scheduled.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": state_machine}}
                ]
            }
        },
    )
