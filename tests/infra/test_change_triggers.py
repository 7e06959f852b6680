"""Change triggers: off by default; on, a rule on QuickSight's change events starts runs through one function."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from infra.archive.triggers import change_event_pattern
from infra.settings import ArchiverSettings, SettingsError
from tests.infra.conftest import CHANGE_TRIGGERS, Synthesized, function_id, role_statements, state_machine_id


def test_no_rule_nor_function_without_change_triggers(archiver: Synthesized) -> None:
    rules = archiver.template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": Match.any_value()}})
    assert [rule for rule in rules.values() if "aws.quicksight" in str(rule)] == []
    assert "start_changed_run" not in archiver.stack.functions.functions


def test_the_rule_matches_quicksight_change_events_by_prefix_and_targets_the_trigger_function(
    triggered: Synthesized,
) -> None:
    function = function_id(triggered.template, "start_changed_run")
    triggered.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": change_event_pattern(CHANGE_TRIGGERS["types"]),
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function, "Arn"]}})],
        },
    )
    assert change_event_pattern(["dataset"])["detail-type"] == [
        {"prefix": {"equals-ignore-case": "QuickSight DataSet"}},
        {"prefix": {"equals-ignore-case": "QuickSight Data Set"}},
    ]


def test_the_trigger_function_may_start_the_archive_state_machine_only(triggered: Synthesized) -> None:
    state_machine = state_machine_id(triggered.template)
    starts = [s for s in role_statements(triggered, "start_changed_run") if s["Action"] == "states:StartExecution"]
    assert [s["Resource"] for s in starts] == [{"Ref": state_machine}]
    triggered.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "STATE_MACHINE_ARN": {"Ref": state_machine},
                        "CHANGE_TRIGGER_TYPES": "dashboard,dataset",
                        "CHANGE_TRIGGER_WINDOW_MINUTES": "15",
                    }
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"types": ["dashboard"]}, "changeTriggers"),
        ({"types": ["topic"], "windowMinutes": 15}, "changeTriggers.types"),
        ({"types": ["dashboard"], "windowMinutes": 0}, "changeTriggers.windowMinutes"),
    ],
)
def test_a_bad_change_triggers_setting_is_named(value: object, named: str) -> None:
    with pytest.raises(SettingsError, match=f"'archiver.{named}'"):
        ArchiverSettings.from_mapping({**_defaults(), "changeTriggers": value})


def _defaults() -> dict[str, object]:
    from infra.settings import DEFAULTS

    return dict(DEFAULTS)
