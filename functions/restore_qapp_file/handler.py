"""Upload an archived object as a Q Apps card's file; the presigned form never leaves this step."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.models import FileRestoreEvent
from archiver.restore.qapps import restore_file


@step_handler
@event_parser(model=FileRestoreEvent)
def lambda_handler(event: FileRestoreEvent, context: Any) -> dict[str, Any]:
    return restore_file(
        clients.qapps(),
        clients.s3(),
        restore=event.restore,
        instance_id=event.instance_id,
        file=event.file,
        settings=get_settings(),
    ).wire()
