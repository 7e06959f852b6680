"""Step 1: validate the run's input document (or the plan it names), turn it into the run's plan, and write its
items to the bucket."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.models import RunContext, RunPlan
from archiver.archive.plan_files import stage_plan
from archiver.archive.plan_references import PlanStore
from archiver.archive.run_input import plan_run
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.core.wire import ValidateInputEvent


@step_handler
@event_parser(model=ValidateInputEvent)
def lambda_handler(event: ValidateInputEvent, context: Any) -> dict[str, Any]:
    # The document itself stays JSON here: plan_run checks it against the published schema and names
    # every bad field at once, which a model's first failure would not.
    settings = get_settings()
    s3 = clients.s3()
    plan = plan_run(
        event.input,
        RunContext.of(event.execution),
        default_account=settings.default_account_id,
        # A plan given by reference is read from the archive bucket's plans prefix, and from nowhere else.
        plans=PlanStore(s3, bucket=settings.archive_bucket, prefix=settings.plans_prefix),
    )
    # The items go to the bucket, for the Distributed Maps; the state keeps the run, counts and their keys.
    return stage_plan(s3, settings.archive_bucket, RunPlan.model_validate(plan)).wire()
