"""Step 1: validate the run's input document and turn it into the run's plan."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.models import RunContext
from archiver.archive.run_input import plan_run
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.core.wire import ValidateInputEvent


@step_handler
@event_parser(model=ValidateInputEvent)
def lambda_handler(event: ValidateInputEvent, context: Any) -> dict[str, Any]:
    # The document itself stays JSON here: plan_run checks it against the published schema and names
    # every bad field at once, which a model's first failure would not.
    return plan_run(event.input, RunContext.of(event.execution), default_account=get_settings().default_account_id)
