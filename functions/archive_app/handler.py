"""Keep a Q App's definition (GetQApp) in the archive."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive import qapps
from archiver.archive.artifacts import step_result
from archiver.archive.models import AppEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=AppEvent)
def lambda_handler(event: AppEvent, context: Any) -> dict[str, Any]:
    outcome = qapps.archive_app(
        clients.qapps(),
        clients.s3(),
        run=event.run,
        instance_id=event.instance_id,
        app=event.app,
        settings=get_settings(),
    )
    return step_result(outcome).wire()
