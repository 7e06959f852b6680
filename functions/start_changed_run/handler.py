"""Start a run for the QuickSight asset an EventBridge change event names (``changeTriggers``)."""

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.triggers import ChangeEvent, run_for_change
from archiver.core import clients
from archiver.core.observability import logger, step_handler
from archiver.core.service_errors import naming_errors


@step_handler
@event_parser(model=ChangeEvent)
def lambda_handler(event: ChangeEvent, context: Any) -> dict[str, Any]:
    types = frozenset(os.environ["CHANGE_TRIGGER_TYPES"].split(","))
    planned = run_for_change(event, types=types, window_minutes=int(os.environ["CHANGE_TRIGGER_WINDOW_MINUTES"]))
    if planned is None:
        logger.info("No run for this event", extra={"detail_type": event.detail_type, "resources": event.resources})
        return {"run": None}
    name, document = planned
    sfn = clients.stepfunctions()
    with naming_errors("Step Functions", resource=f"execution {name}"):
        try:
            started = sfn.start_execution(
                stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name, input=json.dumps(document)
            )
        except sfn.exceptions.ExecutionAlreadyExists:
            # The window's run for this asset has ended already: this event costs nothing more.
            logger.info("The run for this asset and window has ended already", extra={"execution": name})
            return {"run": name, "ended": True}
    # A start of a name still running answers with that execution: a burst starts one run.
    logger.info("Run for a change", extra={"execution": name, "resources": event.resources})
    return {"run": name, "executionArn": started["executionArn"]}
