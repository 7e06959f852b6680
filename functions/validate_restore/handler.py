"""Restore step 1: check the request against the archive and its targets, and plan the restore."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.core.wire import ValidateInputEvent
from archiver.restore.models import RestoreContext
from archiver.restore.plan import plan_restore


@step_handler
@event_parser(model=ValidateInputEvent)
def lambda_handler(event: ValidateInputEvent, context: Any) -> dict[str, Any]:
    # The document itself stays JSON here: plan_restore checks it against the published schema and names
    # every bad field at once, which a model's first failure would not.
    settings = get_settings()
    return plan_restore(
        event.input,
        RestoreContext.of(event.execution),
        s3=clients.s3(),
        qapps=clients.qapps(),
        bucket=settings.archive_bucket,
        default_account=settings.default_account_id,
    )
