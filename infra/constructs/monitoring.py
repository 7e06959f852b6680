"""Tells the operator when a run fails, times out or is aborted."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

FAILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]


class Monitoring(Construct):
    """An encrypted SNS topic fed by an alarm on unsuccessful runs and by each unsuccessful execution.

    The alarm catches trends on a dashboard; the EventBridge rule sends one message per unsuccessful
    execution carrying its ARN, which is what the operator needs to open the execution.

    Attributes
    ----------
    topic:
        Where notifications are published.
    key:
        The key the topic is encrypted with.
    alarm:
        In alarm while any run failed, timed out or was aborted in the last five minutes.
    failure_rule:
        Forwards each unsuccessful execution's status change to the topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        notification_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        # The AWS-managed SNS key cannot be used here: CloudWatch and EventBridge may only publish to an
        # encrypted topic when its key policy lets them use the key.
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the archiver's notifications topic",
            enable_key_rotation=True,
            # Notifications are transient; nothing outlives the topic encrypted with this key.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowNotificationPublishers",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Archiver run failures",
            master_key=self.key,
            enforce_ssl=True,
        )
        # A topic with its own resource policy (enforce_ssl creates one) must name CloudWatch explicitly.
        alarms = f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )
        )
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))

        period = Duration.minutes(5)
        unsuccessful_runs = cloudwatch.MathExpression(
            expression="failed + timedOut + aborted",
            using_metrics={
                "failed": state_machine.metric_failed(period=period, statistic="Sum"),
                "timedOut": state_machine.metric_timed_out(period=period, statistic="Sum"),
                "aborted": state_machine.metric_aborted(period=period, statistic="Sum"),
            },
            label="Unsuccessful runs",
            period=period,
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "UnsuccessfulRuns",
            alarm_description="An archive run failed, timed out or was aborted",
            metric=unsuccessful_runs,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            # No runs means nothing failed.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))

        self.failure_rule = events.Rule(
            self,
            "UnsuccessfulExecution",
            description="Forwards each failed, timed-out or aborted archive run to the notifications topic",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": FAILED_STATUSES,
                },
            ),
            targets=[
                targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_object(
                        {
                            "status": events.EventField.from_path("$.detail.status"),
                            "executionArn": events.EventField.from_path("$.detail.executionArn"),
                            "stateMachineArn": events.EventField.from_path("$.detail.stateMachineArn"),
                            "error": events.EventField.from_path("$.detail.error"),
                            "cause": events.EventField.from_path("$.detail.cause"),
                            "startDate": events.EventField.from_path("$.detail.startDate"),
                            "stopDate": events.EventField.from_path("$.detail.stopDate"),
                        }
                    ),
                )
            ],
        )
