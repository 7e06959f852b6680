"""Step 1: validate the run's input document and turn it into the run's plan."""

from typing import Any

from archiver.archive.run_input import RunContext, plan_run
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    execution = event["execution"]
    run = RunContext(run_id=execution["name"], execution_id=execution["id"], started_at=execution["startTime"])
    return plan_run(event["input"], run, default_account=get_settings().default_account_id)
