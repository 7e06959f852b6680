"""An unsuccessful run, a step error or runs that stop succeeding reach the operator; a dashboard shows the runs."""

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
