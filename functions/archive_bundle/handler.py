"""Copy a finished export's bundle into the archive before its link expires."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive import bundles
from archiver.archive.artifacts import step_result
from archiver.archive.models import BundleExportEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=BundleExportEvent)
def lambda_handler(event: BundleExportEvent, context: Any) -> dict[str, Any]:
    outcome = bundles.archive_bundle(
        clients.quicksight(),
        clients.s3(),
        run=event.run,
        account_id=event.aws_account_id,
        bundle=event.bundle,
        export=event.export,
        settings=get_settings(),
    )
    return step_result(outcome).wire()
