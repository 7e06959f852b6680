"""Keep a Q App's definition (GetQApp) in the archive."""

from typing import Any

from archiver.archive import qapps
from archiver.archive.artifacts import step_result
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = qapps.archive_app(
        clients.qapps(),
        clients.s3(),
        run=event["run"],
        instance_id=event["instanceId"],
        app=event["app"],
        settings=get_settings(),
    )
    return step_result(outcome)
