"""An unsuccessful run, a step error or runs that stop succeeding reach the operator; a dashboard shows the runs,
restores and drills."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from archiver import metric_names
from tests.infra.conftest import Synthesized, function_id, only_id, state_machine_id, synthesize


def test_the_topic_is_encrypted_and_refuses_requests_without_tls(archiver: Synthesized) -> None:
    topic = only_id(archiver.template, "AWS::SNS::Topic")
    key = archiver.resources[topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]

    assert archiver.resources[key]["Type"] == "AWS::KMS::Key"
    archiver.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_cloudwatch_and_eventbridge_may_use_the_topic_key(archiver: Synthesized) -> None:
    topic = only_id(archiver.template, "AWS::SNS::Topic")
    key = archiver.resources[topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = archiver.resources[key]["Properties"]["KeyPolicy"]["Statement"]
    publishers = [s for s in statements if s.get("Sid") == "AllowNotificationPublishers"]

    assert publishers
    assert set(publishers[0]["Principal"]["Service"]) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_any_unsuccessful_run_restore_or_drill_in_five_minutes_raises_the_alarm(archiver: Synthesized) -> None:
    archive_run = state_machine_id(archiver.template)
    restore = state_machine_id(archiver.template, starts_at="ValidateRestore")
    topic = only_id(archiver.template, "AWS::SNS::Topic")

    def execution_metric(name: str, state_machine: str) -> object:
        return Match.object_like(
            {
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/States",
                        "MetricName": name,
                        "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": state_machine}}],
                    },
                    "Period": 300,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            }
        )

    archiver.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1,
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": topic}],
            "Metrics": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Expression": "failed0 + timedOut0 + aborted0 + failed1 + timedOut1 + aborted1",
                            "ReturnData": True,
                        }
                    ),
                    *[
                        execution_metric(name, state_machine)
                        for state_machine in (archive_run, restore)
                        for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
                    ],
                ]
            ),
        },
    )


def test_each_unsuccessful_execution_is_sent_to_the_topic_with_its_arn(archiver: Synthesized) -> None:
    archive_run = state_machine_id(archiver.template)
    restore = state_machine_id(archiver.template, starts_at="ValidateRestore")
    topic = only_id(archiver.template, "AWS::SNS::Topic")

    archiver.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {
                    "stateMachineArn": [{"Ref": archive_run}, {"Ref": restore}],
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": topic},
                        "InputTransformer": Match.object_like(
                            {"InputPathsMap": Match.object_like({"detail-executionArn": "$.detail.executionArn"})}
                        ),
                    }
                )
            ],
        },
    )


def test_an_email_subscriber_is_added_only_when_configured(archiver: Synthesized, scheduled: Synthesized) -> None:
    archiver.template.resource_count_is("AWS::SNS::Subscription", 0)
    scheduled.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "email",
            "Endpoint": "archive-operator@example.com",
            "TopicArn": {"Ref": only_id(scheduled.template, "AWS::SNS::Topic")},
        },
    )


# -- operations: step errors, runs that stop succeeding, the dashboard --------------------------------------


def test_each_step_function_error_reaches_the_topic(archiver: Synthesized) -> None:
    topic = only_id(archiver.template, "AWS::SNS::Topic")
    functions = archiver.template.find_resources("AWS::Lambda::Function")
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in archiver.template.find_resources(
            "AWS::CloudWatch::Alarm",
            {
                "Properties": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Statistic": "Sum",
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "AlarmActions": [{"Ref": topic}],
                }
            },
        ).values()
    }

    assert alarmed == set(functions)


def test_without_a_schedule_or_setting_nobody_expects_runs_so_no_quiet_alarm(archiver: Synthesized) -> None:
    assert not archiver.template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "ExecutionsSucceeded"}}
    )


def _quiet_alarm(synth: Synthesized) -> dict[str, Any]:
    state_machine = state_machine_id(synth.template)
    found = synth.template.find_resources(
        "AWS::CloudWatch::Alarm",
        {
            "Properties": {
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsSucceeded",
                "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": state_machine}}],
                "Statistic": "Sum",
                "Period": 3600,
                "ComparisonOperator": "LessThanThreshold",
                "Threshold": 1,
                # No run at all publishes no datapoint: silence is the failure this alarm exists for.
                "TreatMissingData": "breaching",
                "AlarmActions": [{"Ref": only_id(synth.template, "AWS::SNS::Topic")}],
            }
        },
    )
    assert len(found) == 1, found
    properties: dict[str, Any] = next(iter(found.values()))["Properties"]
    return properties


def test_a_daily_schedule_alarms_after_a_day_and_a_run_timeout_without_success(scheduled: Synthesized) -> None:
    # Given rate(1 day) and runs that may take 12 hours
    alarm = _quiet_alarm(scheduled)

    assert alarm["EvaluationPeriods"] == 24 + 12
    assert alarm["DatapointsToAlarm"] == 24 + 12


def test_the_quiet_period_can_be_set_without_a_schedule(tmp_path: Path) -> None:
    # Given runs started by someone else, expected at least every 30 hours
    synth = synthesize(tmp_path, {"maxHoursWithoutSuccessfulRun": 30})

    assert _quiet_alarm(synth)["EvaluationPeriods"] == 30


def test_the_dashboard_shows_runs_archive_metrics_failures_and_step_errors(archiver: Synthesized) -> None:
    dashboard = archiver.resources[only_id(archiver.template, "AWS::CloudWatch::Dashboard")]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for execution_metric in (
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionTime",
    ):
        assert execution_metric in body
    for archiver_metric in (
        metric_names.ARTIFACTS_ARCHIVED,
        metric_names.BYTES_ARCHIVED,
        metric_names.LINK_REFRESHES,
        metric_names.EXPORT_READY_TO_ARCHIVED,
        metric_names.ITEMS_FAILED,
    ):
        assert f'\\"{archiver_metric}\\"' in body or archiver_metric in body
    assert "AWS/Lambda" in body and "Errors" in body
    # The functions publish where the dashboard looks
    function = archiver.resources[function_id(archiver.template, "archive_bundle")]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == metric_names.NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == metric_names.SERVICE


def _dashboard_widgets(synth: Synthesized) -> list[dict[str, Any]]:
    """The dashboard's widgets, a reference to a resource read as its logical id (an attribute: id.attribute)."""
    body = synth.resources[only_id(synth.template, "AWS::CloudWatch::Dashboard")]["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(part if isinstance(part, str) else part.get("Ref") or ".".join(part["Fn::GetAtt"]) for part in parts)
    widgets: list[dict[str, Any]] = json.loads(text)["widgets"]
    return widgets


def _executions_graphed(widget: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(state machine, metric name, statistic) of each Step Functions execution metric the widget plots."""
    graphed = set()
    for metric in widget.get("properties", {}).get("metrics", []):
        if metric[:1] == ["AWS/States"]:
            dimensions = dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True))
            # A graph's default statistic, Average, is left out of the body.
            graphed.add((dimensions["StateMachineArn"], metric[1], metric[-1].get("stat", "Average")))
    return graphed


def test_the_dashboard_shows_how_restores_and_drills_end_and_how_long_they_take(archiver: Synthesized) -> None:
    archive_run = state_machine_id(archiver.template)
    restore = state_machine_id(archiver.template, starts_at="ValidateRestore")

    graphs = {
        widget["properties"].get("title", ""): _executions_graphed(widget) for widget in _dashboard_widgets(archiver)
    }

    # Both the archive runs and the restore state machine (restores and drills) have their executions
    # counted, per hour, by how they ended, and their duration graphed
    for machine in (archive_run, restore):
        counted = {
            (name, stat)
            for graphed in graphs.values()
            for graphed_machine, name, stat in graphed
            if graphed_machine == machine
        }
        assert {
            ("ExecutionsStarted", "Sum"),
            ("ExecutionsSucceeded", "Sum"),
            ("ExecutionsFailed", "Sum"),
            ("ExecutionsTimedOut", "Sum"),
            ("ExecutionsAborted", "Sum"),
            ("ExecutionTime", "Average"),
            ("ExecutionTime", "Maximum"),
        } <= counted, machine
    # And a graph never mixes the two: an operator reads drills apart from runs
    restore_titles = [title for title, graphed in graphs.items() if any(m == restore for m, _, _ in graphed)]
    assert restore_titles and all("restore" in title.lower() for title in restore_titles)
    assert not [title for title in restore_titles if any(m == archive_run for m, _, _ in graphs[title])]
