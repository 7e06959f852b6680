"""The restore's state machine: put archived objects back, or prove they would go back.

ValidateRestore checks the request against the archive and its targets and plans it (or ends
the restore at once, naming every bad field, before anything is uploaded). Validate mode then
only writes its report. Otherwise RestoreItems runs two branches side by side: QuickSight
bundles (start an import job, poll it with a growing wait) and Q Apps files (one step: checksum,
presigned form, upload). An item that fails is recorded and the others go on; the report gathers
every outcome, and a restore with any failed item ends FAILED so it is noticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.core.functions import COPY, SMALL, StepSpec
from infra.core.steps import (
    SERVICE_BUSY,
    TRANSFER_INTERRUPTED,
    item_map,
    lambda_step,
    standard_state_machine,
    validate_input_step,
)

# Import jobs have no documented concurrency limit; a few at once keeps a restore gentle on the account.
QUICKSIGHT_IMPORT_CONCURRENCY = 3
QAPPS_UPLOAD_CONCURRENCY = 5
UPLOAD_INTERRUPTED = ["UploadInterruptedError"]

# The restore's steps, sized the same way as the run's. Checking the request reads every named object
# once (streaming, for its SHA-256: up to 1 GB a bundle, hence the longest timeout); an inline bundle
# import holds up to 20 MB in memory; a file upload streams.
RESTORE_STEP_SPECS: Mapping[str, StepSpec] = {
    "validate_restore": StepSpec(memory_mb=512, timeout=Duration.minutes(15)),
    "start_bundle_import": StepSpec(memory_mb=512, timeout=Duration.minutes(2)),
    "check_bundle_import": SMALL,
    "restore_qapp_file": COPY,
    "record_restore_failure": SMALL,
    "write_restore_report": SMALL,
}


@dataclass(frozen=True)
class RestoreSteps:
    """The Lambda function behind each step of a restore."""

    validate_restore: lambda_.IFunction
    start_bundle_import: lambda_.IFunction
    check_bundle_import: lambda_.IFunction
    restore_qapp_file: lambda_.IFunction
    record_restore_failure: lambda_.IFunction
    write_restore_report: lambda_.IFunction


class RestoreWorkflow(Construct):
    """Validates a restore request, restores (or drills, or only validates) every item, writes the report."""

    state_machine: sfn.StateMachine
    log_group: logs.LogGroup

    def __init__(self, scope: Construct, construct_id: str, *, steps: RestoreSteps, timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self._steps = steps

        write_report = lambda_step(
            self,
            "WriteRestoreReport",
            steps.write_restore_report,
            {"plan.$": "$"},
            result_path="$.summary",
            # S3 only: a busy S3 is retried, there is no Retry-After to honour.
            retry_on=SERVICE_BUSY,
            honour_retry_after=False,
        )
        restore_items = sfn.Parallel(self, "RestoreItems", result_path=sfn.JsonPath.DISCARD)
        restore_items.branch(self._bundle_branch())
        restore_items.branch(self._file_branch())
        # A branch that dies as a whole still gets a report: its items are listed as failed.
        restore_items.add_catch(write_report, errors=["States.ALL"], result_path="$.restoreError")
        restore_items.next(write_report)

        only_validate = (
            sfn.Choice(self, "OnlyValidate")
            .when(sfn.Condition.string_equals("$.restore.mode", "validate"), write_report)
            .otherwise(restore_items)
        )
        items_failed = sfn.Fail(
            self,
            "RestoreItemsFailed",
            error="RestoreItemsFailed",
            cause_path=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.summary")),
        )
        write_report.next(
            sfn.Choice(self, "AnyRestoreItemFailed")
            .when(sfn.Condition.number_greater_than("$.summary.failed", 0), items_failed)
            .otherwise(sfn.Succeed(self, "AllRestored", output_path="$.summary"))
        )

        definition = self._validate_restore().next(only_validate)
        self.state_machine, self.log_group = standard_state_machine(self, definition, timeout=timeout)

    def _validate_restore(self) -> tasks.LambdaInvoke:
        return validate_input_step(
            self,
            "ValidateRestore",
            self._steps.validate_restore,
            refused_with="InvalidRestoreInputError",
            fail_as="InvalidRestoreInput",
            read_problems_id="ReadRestoreProblems",
            retry_on=SERVICE_BUSY,
        )

    def _record_failure(self, state_id: str, kind: str) -> tasks.LambdaInvoke:
        return lambda_step(
            self,
            state_id,
            self._steps.record_restore_failure,
            {"restore.$": "$.restore", "kind": kind, "item.$": f"$.{kind}", "error.$": "$.error"},
            result_path=sfn.JsonPath.DISCARD,
            retry_on=SERVICE_BUSY,
            honour_retry_after=False,
        )

    def _bundle_branch(self) -> sfn.Map:
        item = {"restore.$": "$.restore", "awsAccountId.$": "$.awsAccountId", "bundle.$": "$.bundle"}
        start = lambda_step(
            self,
            "StartBundleImport",
            self._steps.start_bundle_import,
            item,
            result_path="$.import",
            retry_on=SERVICE_BUSY,
        )
        wait = sfn.Wait(self, "WaitForBundleImport", time=sfn.WaitTime.seconds_path("$.import.waitSeconds"))
        check = lambda_step(
            self,
            "CheckBundleImport",
            self._steps.check_bundle_import,
            {**item, "import.$": "$.import"},
            result_path="$.import",
            retry_on=SERVICE_BUSY,
        )
        record_failure = self._record_failure("RecordBundleRestoreFailure", "bundle")
        for step in (start, check):
            step.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")
        # check_bundle_import has recorded the outcome (restored or failed) once the job settled.
        settled = (
            sfn.Choice(self, "BundleImportSettled")
            .when(sfn.Condition.boolean_equals("$.import.settled", True), sfn.Succeed(self, "BundleImportRecorded"))
            .otherwise(wait)
        )
        bundles = item_map(
            self,
            "RestoreBundles",
            items_path="$.quicksight.bundles",
            selector={"awsAccountId.$": "$.quicksight.awsAccountId"},
            kind="bundle",
            context="restore",
            max_concurrency=QUICKSIGHT_IMPORT_CONCURRENCY,
        )
        bundles.item_processor(start.next(wait).next(check).next(settled))
        return bundles

    def _file_branch(self) -> sfn.Map:
        restore = lambda_step(
            self,
            "RestoreQAppFile",
            self._steps.restore_qapp_file,
            {"restore.$": "$.restore", "instanceId.$": "$.instanceId", "file.$": "$.file"},
            result_path=sfn.JsonPath.DISCARD,
            retry_on=SERVICE_BUSY + TRANSFER_INTERRUPTED + UPLOAD_INTERRUPTED,
        )
        restore.add_catch(self._record_failure("RecordFileRestoreFailure", "file"), result_path="$.error")
        files = item_map(
            self,
            "RestoreQAppFiles",
            items_path="$.qapps.files",
            selector={"instanceId.$": "$.qapps.instanceId"},
            kind="file",
            context="restore",
            max_concurrency=QAPPS_UPLOAD_CONCURRENCY,
        )
        files.item_processor(restore)
        return files
