"""An unsuccessful run reaches the operator: alarm and per-execution event, both to an encrypted topic."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized, only_id, state_machine_id


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


def test_any_unsuccessful_run_in_five_minutes_raises_the_alarm(archiver: Synthesized) -> None:
    state_machine = state_machine_id(archiver.template)
    topic = only_id(archiver.template, "AWS::SNS::Topic")

    def execution_metric(name: str) -> object:
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
                    Match.object_like({"Expression": "failed + timedOut + aborted", "ReturnData": True}),
                    execution_metric("ExecutionsFailed"),
                    execution_metric("ExecutionsTimedOut"),
                    execution_metric("ExecutionsAborted"),
                ]
            ),
        },
    )


def test_each_unsuccessful_execution_is_sent_to_the_topic_with_its_arn(archiver: Synthesized) -> None:
    state_machine = state_machine_id(archiver.template)
    topic = only_id(archiver.template, "AWS::SNS::Topic")

    archiver.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {
                    "stateMachineArn": [{"Ref": state_machine}],
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
