"""An unsuccessful run, a step error or runs that stop succeeding reach the operator; a dashboard shows the runs,
restores and drills."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from operator import add, mul, sub, truediv
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from archiver.core import metric_names
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
                    Match.object_like({"Expression": Match.any_value(), "ReturnData": True}),
                    *[
                        execution_metric(name, state_machine)
                        for state_machine in (archive_run, restore)
                        for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
                    ],
                ]
            ),
        },
    )


# -- the alarm's metric math, evaluated ------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<symbol>[-+*/(),]))")


def evaluate(expression: str, points: Mapping[str, float | None]) -> float | None:
    """One period of a CloudWatch metric math expression over metrics with or without a point in it.

    As CloudWatch computes it: arithmetic on series yields a point only where every operand has one, and
    ``FILL(m, v)`` gives ``m``'s missing point the value ``v``. Numbers, ids, ``+ - * /``, parentheses and
    ``FILL`` only: any other function fails the test rather than being guessed at.
    """
    tokens = [(m.lastgroup, m.group(m.lastgroup or "")) for m in _TOKEN.finditer(expression.strip())]
    assert "".join(text for _, text in tokens) == expression.replace(" ", ""), f"cannot read {expression!r}"
    position = 0

    def take(expected: str | None = None) -> str:
        nonlocal position
        text = tokens[position][1]
        assert expected is None or text == expected, f"expected {expected!r} at {text!r} in {expression!r}"
        position += 1
        return text

    def peek() -> str | None:
        return tokens[position][1] if position < len(tokens) else None

    def arithmetic(left: float | None, operator: str, right: float | None) -> float | None:
        if left is None or right is None:
            return None
        apply: Callable[[float, float], float] = {"+": add, "-": sub, "*": mul, "/": truediv}[operator]
        return apply(left, right)

    def sum_of_terms() -> float | None:
        value = product()
        while peek() in ("+", "-"):
            value = arithmetic(value, take(), product())
        return value

    def product() -> float | None:
        value = operand()
        while peek() in ("*", "/"):
            value = arithmetic(value, take(), operand())
        return value

    def operand() -> float | None:
        kind, text = tokens[position]
        take()
        if text == "(":
            value = sum_of_terms()
            take(")")
            return value
        if kind == "number":
            return float(text)
        if peek() == "(":
            assert text == "FILL", f"{text}() is not modelled: extend evaluate() before using it"
            take("(")
            series = sum_of_terms()
            take(",")
            fill = sum_of_terms()
            take(")")
            return fill if series is None else series
        return points[text]

    value = sum_of_terms()
    assert position == len(tokens), f"trailing tokens in {expression!r}"
    return value


def ids_that_cannot_raise_it(expression: str, ids: list[str], threshold: float) -> list[str]:
    """The metrics whose one data point, all others missing, leaves the expression missing or below threshold."""
    quiet = []
    for lone in ids:
        value = evaluate(expression, {name: 1.0 if name == lone else None for name in ids})
        if value is None or value < threshold:
            quiet.append(lone)
    return quiet


def unsuccessful_runs_alarm(synth: Synthesized) -> dict[str, Any]:
    (alarm,) = [
        a["Properties"]
        for a in synth.template.find_resources("AWS::CloudWatch::Alarm").values()
        if "Metrics" in a["Properties"]
        and any("ExecutionsFailed" in json.dumps(m.get("MetricStat", {})) for m in a["Properties"]["Metrics"])
    ]
    return alarm


def test_one_failed_timed_out_or_aborted_execution_of_either_machine_raises_the_alarm(archiver: Synthesized) -> None:
    # Given the synthesized alarm: its expression and the execution metrics it combines
    alarm = unsuccessful_runs_alarm(archiver)
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData", True) and "Expression" in m]
    ids = [m["Id"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert len(ids) == 6  # failed, timed out, aborted; of the archive run and of the restore

    # When, in one period, a single execution of one machine ends badly and no other metric has a point
    # Then the expression has a value at or above the threshold, whichever metric it was
    assert ids_that_cannot_raise_it(expression, ids, alarm["Threshold"]) == []
    # ... and a period with no execution at all is not an alarm
    assert (evaluate(expression, dict.fromkeys(ids)) or 0) < alarm["Threshold"]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_a_sum_without_fill_would_stay_missing_so_the_check_above_can_fail() -> None:
    # Given the expression as it was: sparse series summed bare
    ids = ["failed0", "timedOut0", "aborted0", "failed1", "timedOut1", "aborted1"]

    # Then one failure leaves it missing (OK under notBreaching), and the check names every metric
    assert evaluate(" + ".join(ids), {"failed0": 1.0, **dict.fromkeys(ids[1:])}) is None
    assert ids_that_cannot_raise_it(" + ".join(ids), ids, 1) == ids


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
