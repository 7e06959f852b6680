"""What each discovered asset depends on, from its Describe call, and what asset bundles cannot export.

A dashboard and an analysis name their data sets (``DataSetArns``) and theme (``ThemeArn``); a data set
names its data sources in its physical tables, the data sets it is built on in its logical tables, and its
row-level permission data set; a folder's dependencies are its members (ListFolderMembers). Data sources and
themes depend on nothing a bundle holds. Asset bundles cannot export data sources of some types (the
QuickSight developer guide, "asset bundle operations") nor data sets QuickSight will not describe (those
made from an uploaded file): :data:`UNSUPPORTED_DATA_SOURCE_TYPES`, and a refused describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from archiver.core.errors import ArchiverError, ResourceNotFoundError, ServiceBusyError
from archiver.core.service_errors import service_error
from archiver.discovery.listing import Asset, folder_members
from archiver.discovery.pacing import Pacer

# Data source types asset bundles cannot export, as the model's DataSourceType spells them, and as the
# developer guide names them ("FILE" is not in the model: kept, should a listing ever say it).
UNSUPPORTED_DATA_SOURCE_TYPES = {
    "ADOBE_ANALYTICS": "Adobe Analytics",
    "FILE": "File",
    "GITHUB": "GitHub",
    "JIRA": "JIRA",
    "SALESFORCE": "Salesforce",
    "SERVICENOW": "ServiceNow",
    "TWITTER": "Twitter",
}
# The types whose dependencies a Describe call (or ListFolderMembers) says.
DESCRIBED_TYPES = ("dashboard", "analysis", "dataset", "folder")


@dataclass(frozen=True)
class Described:
    """What an asset depends on (ARNs), or why QuickSight would not say (its describe was refused)."""

    dependencies: tuple[str, ...] = ()
    refused: str | None = None


def _uses(answer: dict[str, Any]) -> list[str]:
    """The data sets and theme a dashboard's version or an analysis names."""
    return [*answer.get("DataSetArns", []), *([answer["ThemeArn"]] if answer.get("ThemeArn") else [])]


def _data_set_uses(data_set: dict[str, Any]) -> list[str]:
    """A data set's data sources (every kind of physical table names one) and the data sets it reads."""
    sources = [
        table["DataSourceArn"]
        for physical in data_set.get("PhysicalTableMap", {}).values()
        for table in physical.values()
        if isinstance(table, dict) and "DataSourceArn" in table
    ]
    data_sets = [
        logical["Source"]["DataSetArn"]
        for logical in data_set.get("LogicalTableMap", {}).values()
        if "DataSetArn" in logical.get("Source", {})
    ]
    row_level = data_set.get("RowLevelPermissionDataSet", {}).get("Arn")
    return [*sources, *data_sets, *([row_level] if row_level else [])]


def _described(qs: Any, pacer: Pacer, account_id: str, asset: Asset) -> list[str]:
    match asset.type:
        case "dashboard":
            answer = pacer.call(qs.describe_dashboard, AwsAccountId=account_id, DashboardId=asset.id)
            return _uses(answer["Dashboard"].get("Version", {}))
        case "analysis":
            return _uses(pacer.call(qs.describe_analysis, AwsAccountId=account_id, AnalysisId=asset.id)["Analysis"])
        case "dataset":
            return _data_set_uses(
                pacer.call(qs.describe_data_set, AwsAccountId=account_id, DataSetId=asset.id)["DataSet"]
            )
        case "folder":
            return folder_members(qs, pacer, account_id=account_id, folder=asset)
        case _:
            return []


def describe(qs: Any, pacer: Pacer, *, account_id: str, asset: Asset) -> Described | None:
    """What ``asset`` depends on, in its own account (QuickSight's own themes are no dependency to archive).

    Returns None for an asset deleted since it was listed. A busy QuickSight, still busy after the pacer's
    retries, raises (the step is retried); any other refusal is the asset's own, in ``refused``.
    """
    named: ArchiverError | None = None
    found: list[str] = []
    try:
        found = _described(qs, pacer, account_id, asset)
    except ClientError as error:
        named = service_error(error, service="QuickSight", resource=asset.arn)
    except ArchiverError as error:  # ListFolderMembers names its own
        named = error
    if isinstance(named, ServiceBusyError):
        raise named
    if isinstance(named, ResourceNotFoundError):
        return None
    if named is not None:
        return Described(refused=str(named))
    own = (arn for arn in found if arn.split(":")[4] == account_id and arn != asset.arn)
    return Described(dependencies=tuple(dict.fromkeys(own)))


def unsupported_type(asset: Asset) -> str | None:
    """Why a data source cannot be bundled, if its type is one asset bundles cannot export."""
    kind = UNSUPPORTED_DATA_SOURCE_TYPES.get(asset.data_source_type or "")
    if kind is None:
        return None
    return f"data sources of type {kind} ({asset.data_source_type}) cannot be exported in asset bundles"
