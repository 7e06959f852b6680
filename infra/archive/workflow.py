"""The archive run's state machine.

ValidateRun turns the input document into a plan (or ends the run at once, naming every bad
field) and writes its items to the archive bucket, one JSON array per kind; the state carries
only the run, counts and those files' keys. A run that discovers (``discover``, ``discoverApps``)
then goes through DiscoverAssets, which lists the account's assets and the instance's apps, plans
their bundles and writes the item files again with them added; a discovery that dies as a whole is
caught, recorded as a failure, and what the input lists is archived all the same. DiscoverAssets is
a step of its own, not part of ValidateRun: ValidateRun refuses a bad input in a second, before
anything is read or written, and holds no QuickSight or Q Apps rights; discovery makes thousands of
paced List and Describe calls, needs minutes, read rights on the estate and its own busy retries.
ArchiveItems then runs three Distributed Maps side
by side, each reading its kind's file and running every item in a child execution of its own:
QuickSight bundle exports (start, poll with a growing wait, copy), Q Apps sessions (export and
copy in one step) and Q Apps definitions. An item that fails is recorded and the others go on.
WriteManifest gathers every item's outcome, and a run with any failed item ends FAILED so alarms
fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from archiver.core.layout import MAP_RESULTS_PREFIX
from infra.core.functions import COPY, GATHER, SMALL, StepSpec
from infra.core.steps import (
    SERVICE_BUSY,
    TRANSFER_INTERRUPTED,
    add_export_slot_retry,
    distributed_item_map,
    lambda_step,
    standard_state_machine,
    validate_input_step,
)

# QuickSight runs at most five export jobs at once per account.
QUICKSIGHT_EXPORT_JOB_LIMIT = 5
# Q Apps items are independent calls; ten at a time keeps well inside its throttling limits.
QAPPS_CONCURRENCY = 10

# Discovery lists and describes a whole estate (some thousands of paced calls) and holds its summaries.
DISCOVERY = StepSpec(memory_mb=512, timeout=Duration.minutes(15))

# Step name -> size. The name is also the handler's package inside the functions/ asset, and a field of
# WorkflowSteps.
STEP_SPECS: Mapping[str, StepSpec] = {
    "validate_run": SMALL,
    "discover_assets": DISCOVERY,
    "start_bundle_export": SMALL,
    "check_bundle_export": SMALL,
    "archive_bundle": COPY,
    "archive_session": COPY,
    "archive_app": SMALL,
    "record_item_failure": SMALL,
    "write_manifest": GATHER,
}


@dataclass(frozen=True)
class WorkflowSteps:
    """The Lambda function behind each step of a run."""

    validate_run: lambda_.IFunction
    discover_assets: lambda_.IFunction
    start_bundle_export: lambda_.IFunction
    check_bundle_export: lambda_.IFunction
    archive_bundle: lambda_.IFunction
    archive_session: lambda_.IFunction
    archive_app: lambda_.IFunction
    record_item_failure: lambda_.IFunction
    write_manifest: lambda_.IFunction


class ArchiveWorkflow(Construct):
    """Validates a run's plan, archives every item, writes the manifest."""

    state_machine: sfn.StateMachine
    log_group: logs.LogGroup

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        steps: WorkflowSteps,
        bucket: s3.IBucket,
        timeout: Duration,
        max_concurrent_exports: int = QUICKSIGHT_EXPORT_JOB_LIMIT,
    ) -> None:
        super().__init__(scope, construct_id)
        self._steps = steps
        self._bucket = bucket

        archive_items = sfn.Parallel(self, "ArchiveItems", result_path=sfn.JsonPath.DISCARD)
        archive_items.branch(self._bundle_branch(max_concurrent_exports))
        archive_items.branch(self._session_branch())
        archive_items.branch(self._app_branch())
        write_manifest = lambda_step(
            self,
            "WriteManifest",
            steps.write_manifest,
            {"plan.$": "$"},
            result_path="$.summary",
            # S3 only: a busy S3 is retried, there is no Retry-After to honour.
            retry_on=SERVICE_BUSY,
            honour_retry_after=False,
        )
        # A branch that dies as a whole still gets a manifest: its items are listed as failed.
        archive_items.add_catch(write_manifest, errors=["States.ALL"], result_path="$.runError")

        items_failed = sfn.Fail(
            self,
            "ItemsFailed",
            error="ItemsFailed",
            cause_path=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.summary")),
        )
        all_archived = sfn.Succeed(self, "AllArchived", output_path="$.summary")
        write_manifest.next(
            sfn.Choice(self, "AnyItemFailed")
            .when(sfn.Condition.number_greater_than("$.summary.failed", 0), items_failed)
            .otherwise(all_archived)
        )

        archive_items.next(write_manifest)
        definition = self._validate_run().next(self._discover(then=archive_items))
        self.state_machine, self.log_group = standard_state_machine(self, definition, timeout=timeout)

    def _validate_run(self) -> tasks.LambdaInvoke:
        return validate_input_step(
            self,
            "ValidateRun",
            self._steps.validate_run,
            refused_with="InvalidRunInputError",
            fail_as="InvalidRunInput",
            read_problems_id="ReadInputProblems",
            # Reading a plan given by reference, or writing the plan's items, may meet a busy S3.
            retry_on=SERVICE_BUSY,
        )

    def _discover(self, *, then: sfn.Parallel) -> sfn.Choice:
        """DiscoverAssets for a run that discovers (its result: the staged run, items added); on to ``then`` if not."""
        discover = lambda_step(
            self,
            "DiscoverAssets",
            self._steps.discover_assets,
            {"plan.$": "$"},
            result_path="$",
            retry_on=SERVICE_BUSY,
        )
        # A discovery that died as a whole: the listed items are archived, the manifest records why.
        discover.add_catch(then, errors=["States.ALL"], result_path="$.discoveryError")
        discovers = sfn.Condition.or_(
            sfn.Condition.is_not_null("$.quicksight.discover"),
            sfn.Condition.boolean_equals("$.qapps.discoverApps", True),
        )
        return sfn.Choice(self, "DiscoversAssets").when(discovers, discover.next(then)).otherwise(then)

    def _record_failure(self, state_id: str, kind: str, *, place: dict[str, str]) -> tasks.LambdaInvoke:
        """Record the item's failure; ``place`` passes where it lives (account or instance), for its source."""
        return lambda_step(
            self,
            state_id,
            self._steps.record_item_failure,
            {"run.$": "$.run", "kind": kind, "item.$": f"$.{kind}", "error.$": "$.error", **place},
            result_path=sfn.JsonPath.DISCARD,
            retry_on=SERVICE_BUSY,
            honour_retry_after=False,
        )

    def _item_map(
        self, state_id: str, *, items_key_path: str, selector: dict[str, str], kind: str, max_concurrency: int
    ) -> sfn.DistributedMap:
        return distributed_item_map(
            self,
            state_id,
            bucket=self._bucket,
            items_key_path=items_key_path,
            results_prefix=MAP_RESULTS_PREFIX,
            selector=selector,
            kind=kind,
            context="run",
            max_concurrency=max_concurrency,
        )

    def _bundle_branch(self, max_concurrent_exports: int) -> sfn.DistributedMap:
        item = {"run.$": "$.run", "awsAccountId.$": "$.awsAccountId", "bundle.$": "$.bundle"}
        start = lambda_step(
            self,
            "StartBundleExport",
            self._steps.start_bundle_export,
            item,
            result_path="$.export",
            retry_on=SERVICE_BUSY,
        )
        add_export_slot_retry(start)
        wait = sfn.Wait(self, "WaitForBundleExport", time=sfn.WaitTime.seconds_path("$.export.waitSeconds"))
        check = lambda_step(
            self,
            "CheckBundleExport",
            self._steps.check_bundle_export,
            {**item, "export.$": "$.export"},
            result_path="$.export",
            retry_on=SERVICE_BUSY,
        )
        archive = lambda_step(
            self,
            "ArchiveBundle",
            self._steps.archive_bundle,
            {**item, "export.$": "$.export"},
            result_path=sfn.JsonPath.DISCARD,
            retry_on=SERVICE_BUSY + TRANSFER_INTERRUPTED,
        )
        record_failure = self._record_failure(
            "RecordBundleFailure", "bundle", place={"awsAccountId.$": "$.awsAccountId"}
        )
        for step in (start, check, archive):
            step.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")

        export_done = (
            sfn.Choice(self, "BundleExportDone")
            # start_bundle_export found the bundle archived, intact, by an earlier execution of this
            # run: no export job was started, there is nothing to poll nor copy.
            .when(
                sfn.Condition.string_equals("$.export.status", "ALREADY_ARCHIVED"),
                sfn.Succeed(self, "BundleAlreadyArchived"),
            )
            # onlyChanged: the bundle's last archived copy holds its assets as they are; no job was started.
            .when(
                sfn.Condition.string_equals("$.export.status", "UNCHANGED"),
                sfn.Succeed(self, "BundleUnchanged"),
            )
            .when(sfn.Condition.string_equals("$.export.status", "SUCCESSFUL"), archive)
            # check_bundle_export has recorded the job's Errors: the item ends here.
            .when(
                sfn.Condition.string_equals("$.export.status", "FAILED"),
                sfn.Succeed(self, "BundleExportFailed"),
            )
            .otherwise(wait)
        )
        # One Map Run for the whole run, so MaxConcurrency 5 holds the account's five export slots.
        bundles = self._item_map(
            "ExportBundles",
            items_key_path="$.items.bundles",
            selector={"awsAccountId.$": "$.quicksight.awsAccountId"},
            kind="bundle",
            max_concurrency=max_concurrent_exports,
        )
        # Every status, the start's included, goes through one Choice: a started job is polled.
        wait.next(check).next(export_done)
        bundles.item_processor(start.next(export_done))
        return bundles

    def _qapps_branch(
        self,
        state_id: str,
        *,
        step_id: str,
        function: lambda_.IFunction,
        kind: str,
        items_key_path: str,
        retry_on: list[str],
    ) -> sfn.DistributedMap:
        """A Q Apps item in one step: export and copy (sessions) or get and keep (definitions)."""
        archive = lambda_step(
            self,
            step_id,
            function,
            {"run.$": "$.run", "instanceId.$": "$.instanceId", f"{kind}.$": f"$.{kind}"},
            result_path=sfn.JsonPath.DISCARD,
            retry_on=retry_on,
        )
        record_failure = self._record_failure(
            f"Record{kind.title()}Failure", kind, place={"instanceId.$": "$.instanceId"}
        )
        archive.add_catch(record_failure, result_path="$.error")
        items = self._item_map(
            state_id,
            items_key_path=items_key_path,
            selector={"instanceId.$": "$.qapps.instanceId"},
            kind=kind,
            max_concurrency=QAPPS_CONCURRENCY,
        )
        items.item_processor(archive)
        return items

    def _session_branch(self) -> sfn.DistributedMap:
        return self._qapps_branch(
            "ArchiveSessions",
            step_id="ArchiveSession",
            function=self._steps.archive_session,
            kind="session",
            items_key_path="$.items.sessions",
            retry_on=SERVICE_BUSY + TRANSFER_INTERRUPTED,
        )

    def _app_branch(self) -> sfn.DistributedMap:
        return self._qapps_branch(
            "ArchiveAppDefinitions",
            step_id="ArchiveAppDefinition",
            function=self._steps.archive_app,
            kind="app",
            items_key_path="$.items.apps",
            retry_on=SERVICE_BUSY,
        )
