"""Contract tests of the emulator's List, Describe and tag calls (QuickSight) and app listings (Q Apps).

Each answer is held to botocore's output shape for its operation (``tests/emulator/model_shapes.py``), and
paged through with boto3's own paginators, so the tokens and page sizes are the ones botocore expects.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from botocore import xform_name
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.emulator.exports import ACCOUNT, error_of
from tests.emulator.model_shapes import shape_problems
from tests.local.emulator import DEFAULT_EPOCH, ServiceEmulator

INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def arn(resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:quicksight:us-east-1:{account}:{resource}"


SOURCE = arn("datasource/warehouse")
CRM = arn("datasource/crm")
ORDERS = arn("dataset/orders")
ENRICHED = arn("dataset/orders-enriched")
UPLOAD = arn("dataset/uploaded-sheet")
THEME = arn("theme/brand")
DASHBOARD = arn("dashboard/sales")
ANALYSIS = arn("analysis/sales-drilldown")
FOLDER = arn("folder/finance")


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as running:
        running.add_quicksight_resource(SOURCE, name="Warehouse")
        running.add_quicksight_resource(CRM, name="CRM", data_source_type="SALESFORCE")
        running.add_quicksight_resource(ORDERS, name="Orders", dependencies=[SOURCE])
        running.add_quicksight_resource(ENRICHED, dependencies=[ORDERS, CRM])
        running.add_quicksight_resource(UPLOAD, file_upload=True)
        running.add_quicksight_resource(THEME)
        running.add_quicksight_resource(
            DASHBOARD, name="Sales", dependencies=[ORDERS, THEME], tags={"archive": "yes", "team": "finance"}
        )
        running.add_quicksight_resource(ANALYSIS, dependencies=[ENRICHED])
        running.add_quicksight_resource(FOLDER, members=[DASHBOARD, ANALYSIS])
        yield running


def test_every_list_call_pages_through_its_assets_in_the_models_shapes(quicksight: BaseClient) -> None:
    # Given an estate of every type, When each List call is paged through one item a page
    listed: dict[str, list[str]] = {}
    for operation, member in [
        ("ListDashboards", "DashboardSummaryList"),
        ("ListAnalyses", "AnalysisSummaryList"),
        ("ListDataSets", "DataSetSummaries"),
        ("ListDataSources", "DataSources"),
        ("ListThemes", "ThemeSummaryList"),
        ("ListFolders", "FolderSummaryList"),
    ]:
        extra = {"Type": "CUSTOM"} if operation == "ListThemes" else {}
        paginator = quicksight.get_paginator(xform_name(operation))
        pages = list(paginator.paginate(AwsAccountId=ACCOUNT, PaginationConfig={"PageSize": 1}, **extra))
        # Then every answer is in the model's shape, one item a page, a token on all but the last
        for page in pages:
            assert shape_problems("quicksight", operation, page) == []
            assert len(page[member]) <= 1
        assert [("NextToken" in page) for page in pages] == [True] * (len(pages) - 1) + [False]
        listed[operation] = [summary["Arn"] for page in pages for summary in page[member]]
    # And each lists exactly its type, oldest first (then by id)
    assert listed == {
        "ListDashboards": [DASHBOARD],
        "ListAnalyses": [ANALYSIS],
        "ListDataSets": [ORDERS, ENRICHED, UPLOAD],
        "ListDataSources": [CRM, SOURCE],
        "ListThemes": [THEME],
        "ListFolders": [FOLDER],
    }


def test_summaries_carry_the_change_markers_and_types(quicksight: BaseClient) -> None:
    # When the summaries are listed
    dashboard = quicksight.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"][0]
    sources = quicksight.list_data_sources(AwsAccountId=ACCOUNT)["DataSources"]
    theme = quicksight.list_themes(AwsAccountId=ACCOUNT, Type="CUSTOM")["ThemeSummaryList"][0]
    # Then each carries its LastUpdatedTime, a dashboard its published version, a theme its latest version
    assert dashboard["LastUpdatedTime"].timestamp() == DEFAULT_EPOCH
    assert (dashboard["Name"], dashboard["PublishedVersionNumber"]) == ("Sales", 1)
    assert theme["LatestVersionNumber"] == 1
    # And a data source its type, as the model's enum spells it
    assert {source["Name"]: source["Type"] for source in sources} == {"Warehouse": "ATHENA", "CRM": "SALESFORCE"}


@pytest.mark.parametrize("max_results", [101, 1000])
def test_a_page_size_past_100_is_refused_as_the_service_refuses_it(quicksight: BaseClient, max_results: int) -> None:
    # When a List call asks for more than 100 items a page (botocore checks only the minimum)
    with pytest.raises(quicksight.exceptions.InvalidParameterValueException) as excinfo:
        quicksight.list_data_sets(AwsAccountId=ACCOUNT, MaxResults=max_results)
    # Then QuickSight refuses it, naming the member and its bounds
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "between 1 and 100" in str(excinfo.value)
    # And 100 is accepted
    assert quicksight.list_data_sets(AwsAccountId=ACCOUNT, MaxResults=100)["DataSetSummaries"]


def test_a_token_of_another_call_is_refused(quicksight: BaseClient) -> None:
    # Given a token of ListDataSets
    token = quicksight.list_data_sets(AwsAccountId=ACCOUNT, MaxResults=1)["NextToken"]
    # When it is given to ListDataSources, or a token is garbled, Then QuickSight answers InvalidNextTokenException
    for bad in (token, "not-a-token"):
        with pytest.raises(quicksight.exceptions.InvalidNextTokenException):
            quicksight.list_data_sources(AwsAccountId=ACCOUNT, NextToken=bad)


def test_a_deletion_between_pages_skips_no_other_asset(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a first page of one data set
    first = quicksight.list_data_sets(AwsAccountId=ACCOUNT, MaxResults=1)
    # When that data set is deleted before the next page is asked for
    emulator.delete_quicksight_asset(ORDERS)
    rest = quicksight.list_data_sets(AwsAccountId=ACCOUNT, NextToken=first["NextToken"])
    # Then the next page starts with the one after it
    assert [s["Arn"] for s in rest["DataSetSummaries"]] == [ENRICHED, UPLOAD]


def test_themes_of_every_type_include_quicksights_own(quicksight: BaseClient) -> None:
    # When themes are listed without a type, Then QuickSight's own themes (account "aws") come with the account's
    listed = [t["Arn"] for t in quicksight.list_themes(AwsAccountId=ACCOUNT)["ThemeSummaryList"]]
    assert THEME in listed
    assert "arn:aws:quicksight::aws:theme/MIDNIGHT" in listed
    # And Type QUICKSIGHT lists only those
    own = quicksight.list_themes(AwsAccountId=ACCOUNT, Type="QUICKSIGHT")["ThemeSummaryList"]
    assert {t["Arn"].split(":")[4] for t in own} == {"aws"}


def test_describe_calls_report_dependencies_in_the_models_shapes(quicksight: BaseClient) -> None:
    # When a dashboard, an analysis and a data set are described
    dashboard = quicksight.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId="sales")
    analysis = quicksight.describe_analysis(AwsAccountId=ACCOUNT, AnalysisId="sales-drilldown")
    data_set = quicksight.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="orders-enriched")
    # Then each answer is in its shape
    for operation, answer in [
        ("DescribeDashboard", dashboard),
        ("DescribeAnalysis", analysis),
        ("DescribeDataSet", data_set),
    ]:
        assert shape_problems("quicksight", operation, answer) == []
    # And the dashboard names its data sets and theme in its version, the analysis its data sets
    assert dashboard["Dashboard"]["Version"]["DataSetArns"] == [ORDERS]
    assert dashboard["Dashboard"]["Version"]["ThemeArn"] == THEME
    assert analysis["Analysis"]["DataSetArns"] == [ENRICHED]
    # And the data set its data sources (physical tables) and the data sets it is built on (logical tables)
    tables = data_set["DataSet"]["PhysicalTableMap"].values()
    assert [table["RelationalTable"]["DataSourceArn"] for table in tables] == [CRM]
    sources = [table["Source"] for table in data_set["DataSet"]["LogicalTableMap"].values()]
    assert [source["DataSetArn"] for source in sources if "DataSetArn" in source] == [ORDERS]


def test_a_data_set_from_an_uploaded_file_cannot_be_described(quicksight: BaseClient) -> None:
    with pytest.raises(quicksight.exceptions.InvalidParameterValueException) as excinfo:
        quicksight.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="uploaded-sheet")
    assert "not supported through API" in str(excinfo.value)


def test_a_refused_describe_answers_the_modeled_status(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a data set whose describe the caller may not make
    emulator.add_quicksight_resource(arn("dataset/hr"), describe_error=("AccessDeniedException", "Not allowed."))
    # When it is described, Then QuickSight answers AccessDeniedException with its model's 401
    with pytest.raises(quicksight.exceptions.AccessDeniedException) as excinfo:
        quicksight.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="hr")
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 401
    # And describing what is not there is ResourceNotFoundException
    with pytest.raises(quicksight.exceptions.ResourceNotFoundException):
        quicksight.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId="nope")


def test_tags_are_listed_for_an_arn_sent_in_the_path(quicksight: BaseClient) -> None:
    # When a dashboard's tags are listed (its ARN, slashes and all, is a URI label)
    answer = quicksight.list_tags_for_resource(ResourceArn=DASHBOARD)
    # Then they are its tags, in the model's shape
    assert shape_problems("quicksight", "ListTagsForResource", answer) == []
    assert {t["Key"]: t["Value"] for t in answer["Tags"]} == {"archive": "yes", "team": "finance"}
    with pytest.raises(quicksight.exceptions.ResourceNotFoundException):
        quicksight.list_tags_for_resource(ResourceArn=arn("dashboard/nope"))


def test_folder_members_are_paged(quicksight: BaseClient) -> None:
    pages = list(
        quicksight.get_paginator("list_folder_members").paginate(
            AwsAccountId=ACCOUNT, FolderId="finance", PaginationConfig={"PageSize": 1}
        )
    )
    assert all(shape_problems("quicksight", "ListFolderMembers", page) == [] for page in pages)
    assert [m["MemberArn"] for page in pages for m in page["FolderMemberList"]] == [DASHBOARD, ANALYSIS]


def test_an_edit_moves_the_change_markers_and_changes_the_next_bundle(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given a bundle of the dashboard exported before any change, and one again, unchanged
    bundles = [_exported(emulator, quicksight, f"before-{n}") for n in range(2)]
    # When an hour later the dashboard is edited and published
    emulator.clock.advance(3600)
    edited_at = emulator.clock.now()
    emulator.edit_quicksight_asset(DASHBOARD, name="Sales (new)")
    # Then its LastUpdatedTime and published version moved, and its describe says so
    summary = quicksight.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"][0]
    assert summary["LastUpdatedTime"].timestamp() == edited_at > DEFAULT_EPOCH
    assert summary["PublishedVersionNumber"] == 2
    version = quicksight.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId="sales")["Dashboard"]["Version"]
    assert version["VersionNumber"] == 2
    # And the two exports of the unchanged dashboard were byte for byte the same, the next one differs
    after = _exported(emulator, quicksight, "after")
    assert bundles[0] == bundles[1] != after
    with zipfile.ZipFile(io.BytesIO(after)) as bundle:
        assert json.loads(bundle.read("dashboard/sales.json"))["name"] == "Sales (new)"


def _exported(emulator: ServiceEmulator, quicksight: BaseClient, job_id: str) -> bytes:
    quicksight.start_asset_bundle_export_job(
        AwsAccountId=ACCOUNT, AssetBundleExportJobId=job_id, ResourceArns=[DASHBOARD], ExportFormat="QUICKSIGHT_JSON"
    )
    emulator.clock.advance(emulator.export_duration_seconds)
    return emulator.bundle_bytes(job_id)


def test_a_deleted_asset_leaves_its_list_but_an_analysis_stays_listed_deleted(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # When a dashboard and an analysis are deleted
    emulator.delete_quicksight_asset(DASHBOARD)
    emulator.delete_quicksight_asset(ANALYSIS)
    # Then the dashboard is no longer listed, and the analysis is listed as DELETED (its recovery window)
    assert quicksight.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"] == []
    assert [a["Status"] for a in quicksight.list_analyses(AwsAccountId=ACCOUNT)["AnalysisSummaryList"]] == ["DELETED"]
    # And an export of either fails, naming what was not found
    quicksight.start_asset_bundle_export_job(
        AwsAccountId=ACCOUNT,
        AssetBundleExportJobId="gone",
        ResourceArns=[DASHBOARD, ANALYSIS],
        ExportFormat="QUICKSIGHT_JSON",
    )
    emulator.clock.advance(emulator.export_duration_seconds)
    job = quicksight.describe_asset_bundle_export_job(AwsAccountId=ACCOUNT, AssetBundleExportJobId="gone")
    assert [error["Arn"] for error in job["Errors"]] == [DASHBOARD, ANALYSIS]


def test_injected_throttling_answers_the_next_calls_then_lets_them_through(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given two throttled ListDashboards calls
    emulator.inject_api_error("ListDashboards", "ThrottlingException", times=2)
    # When it is called three times, Then the first two answer ThrottlingException (429), the third the list
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            quicksight.list_dashboards(AwsAccountId=ACCOUNT)
        assert (error_of(excinfo)["Error"]["Code"], error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"]) == (
            "ThrottlingException",
            429,
        )
    assert quicksight.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"]


# ---------------------------------------------------------------------------------------------
# Q Apps
# ---------------------------------------------------------------------------------------------


def _app_id(number: int) -> str:
    return f"{number:08x}-0000-4000-8000-000000000000"


def test_q_apps_lists_the_users_apps_and_the_library_in_the_models_shapes(
    emulator: ServiceEmulator, qapps: BaseClient
) -> None:
    # Given two apps of the archive user, one of them in the library, and a library app of someone else
    emulator.add_qapp(instance_id=INSTANCE, app_id=_app_id(1), title="Mine")
    emulator.add_qapp(instance_id=INSTANCE, app_id=_app_id(2), title="Mine, shared", in_library=True, app_version=3)
    emulator.add_qapp(instance_id=INSTANCE, app_id=_app_id(3), title="Theirs", visible=False, in_library=True)
    # When both lists are paged through one item a page
    apps = list(qapps.get_paginator("list_q_apps").paginate(instanceId=INSTANCE, PaginationConfig={"PageSize": 1}))
    library = [qapps.list_library_items(instanceId=INSTANCE, limit=1)]
    while "nextToken" in library[-1]:
        library.append(qapps.list_library_items(instanceId=INSTANCE, limit=1, nextToken=library[-1]["nextToken"]))
    # Then every answer is in its shape, ListQApps has the user's apps, ListLibraryItems the published ones
    assert all(shape_problems("qapps", "ListQApps", page) == [] for page in apps)
    assert all(shape_problems("qapps", "ListLibraryItems", page) == [] for page in library)
    assert [app["appId"] for page in apps for app in page["apps"]] == [_app_id(1), _app_id(2)]
    items = [item for page in library for item in page["libraryItems"]]
    assert [(item["appId"], item["appVersion"]) for item in items] == [(_app_id(2), 3), (_app_id(3), 1)]


def test_q_apps_refuses_a_page_past_100(qapps: BaseClient) -> None:
    with pytest.raises(qapps.exceptions.ValidationException):
        qapps.list_q_apps(instanceId=INSTANCE, limit=101)
