"""The EventBridge events QuickSight emits when an asset is created, edited (and published) or deleted.

Best effort in the service; here every change emits one, in the shape EventBridge delivers (``source``
``aws.quicksight``, the asset's ARN in ``resources``), with the detail-types of the QuickSight user guide,
whose spelling varies by type ("Creation Successful" for dashboards, "Created" for data sets).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.local.emulator.clock import iso8601

_FAMILY = {
    "dashboard": "Dashboard",
    "analysis": "Analysis",
    "dataset": "DataSet",
    "datasource": "DataSource",
    "theme": "Theme",
    "folder": "Folder",
}
# Change -> detail-type suffix, for the types whose events say "... Successful" and for the others.
_SUCCESSFUL = {"created": "Creation Successful", "updated": "Update Successful", "deleted": "Deletion Successful"}
_PLAIN = {"created": "Created", "updated": "Updated", "deleted": "Deleted"}
_PLAIN_TYPES = ("dataset", "datasource", "folder")


def change_event(arn: str, change: str, *, at: float, region: str) -> dict[str, Any] | None:
    """The event QuickSight emits for ``change`` (``created``, ``updated``, ``deleted``) of ``arn``, if any."""
    resource_type = arn.split(":", 5)[-1].split("/", 1)[0]
    family = _FAMILY.get(resource_type)
    if family is None:
        return None
    suffix = (_PLAIN if resource_type in _PLAIN_TYPES else _SUCCESSFUL)[change]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": f"QuickSight {family} {suffix}",
        "source": "aws.quicksight",
        "account": arn.split(":")[4],
        "time": iso8601(at),
        "region": region,
        "resources": [arn],
        "detail": {f"{resource_type}Id": arn.rsplit("/", 1)[-1]},
    }
