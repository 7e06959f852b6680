"""Export a Q Apps session's data and copy its CSV into the archive, in one step."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive import qapps
from archiver.archive.artifacts import step_result
from archiver.archive.models import SessionEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=SessionEvent)
def lambda_handler(event: SessionEvent, context: Any) -> dict[str, Any]:
    outcome = qapps.archive_session(
        clients.qapps(),
        clients.s3(),
        run=event.run,
        instance_id=event.instance_id,
        session=event.session,
        settings=get_settings(),
    )
    return step_result(outcome).wire()
