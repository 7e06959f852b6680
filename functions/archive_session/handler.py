"""Export a Q Apps session's data and copy its CSV into the archive, in one step."""

from typing import Any

from archiver.archive import qapps
from archiver.archive.artifacts import step_result
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = qapps.archive_session(
        clients.qapps(),
        clients.s3(),
        run=event["run"],
        instance_id=event["instanceId"],
        session=event["session"],
        settings=get_settings(),
    )
    return step_result(outcome)
