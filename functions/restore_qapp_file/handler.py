"""Upload an archived object as a Q Apps card's file; the presigned form never leaves this step."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.qapps import restore_file


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return restore_file(
        clients.qapps(),
        clients.s3(),
        restore=event["restore"],
        instance_id=event["instanceId"],
        file=event["file"],
        settings=get_settings(),
    )
