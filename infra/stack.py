"""The archiver's one stack: composes the constructs of both sides of the house, then wires their grants.

The archive side (``infra/archive/``: the nightly run) and the restore side (``infra/restore/``: restore,
drill, validate) each bring their workflow and their grants; ``infra/core/`` holds what both share.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.archive.grants import grant_archive_steps, grant_distributed_maps
from infra.archive.triggers import TRIGGER_STEP_SPECS, ChangeTriggerRule
from infra.archive.workflow import STEP_SPECS, ArchiveWorkflow, WorkflowSteps
from infra.core.archive_bucket import ArchiveBucket
from infra.core.functions import ArchiverFunctions, steps_of
from infra.core.grants import QAppsAccess
from infra.core.monitoring import Monitoring
from infra.core.qapps_identity import QAppsIdentity
from infra.core.schedule import RunSchedule
from infra.restore.grants import grant_restore_steps
from infra.restore.workflow import RESTORE_STEP_SPECS, RestoreSteps, RestoreWorkflow
from infra.settings import ArchiverSettings, ObjectLock

DESCRIPTION = "Archives Amazon QuickSight asset bundles and Amazon Q Apps data to S3"


class ArchiverStack(Stack):
    """The archive bucket, one function per step, the two state machines, their schedules and the alarms.

    Attributes
    ----------
    archive:
        The archive bucket construct.
    functions:
        The step functions construct.
    workflow:
        The state machine construct.
    state_machine:
        The run's Standard state machine (``workflow.state_machine``).
    restore_workflow:
        The restore's state machine construct (restore, drill or validate archived objects).
    schedule:
        The scheduled run, or ``None`` when the settings carry no plan.
    drill_schedule:
        The scheduled restore drill, or ``None`` when the settings carry no drill plan.
    change_triggers:
        The rule that starts a run for a changed QuickSight asset, or ``None`` (``changeTriggers`` off).
    monitoring:
        The notifications topic, alarm and failure rule.
    qapps_identity:
        The role Q Apps is called as with the archive user's identity, or ``None`` when the Q Apps steps use
        their own roles (``qappsCredentials`` mode ``role``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: ArchiverSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        self.archive = ArchiveBucket(
            self,
            "Archive",
            cold_storage_after=Duration.days(settings.cold_storage_after_days),
            break_glass_role_arn=settings.break_glass_role_arn,
            object_lock=_object_lock_retention(settings.object_lock),
        )
        self.functions = ArchiverFunctions(
            self,
            "Steps",
            # The change trigger's function exists only when the triggers are on.
            specs={**STEP_SPECS, **RESTORE_STEP_SPECS, **(TRIGGER_STEP_SPECS if settings.change_triggers else {})},
            archive_bucket_name=self.archive.bucket.bucket_name,
            download_allowlist=settings.download_allowlist,
            export_deadline=Duration.minutes(settings.export_deadline_minutes),
            plans_prefix=settings.plans_prefix,
            log_retention=settings.log_retention,
        )
        self.workflow = ArchiveWorkflow(
            self,
            "Workflow",
            steps=steps_of(WorkflowSteps, self.functions.functions),
            bucket=self.archive.bucket,
            timeout=Duration.hours(settings.run_timeout_hours),
        )
        self.state_machine: sfn.StateMachine = self.workflow.state_machine
        self.restore_workflow = RestoreWorkflow(
            self,
            "Restore",
            steps=steps_of(RestoreSteps, self.functions.functions),
            timeout=Duration.hours(settings.run_timeout_hours),
        )

        self.schedule: RunSchedule | None = None
        if settings.schedule_plan is not None:
            self.schedule = RunSchedule(
                self,
                "Schedule",
                state_machine=self.state_machine,
                schedule=events.Schedule.expression(settings.schedule_expression),
                plan=settings.schedule_plan,
            )

        self.change_triggers: ChangeTriggerRule | None = None
        if settings.change_triggers is not None:
            self.change_triggers = ChangeTriggerRule(
                self,
                "ChangeTriggers",
                settings=settings.change_triggers,
                function=self.functions.functions["start_changed_run"],
                state_machine=self.state_machine,
            )

        # "Prove last night's archive restores": a drill (or a validation) on its own schedule.
        self.drill_schedule: RunSchedule | None = None
        if settings.drill_plan is not None:
            self.drill_schedule = RunSchedule(
                self,
                "DrillSchedule",
                state_machine=self.restore_workflow.state_machine,
                schedule=events.Schedule.expression(settings.drill_schedule_expression),
                plan=settings.drill_plan,
                description="Starts a scheduled restore drill",
            )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=self.state_machine,
            restore_state_machine=self.restore_workflow.state_machine,
            notification_email=settings.notification_email,
            functions=self.functions.functions,
            successful_run_expected_within_hours=settings.successful_run_expected_within_hours,
        )

        self.qapps_identity: QAppsIdentity | None = None
        identity_center = settings.qapps_identity_center
        if identity_center is not None:
            self.qapps_identity = QAppsIdentity(
                self,
                "QAppsIdentity",
                secret_arn=identity_center.secret_arn,
                application_arn=identity_center.application_arn,
                secret_key_arn=identity_center.secret_key_arn,
                identity_center_region=identity_center.identity_center_region,
            )

        # Each side's grants join its functions to the archive (and to Q Apps, through the identity if any).
        qapps = QAppsAccess(identity=self.qapps_identity, instance_ids=settings.qapps_instance_ids)
        grant_archive_steps(
            self.functions.functions, archive=self.archive, qapps=qapps, plans_prefix=settings.plans_prefix
        )
        grant_distributed_maps(self.state_machine, archive=self.archive)
        grant_restore_steps(self.functions.functions, archive=self.archive, qapps=qapps)


def _object_lock_retention(object_lock: ObjectLock | None) -> s3.ObjectLockRetention | None:
    if object_lock is None:
        return None
    retention = Duration.days(object_lock.retention_days)
    if object_lock.mode == "COMPLIANCE":
        return s3.ObjectLockRetention.compliance(retention)
    return s3.ObjectLockRetention.governance(retention)
