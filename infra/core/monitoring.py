"""Tells the operator when a run fails, times out or is aborted, a step errs, or runs stop succeeding;
and shows what the runs archived on a dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from archiver.core import metric_names as names

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
        In alarm while any run (archive, restore or drill) failed, timed out or was aborted in the last five
        minutes.
    failure_rule:
        Forwards each unsuccessful execution's status change to the topic.
    function_error_alarms:
        By step name: in alarm while that step's function reported an error in the last five minutes.
    no_successful_run_alarm:
        In alarm when no run succeeded for ``successful_run_expected_within_hours``; ``None`` without it.
    dashboard:
        The runs, what they archived, what failed and why, and the steps' errors; the restores and drills.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        restore_state_machine: sfn.IStateMachine | None = None,
        notification_email: str | None = None,
        functions: Mapping[str, lambda_.IFunction] | None = None,
        successful_run_expected_within_hours: int | None = None,
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

        # A restore or a scheduled drill that fails is as loud as a failed archive run: an archive
        # that does not restore is not a backup.
        watched = [state_machine, *([restore_state_machine] if restore_state_machine else [])]
        period = Duration.minutes(5)
        unsuccessful = {
            f"{outcome}{index}": metric(period=period, statistic="Sum")
            for index, machine in enumerate(watched)
            for outcome, metric in (
                ("failed", machine.metric_failed),
                ("timedOut", machine.metric_timed_out),
                ("aborted", machine.metric_aborted),
            )
        }
        unsuccessful_runs = cloudwatch.MathExpression(
            # Step Functions publishes these metrics only for periods with such an execution, and metric
            # math yields a point only where every series it combines has one: a bare sum would be missing
            # (so OK) exactly when one machine failed once. FILL makes each absent series count as zero.
            expression=" + ".join(f"FILL({name}, 0)" for name in unsuccessful),
            using_metrics=unsuccessful,
            label="Unsuccessful runs",
            period=period,
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "UnsuccessfulRuns",
            alarm_description="An archive run, restore or drill failed, timed out or was aborted",
            metric=unsuccessful_runs,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            # With FILL the sum always has a point; should CloudWatch return none at all (no data in the
            # window for any series), no runs means nothing failed.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(self.alarm)

        self.failure_rule = events.Rule(
            self,
            "UnsuccessfulExecution",
            description="Forwards each failed, timed-out or aborted run, restore or drill to the notifications topic",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [machine.state_machine_arn for machine in watched],
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

        functions = functions or {}
        self.function_error_alarms = {
            name: self._notify(
                cloudwatch.Alarm(
                    self,
                    f"{_title(name)}Errors",
                    alarm_description=f"The {name} step's function failed (its logs say why); retries may hide it "
                    "from the run, not from the service that misbehaved",
                    metric=function.metric_errors(period=period, statistic="Sum"),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
            for name, function in functions.items()
        }

        self.no_successful_run_alarm: cloudwatch.Alarm | None = None
        if successful_run_expected_within_hours is not None:
            hours = successful_run_expected_within_hours
            # One datapoint per hour, all of them below one success: no run succeeded in `hours` hours.
            # An hour without any execution has no datapoint at all, which must count as breaching:
            # a schedule that silently stopped (rule disabled, plan removed, permissions broken) starts
            # no run, publishes nothing, and is exactly what this alarm is for.
            self.no_successful_run_alarm = self._notify(
                cloudwatch.Alarm(
                    self,
                    "NoSuccessfulRun",
                    alarm_description=f"No archive run has succeeded for {hours} hours",
                    metric=state_machine.metric_succeeded(period=Duration.hours(1), statistic="Sum"),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=hours,
                    datapoints_to_alarm=hours,
                    treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                )
            )

        self.dashboard = self._dashboard(state_machine, restore_state_machine, functions)
        CfnOutput(
            self,
            "DashboardUrl",
            description="The archiver's CloudWatch dashboard",
            value=f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={self.dashboard.dashboard_name}",
        )

    def _notify(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm

    def _dashboard(
        self,
        state_machine: sfn.IStateMachine,
        restore_state_machine: sfn.IStateMachine | None,
        functions: Mapping[str, lambda_.IFunction],
    ) -> cloudwatch.Dashboard:
        alarms = [self.alarm, *self.function_error_alarms.values()]
        if self.no_successful_run_alarm is not None:
            alarms.append(self.no_successful_run_alarm)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        dashboard.add_widgets(
            *_execution_graphs(state_machine, runs="Runs", width=8),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=8),
        )
        if restore_state_machine is not None:
            # Restores and drills on the same dashboard: a drill that stopped succeeding (or running)
            # means the archive is no longer proven to restore.
            dashboard.add_widgets(*_execution_graphs(restore_state_machine, runs="Restores and drills", width=12))
        dashboard.add_widgets(
            _per_kind_graph("Artifacts archived", names.ARTIFACTS_ARCHIVED, "Sum"),
            _per_kind_graph("Bytes archived", names.BYTES_ARCHIVED, "Sum"),
            _per_kind_graph("Export ready to archived (s, max)", names.EXPORT_READY_TO_ARCHIVED, "Maximum"),
            _per_kind_graph("Link refreshes", names.LINK_REFRESHES, "Sum"),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Items failed, by reason",
                left=[
                    cloudwatch.MathExpression(
                        # Reasons are a fixed set (archiver.core.metric_names), but the search needs no update
                        # when one is added.
                        expression=(
                            f"SEARCH('{{{names.NAMESPACE},{names.ITEM_KIND},{names.REASON},service}} "
                            f"MetricName=\"{names.ITEMS_FAILED}\"', 'Sum', 3600)"
                        ),
                        label="",
                        period=Duration.hours(1),
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Step errors",
                left=[
                    function.metric_errors(period=Duration.minutes(5), statistic="Sum", label=name)
                    for name, function in functions.items()
                ],
                width=12,
            ),
        )
        return dashboard


def _title(step: str) -> str:
    return "".join(part.title() for part in step.split("_"))


def _execution_graphs(state_machine: sfn.IStateMachine, *, runs: str, width: int) -> list[cloudwatch.GraphWidget]:
    """How many executions of ``state_machine`` started and how each ended, per hour; and how long they took."""
    hour = Duration.hours(1)
    outcomes = {
        "Started": state_machine.metric_started,
        "Succeeded": state_machine.metric_succeeded,
        "Failed": state_machine.metric_failed,
        "Timed out": state_machine.metric_timed_out,
        "Aborted": state_machine.metric_aborted,
    }
    return [
        cloudwatch.GraphWidget(
            title=f"{runs} (per hour)",
            left=[metric(period=hour, statistic="Sum", label=label) for label, metric in outcomes.items()],
            width=width,
        ),
        cloudwatch.GraphWidget(
            title=f"{runs}: duration (ms)",
            left=[
                state_machine.metric_time(period=hour, statistic=statistic, label=statistic)
                for statistic in ("Average", "Maximum")
            ],
            width=width,
        ),
    ]


def _per_kind_graph(title: str, metric_name: str, statistic: str) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=[
            cloudwatch.Metric(
                namespace=names.NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"service": names.SERVICE, names.ITEM_KIND: kind},
                statistic=statistic,
                period=Duration.hours(1),
                label=kind,
            )
            for kind in names.ITEM_KINDS
        ],
        width=6,
    )
