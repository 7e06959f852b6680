"""QuickSight's assets: what the List, Describe and tag calls answer, what export jobs bundle, and their edits.

Each asset is a :class:`Resource`; its ``dependencies`` are what an export with ``IncludeAllDependencies``
adds and what the Describe calls report (a dashboard's or analysis's ``DataSetArns`` and ``ThemeArn``, a
data set's data sources in its ``PhysicalTableMap`` and the data sets it is built on in its
``LogicalTableMap``). ``LastUpdatedTime`` moves when a test edits an asset (:meth:`Assets.edit`), and with
it a dashboard's ``PublishedVersionNumber`` and a theme's ``LatestVersionNumber``, as a publish does.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.local.emulator.clock import VirtualClock
from tests.local.emulator.paging import SortKey, page, page_size
from tests.local.emulator.wire import ApiError, modeled_status

ASSET_OPERATIONS = (
    "ListDashboards",
    "ListAnalyses",
    "ListDataSets",
    "ListDataSources",
    "ListThemes",
    "ListFolders",
    "ListFolderMembers",
    "ListTagsForResource",
    "DescribeDashboard",
    "DescribeAnalysis",
    "DescribeDataSet",
)

_ARN_RE = re.compile(r"^arn:[\w-]+:quicksight:[\w-]*:(?P<account>\d{12}|aws):(?P<type>[\w-]+)/(?P<id>.+)$")
# What DescribeDataSet answers for a data set made from an uploaded file (the API does not describe them).
FILE_UPLOAD_REFUSAL = ("InvalidParameterValueException", "The data set type is not supported through API yet")
# The themes QuickSight itself provides: listed (Type ALL or QUICKSIGHT), owned by no account, never exported.
BUILT_IN_THEMES = ("CLASSIC", "MIDNIGHT", "SEASIDE", "RAINIER")


def arn_parts(arn: str) -> tuple[str, str]:
    """Return the resource type and id of a QuickSight resource ARN."""
    match = _ARN_RE.match(arn)
    if match is None:
        raise ValueError(f"not a QuickSight resource ARN: {arn!r}")
    return match["type"], match["id"]


def _error(code: str, message: str) -> ApiError:
    status = modeled_status("quicksight", code)
    assert status is not None, f"QuickSight's model lists no {code}"
    return ApiError(code, status, message)


@dataclass(frozen=True)
class Resource:
    """One QuickSight asset as the emulator holds it.

    ``version`` is a dashboard's published version or a theme's latest version (1 when created);
    ``data_source_type`` a data source's ``Type``; ``members`` a folder's members (ARNs); ``status``
    what ListAnalyses says of an analysis (``DELETED`` ones stay listed); ``describe_error`` the
    ``(code, message)`` its Describe call answers instead of describing it.
    """

    arn: str
    fails_strict_validation: bool = False
    name: str = ""
    dependencies: tuple[str, ...] = ()
    created_at: float = 0.0
    last_updated_at: float = 0.0
    version: int = 1
    tags: tuple[tuple[str, str], ...] = ()
    data_source_type: str = "ATHENA"
    members: tuple[str, ...] = ()
    status: str = "CREATION_SUCCESSFUL"
    describe_error: tuple[str, str] | None = None

    @property
    def type(self) -> str:
        return arn_parts(self.arn)[0]

    @property
    def id(self) -> str:
        return arn_parts(self.arn)[1]

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    def dependencies_of_type(self, resource_type: str) -> list[str]:
        return [arn for arn in self.dependencies if arn_parts(arn)[0] == resource_type]


def _page(
    operation: str, params: Mapping[str, Any], items: Iterable[tuple[SortKey, dict[str, Any]]]
) -> tuple[list[dict[str, Any]], str | None]:
    size = page_size(
        params.get("MaxResults"),
        refuse=lambda message: _error("InvalidParameterValueException", message),
        wire_name="maxResults",
    )
    return page(operation, items, size=size, token=params.get("NextToken"), refuse_token=_invalid_token)


def _invalid_token() -> ApiError:
    return _error("InvalidNextTokenException", "The NextToken is not valid.")


def _summary(resource: Resource) -> dict[str, Any]:
    """What a List call says of an asset, member for member as the model's summary shape has it."""
    common = {"Arn": resource.arn, "Name": resource.name, "CreatedTime": resource.created_at}
    updated = {"LastUpdatedTime": resource.last_updated_at}
    match resource.type:
        case "dashboard":
            return {
                **common,
                "DashboardId": resource.id,
                **updated,
                "PublishedVersionNumber": resource.version,
                "LastPublishedTime": resource.last_updated_at,
            }
        case "analysis":
            return {**common, "AnalysisId": resource.id, "Status": resource.status, **updated}
        case "dataset":
            return {
                **common,
                "DataSetId": resource.id,
                **updated,
                "ImportMode": "SPICE",
                "RowLevelPermissionTagConfigurationApplied": False,
                "ColumnLevelPermissionRulesApplied": False,
            }
        case "datasource":
            return {
                **common,
                "DataSourceId": resource.id,
                "Type": resource.data_source_type,
                "Status": resource.status,
                **updated,
            }
        case "theme":
            return {**common, "ThemeId": resource.id, "LatestVersionNumber": resource.version, **updated}
        case _:
            return {**common, "FolderId": resource.id, "FolderType": "SHARED", **updated, "SharingModel": "ACCOUNT"}


def _built_in_theme(theme_id: str) -> dict[str, Any]:
    return {
        "Arn": f"arn:aws:quicksight::aws:theme/{theme_id}",
        "Name": theme_id.title(),
        "ThemeId": theme_id,
        "LatestVersionNumber": 1,
        "CreatedTime": 0.0,
        "LastUpdatedTime": 0.0,
    }


# The list operations: the asset type each lists and the member its page goes in.
_LISTS = {
    "ListDashboards": ("dashboard", "DashboardSummaryList"),
    "ListAnalyses": ("analysis", "AnalysisSummaryList"),
    "ListDataSets": ("dataset", "DataSetSummaries"),
    "ListDataSources": ("datasource", "DataSources"),
    "ListThemes": ("theme", "ThemeSummaryList"),
    "ListFolders": ("folder", "FolderSummaryList"),
}
_DESCRIBES = {"DescribeDashboard": "dashboard", "DescribeAnalysis": "analysis", "DescribeDataSet": "dataset"}
_DESCRIBE_ID = {"dashboard": "DashboardId", "analysis": "AnalysisId", "dataset": "DataSetId"}


class Assets:
    """Every account's assets, under one lock; answers the asset operations of :data:`ASSET_OPERATIONS`."""

    def __init__(self, *, clock: VirtualClock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._resources: dict[str, Resource] = {}
        # (account, type, id) -> ARN: a Describe call names its asset by id, and estates hold thousands.
        self._arn_of: dict[tuple[str, str, str], str] = {}

    # -- seeding, edits and what exports read ---------------------------------------------------

    def add(self, resource: Resource) -> None:
        now = self.clock.now()
        stamped = dataclasses.replace(
            resource,
            name=resource.name or resource.id,
            created_at=resource.created_at or now,
            last_updated_at=resource.last_updated_at or now,
        )
        with self._lock:
            self._resources[resource.arn] = stamped
            self._arn_of[(resource.account, resource.type, resource.id)] = resource.arn

    def get(self, arn: str) -> Resource | None:
        with self._lock:
            return self._resources.get(arn)

    def edit(self, arn: str, **changes: Any) -> Resource:
        """Change an asset as a person editing (and publishing) it would: its LastUpdatedTime moves."""
        with self._lock:
            resource = self._resources[arn]
            # Milliseconds, as the service keeps them: an edit at the same virtual instant still moves it.
            updated_at = max(self.clock.now(), resource.last_updated_at + 0.001)
            bumps = {"version": resource.version + 1} if resource.type in ("dashboard", "theme") else {}
            edited = dataclasses.replace(resource, **{"last_updated_at": updated_at, **bumps, **changes})
            self._resources[arn] = edited
            return edited

    def delete(self, arn: str) -> None:
        """Delete an asset: it leaves its List call, but an analysis stays listed as DELETED (its recovery window)."""
        with self._lock:
            resource = self._resources[arn]
            if resource.type == "analysis":
                self._resources[arn] = dataclasses.replace(
                    resource, status="DELETED", last_updated_at=max(self.clock.now(), resource.last_updated_at)
                )
            else:
                del self._resources[arn]

    def exportable(self, arn: str) -> Resource | None:
        """The asset an export job may bundle: not deleted."""
        resource = self.get(arn)
        return None if resource is None or resource.status == "DELETED" else resource

    def listed(self, resource_type: str | None = None) -> list[Resource]:
        with self._lock:
            return [r for r in self._resources.values() if resource_type is None or r.type == resource_type]

    # -- operations -----------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        answer: dict[str, Any]
        if operation in _LISTS:
            answer = self._list(operation, params)
        elif operation in _DESCRIBES:
            answer = self._describe(operation, params)
        elif operation == "ListFolderMembers":
            answer = self._folder_members(params)
        else:
            answer = self._tags(params)
        return {**answer, "Status": 200, "RequestId": request_id}

    def _of_account(self, account_id: str, resource_type: str) -> list[Resource]:
        return [r for r in self.listed(resource_type) if r.account == account_id]

    def _list(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        resource_type, member = _LISTS[operation]
        items = [((r.created_at, r.id), _summary(r)) for r in self._of_account(params["AwsAccountId"], resource_type)]
        if operation == "ListThemes":
            kind = params.get("Type", "ALL")
            if kind not in ("ALL", "CUSTOM", "QUICKSIGHT"):
                raise _error("InvalidParameterValueException", f"Type must be ALL, CUSTOM or QUICKSIGHT, not {kind}.")
            built_in = [((0.0, theme_id), _built_in_theme(theme_id)) for theme_id in BUILT_IN_THEMES]
            items = {"ALL": built_in + items, "CUSTOM": items, "QUICKSIGHT": built_in}[kind]
        found, token = _page(operation, params, items)
        return {member: found, **({"NextToken": token} if token else {})}

    def _owned(self, account_id: str, resource_type: str, resource_id: str) -> Resource:
        resource = self.get(self._arn_of.get((account_id, resource_type, resource_id), ""))
        if resource is not None:
            return resource
        raise _error("ResourceNotFoundException", f"{resource_type.title()} {resource_id} was not found.")

    def _describe(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        resource_type = _DESCRIBES[operation]
        resource = self._owned(params["AwsAccountId"], resource_type, params[_DESCRIBE_ID[resource_type]])
        if resource.describe_error is not None:
            raise _error(*resource.describe_error)
        return _DESCRIBED[resource_type](resource)

    def _folder_members(self, params: dict[str, Any]) -> dict[str, Any]:
        folder = self._owned(params["AwsAccountId"], "folder", params["FolderId"])
        members = [
            ((float(index), arn), {"MemberId": arn_parts(arn)[1], "MemberArn": arn})
            for index, arn in enumerate(folder.members)
        ]
        found, token = _page("ListFolderMembers", params, members)
        return {"FolderMemberList": found, **({"NextToken": token} if token else {})}

    def _tags(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.get(params["ResourceArn"])
        if resource is None:
            raise _error("ResourceNotFoundException", f"Resource {params['ResourceArn']} was not found.")
        return {"Tags": [{"Key": key, "Value": value} for key, value in resource.tags]}


def _theme(resource: Resource) -> dict[str, str]:
    themes = resource.dependencies_of_type("theme")
    return {"ThemeArn": themes[0]} if themes else {}


def _described_dashboard(resource: Resource) -> dict[str, Any]:
    version = {
        "CreatedTime": resource.last_updated_at,
        "VersionNumber": resource.version,
        "Status": "CREATION_SUCCESSFUL",
        "Arn": f"{resource.arn}/version/{resource.version}",
        "DataSetArns": resource.dependencies_of_type("dataset"),
        **_theme(resource),
        "Sheets": [],
    }
    return {
        "Dashboard": {
            "DashboardId": resource.id,
            "Arn": resource.arn,
            "Name": resource.name,
            "Version": version,
            "CreatedTime": resource.created_at,
            "LastPublishedTime": resource.last_updated_at,
            "LastUpdatedTime": resource.last_updated_at,
        }
    }


def _described_analysis(resource: Resource) -> dict[str, Any]:
    return {
        "Analysis": {
            "AnalysisId": resource.id,
            "Arn": resource.arn,
            "Name": resource.name,
            "Status": resource.status,
            "DataSetArns": resource.dependencies_of_type("dataset"),
            **_theme(resource),
            "CreatedTime": resource.created_at,
            "LastUpdatedTime": resource.last_updated_at,
            "Sheets": [],
        }
    }


_COLUMNS = [{"Name": "id", "Type": "STRING"}]


def _described_data_set(resource: Resource) -> dict[str, Any]:
    """A data set reads a table of each data source it depends on, and the data sets it is built on."""
    physical = {
        f"table-{index}": {
            "RelationalTable": {"DataSourceArn": arn, "Name": f"table_{index}", "InputColumns": _COLUMNS}
        }
        for index, arn in enumerate(resource.dependencies_of_type("datasource"))
    }
    logical: dict[str, Any] = {
        f"logical-{table}": {"Alias": table, "Source": {"PhysicalTableId": table}} for table in physical
    }
    logical |= {
        f"logical-dataset-{index}": {"Alias": f"dataset-{index}", "Source": {"DataSetArn": arn}}
        for index, arn in enumerate(resource.dependencies_of_type("dataset"))
    }
    return {
        "DataSet": {
            "Arn": resource.arn,
            "DataSetId": resource.id,
            "Name": resource.name,
            "CreatedTime": resource.created_at,
            "LastUpdatedTime": resource.last_updated_at,
            "PhysicalTableMap": physical,
            "LogicalTableMap": logical,
            "OutputColumns": [{"Name": "id", "Type": "STRING"}],
            "ImportMode": "SPICE",
        }
    }


_DESCRIBED: dict[str, Callable[[Resource], dict[str, Any]]] = {
    "dashboard": _described_dashboard,
    "analysis": _described_analysis,
    "dataset": _described_data_set,
}


# The data source types the developer guide says asset bundles cannot export.
UNBUNDLABLE_DATA_SOURCE_TYPES = ("ADOBE_ANALYTICS", "GITHUB", "JIRA", "SALESFORCE", "SERVICENOW", "TWITTER")


def unbundlable(resource: Resource) -> str | None:
    """Why an export job cannot bundle ``resource`` (None when it can): an unsupported data source, an uploaded file."""
    if resource.type == "datasource" and resource.data_source_type in UNBUNDLABLE_DATA_SOURCE_TYPES:
        return f"Data source {resource.arn} of type {resource.data_source_type} is not supported in asset bundles."
    if resource.describe_error == FILE_UPLOAD_REFUSAL:
        return f"Data set {resource.arn} was made from an uploaded file and is not supported in asset bundles."
    return None


def tag_pairs(tags: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((tags or {}).items()))


def resolve(assets: Assets, arns: Sequence[str], with_dependencies: bool) -> tuple[list[Resource], list[str]]:
    """The assets an export job bundles (in a stable order), and the ARNs it cannot find."""
    exported: list[Resource] = []
    missing: list[str] = []
    pending, seen = list(arns), set()
    while pending:
        arn = pending.pop(0)
        if arn in seen:
            continue
        seen.add(arn)
        resource = assets.exportable(arn)
        if resource is None:
            missing.append(arn)
            continue
        exported.append(resource)
        if with_dependencies:
            pending.extend(resource.dependencies)
    return exported, missing
