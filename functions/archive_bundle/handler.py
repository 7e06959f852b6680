"""Copy a finished export's bundle into the archive before its link expires."""

from typing import Any

from archiver.archive import bundles
from archiver.archive.artifacts import step_result
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = bundles.archive_bundle(
        clients.quicksight(),
        clients.s3(),
        run=event["run"],
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        export=event["export"],
        settings=get_settings(),
    )
    return step_result(outcome)
