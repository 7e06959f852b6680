"""QuickSight's and Q Apps' List calls, paged to the end: what an account or instance holds, as listed.

Each List call is paged 100 at a time (``MaxResults`` / ``limit``, the most the services allow) by its
``NextToken`` until it gives none. A summary becomes an :class:`Asset`: its ARN, id, name and change
markers (``LastUpdatedTime``, a dashboard's ``PublishedVersionNumber``, a theme's ``LatestVersionNumber``),
which are what the catalogue compares from one run to the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore import xform_name

from archiver.archive.models import AssetFingerprint, AssetType
from archiver.core.service_errors import naming_errors
from archiver.discovery.pacing import Pacer

PAGE_SIZE = 100


@dataclass(frozen=True)
class Asset:
    """A QuickSight asset as its List call summarised it."""

    type: AssetType
    arn: str
    id: str
    name: str
    last_updated_time: str | None
    version: int | None = None
    # A data source's Type, an analysis's Status, as listed.
    data_source_type: str | None = None
    status: str | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    def fingerprint(self) -> AssetFingerprint:
        return AssetFingerprint(
            arn=self.arn, type=self.type, last_updated_time=self.last_updated_time, version=self.version
        )


@dataclass(frozen=True)
class Listing:
    """One List call: the type it lists, the member its page is in, the summary's id and version keys."""

    type: AssetType
    operation: str
    member: str
    id_key: str
    version_key: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The client's method: ``list_data_sets``."""
        return xform_name(self.operation)


LISTINGS: dict[AssetType, Listing] = {
    "dashboard": Listing(
        "dashboard", "ListDashboards", "DashboardSummaryList", "DashboardId", "PublishedVersionNumber"
    ),
    "analysis": Listing("analysis", "ListAnalyses", "AnalysisSummaryList", "AnalysisId"),
    "dataset": Listing("dataset", "ListDataSets", "DataSetSummaries", "DataSetId"),
    "datasource": Listing("datasource", "ListDataSources", "DataSources", "DataSourceId"),
    # QuickSight's own themes (account "aws") are listed too unless told: they are no one's to archive.
    "theme": Listing("theme", "ListThemes", "ThemeSummaryList", "ThemeId", "LatestVersionNumber", {"Type": "CUSTOM"}),
    "folder": Listing("folder", "ListFolders", "FolderSummaryList", "FolderId"),
}


def timestamp(value: Any) -> str | None:
    """A service timestamp as the catalogue keeps it: UTC ISO 8601 to the millisecond (``...T03:00:00.000Z``)."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _asset(listing: Listing, summary: dict[str, Any]) -> Asset:
    version = summary.get(listing.version_key) if listing.version_key else None
    return Asset(
        type=listing.type,
        arn=summary["Arn"],
        id=summary[listing.id_key],
        name=summary.get("Name", ""),
        last_updated_time=timestamp(summary.get("LastUpdatedTime")),
        version=version if isinstance(version, int) else None,
        data_source_type=summary.get("Type") if listing.type == "datasource" else None,
        status=summary.get("Status") if listing.type == "analysis" else None,
    )


def pages(
    pacer: Pacer, call: Any, *, items: str, token_in: str, token_out: str, **params: Any
) -> Iterator[dict[str, Any]]:
    """Every item of a paged List call, page after page until the service gives no token."""
    token: str | None = None
    while True:
        page = pacer.call(call, **params, **({token_in: token} if token else {}))
        yield from page.get(items, [])
        token = page.get(token_out)
        if not token:
            return


def list_assets(qs: Any, pacer: Pacer, *, account_id: str, listing: Listing) -> list[Asset]:
    """Every asset of one type in the account, as its List call gives them.

    Raises
    ------
    ArchiverError
        The named error of the call that failed (``archiver.core.service_errors``).
    """
    with naming_errors("QuickSight", resource=f"the {listing.type}s of account {account_id}"):
        return [
            _asset(listing, summary)
            for summary in pages(
                pacer,
                getattr(qs, listing.method),
                items=listing.member,
                token_in="NextToken",
                token_out="NextToken",
                AwsAccountId=account_id,
                MaxResults=PAGE_SIZE,
                **listing.params,
            )
        ]


def folder_members(qs: Any, pacer: Pacer, *, account_id: str, folder: Asset) -> list[str]:
    """The ARNs of a folder's members (ListFolderMembers, paged)."""
    with naming_errors("QuickSight", resource=f"folder {folder.arn}"):
        return [
            member["MemberArn"]
            for member in pages(
                pacer,
                qs.list_folder_members,
                items="FolderMemberList",
                token_in="NextToken",
                token_out="NextToken",
                AwsAccountId=account_id,
                FolderId=folder.id,
                MaxResults=PAGE_SIZE,
            )
        ]


def tags_of(qs: Any, pacer: Pacer, asset: Asset) -> dict[str, str]:
    """An asset's tags (ListTagsForResource)."""
    with naming_errors("QuickSight", resource=asset.arn):
        answer = pacer.call(qs.list_tags_for_resource, ResourceArn=asset.arn)
    return {tag["Key"]: tag["Value"] for tag in answer.get("Tags", [])}


# Q Apps: the apps the archive user can see.
APP_LISTINGS = {"ListQApps": ("list_q_apps", "apps"), "ListLibraryItems": ("list_library_items", "libraryItems")}


def list_app_ids(qapps: Any, pacer: Pacer, *, instance_id: str, operation: str) -> list[str]:
    """The ids of the apps one Q Apps List call gives: the user's own (ListQApps), the library's (ListLibraryItems)."""
    method, member = APP_LISTINGS[operation]
    with naming_errors("Q Apps", resource=f"the apps of instance {instance_id}"):
        return [
            item["appId"]
            for item in pages(
                pacer,
                getattr(qapps, method),
                items=member,
                token_in="nextToken",
                token_out="nextToken",
                instanceId=instance_id,
                limit=PAGE_SIZE,
            )
        ]
