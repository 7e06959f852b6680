"""Discovery against the emulated services: listing to the last page, filters, dependencies, grouping, pacing."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from archiver.archive.models import AssetFilter, AssetType, DiscoverRequest
from archiver.core.clients import _SERVICE_CONFIG
from archiver.core.errors import ServiceBusyError
from archiver.discovery import pacing
from archiver.discovery.estate import discover_apps, discover_quicksight
from archiver.discovery.grouping import AVERAGE_GROUP_SIZE, MAX_BUNDLE_ARNS, Found, groups
from archiver.discovery.listing import LISTINGS, Asset, list_assets
from archiver.discovery.pacing import Pacer
from tests.local.emulator import ServiceEmulator
from tests.local.estate import ACCOUNT, Estate, EstateShape, arn, seed_estate

INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as running:
        yield running


@pytest.fixture
def quicksight(emulator: ServiceEmulator) -> BaseClient:
    # As the step makes it: one attempt a call, the pacer retries.
    return emulator.client("quicksight", config=_SERVICE_CONFIG)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pacer's back-off waits, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(pacing.time, "sleep", slept.append)
    return slept


PACER = Pacer(seconds_left=lambda: 900.0)


def discover(quicksight: BaseClient, request: DiscoverRequest | None = None, taken: set[str] | None = None) -> Any:
    return discover_quicksight(
        quicksight,
        PACER,
        account_id=ACCOUNT,
        request=request or DiscoverRequest(),
        run_id="run-1",
        taken=taken or set(),
    )


def test_a_list_call_is_paged_to_its_last_page_100_at_a_time(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given 250 data sets
    for n in range(250):
        emulator.add_quicksight_resource(arn(f"dataset/ds-{n:03d}"))
    # When they are listed
    listed = list_assets(quicksight, PACER, account_id=ACCOUNT, listing=LISTINGS["dataset"])
    # Then every one is found, once, in three pages of at most 100
    assert sorted(asset.arn for asset in listed) == [arn(f"dataset/ds-{n:03d}") for n in range(250)]
    requests = emulator.requests_for("ListDataSets")
    assert [request["params"]["MaxResults"] for request in requests] == [100, 100, 100]
    assert ["NextToken" in request["params"] for request in requests] == [False, True, True]


def test_a_listed_asset_carries_its_change_markers(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given a dashboard published twice and a theme
    emulator.add_quicksight_resource(arn("dashboard/sales"))
    emulator.add_quicksight_resource(arn("theme/brand"))
    emulator.edit_quicksight_asset(arn("dashboard/sales"))
    # When they are listed
    (dashboard,) = list_assets(quicksight, PACER, account_id=ACCOUNT, listing=LISTINGS["dashboard"])
    (theme,) = list_assets(quicksight, PACER, account_id=ACCOUNT, listing=LISTINGS["theme"])
    # Then the dashboard's version and the theme's are the ones QuickSight lists, with LastUpdatedTime
    assert (dashboard.version, theme.version) == (2, 1)
    assert dashboard.fingerprint().last_updated_time is not None
    assert dashboard.last_updated_time != theme.last_updated_time  # the edit moved it
    # And QuickSight's own themes are no one's to archive
    assert theme.arn == arn("theme/brand")


def test_throttled_list_calls_are_backed_off_and_go_on(
    emulator: ServiceEmulator, quicksight: BaseClient, waits: list[float]
) -> None:
    # Given a QuickSight that throttles the listing three times
    emulator.add_quicksight_resource(arn("dataset/orders"))
    emulator.inject_api_error("ListDataSets", "ThrottlingException", times=3)
    # When the data sets are listed
    listed = list_assets(quicksight, PACER, account_id=ACCOUNT, listing=LISTINGS["dataset"])
    # Then the listing comes through after three waits, each within the back-off's cap
    assert [asset.id for asset in listed] == ["orders"]
    assert len(waits) == 3
    assert all(0 <= wait <= pacing.WAIT_CAP_SECONDS for wait in waits)


def test_a_service_still_busy_after_the_back_off_leaves_it_to_the_state_machine(
    emulator: ServiceEmulator, quicksight: BaseClient, waits: list[float]
) -> None:
    # Given a QuickSight that throttles every attempt
    emulator.inject_api_error("ListDashboards", "ThrottlingException", times=pacing.ATTEMPTS)
    # When discovery lists the dashboards, Then it fails busy (retried by the step's Retry), not with less
    with pytest.raises(ServiceBusyError):
        discover(quicksight)
    assert len(waits) == pacing.ATTEMPTS - 1


def test_no_wait_outlasts_the_steps_time(emulator: ServiceEmulator, quicksight: BaseClient, waits: list[float]) -> None:
    # Given a step with less time left than it keeps for writing the plan
    emulator.inject_api_error("ListDashboards", "ThrottlingException", times=1, retry_after_seconds=5)
    almost_out = Pacer(seconds_left=lambda: pacing.TIME_RESERVED_SECONDS + 1)
    # When the listing is throttled, Then it is not waited out: the busy error leaves the step at once
    with pytest.raises(ServiceBusyError):
        list_assets(quicksight, almost_out, account_id=ACCOUNT, listing=LISTINGS["dashboard"])
    assert waits == []


def _asset(asset_id: str, name: str = "", asset_type: AssetType = "dashboard") -> Asset:
    return Asset(
        type=asset_type, arn=arn(f"{asset_type}/{asset_id}"), id=asset_id, name=name or asset_id, last_updated_time=None
    )


@pytest.mark.parametrize(
    ("include", "exclude", "kept"),
    [
        ({}, {}, ["fin-sales", "fin-scratch", "ops-daily"]),
        ({"ids": ["fin-*"]}, {}, ["fin-sales", "fin-scratch"]),
        ({"ids": ["fin-*"]}, {"ids": ["*-scratch"]}, ["fin-sales"]),
        ({"names": ["Finance *"]}, {}, ["fin-sales"]),
        ({"ids": ["fin-*", "ops-*"]}, {"names": ["*Scratch*"]}, ["fin-sales", "ops-daily"]),
        ({"ids": ["FIN-*"]}, {}, []),  # case-sensitive, as ids are
    ],
)
def test_ids_and_names_are_matched_as_globs(include: dict[str, Any], exclude: dict[str, Any], kept: list[str]) -> None:
    from archiver.discovery.filters import named_in

    assets = [_asset("fin-sales", "Finance sales"), _asset("fin-scratch", "Scratch pad"), _asset("ops-daily", "Ops")]
    chosen = [
        a.id for a in assets if named_in(a, AssetFilter.model_validate(include), AssetFilter.model_validate(exclude))
    ]
    assert chosen == kept


def test_tag_filters_keep_what_carries_every_included_tag_and_none_excluded(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given dashboards tagged in different ways
    emulator.add_quicksight_resource(arn("dashboard/a"), tags={"archive": "yes", "team": "finance"})
    emulator.add_quicksight_resource(arn("dashboard/b"), tags={"archive": "yes", "team": "scratch-1"})
    emulator.add_quicksight_resource(arn("dashboard/c"), tags={"archive": "no"})
    emulator.add_quicksight_resource(arn("dashboard/d"))
    request = DiscoverRequest.model_validate(
        {"types": ["dashboard"], "include": {"tags": {"archive": "yes"}}, "exclude": {"tags": {"team": "scratch-*"}}}
    )
    # When discovery runs with tag filters
    found = discover(quicksight, request)
    # Then only the dashboard tagged to archive and not a scratch one is planned
    assert [arn for bundle in found.bundles for arn in bundle.resource_arns] == [arn("dashboard/a")]
    # And tags were read only because a filter names them: once per dashboard
    assert len(emulator.requests_for("ListTagsForResource")) == 4


def test_no_tags_are_read_when_no_filter_names_tags(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    seed_estate(emulator)
    discover(quicksight)
    assert emulator.requests_for("ListTagsForResource") == []


def _holders(found: Any) -> Counter[str]:
    return Counter(a for bundle in found.bundles for a in bundle.resource_arns)


def test_every_asset_of_an_estate_is_in_one_bundle_and_each_dashboard_restores_from_its_own(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given an estate of some 40 assets whose dashboards share data sets, data sources and themes
    estate = seed_estate(emulator)
    # When it is discovered
    found = discover(quicksight)
    holders = _holders(found)
    # Then every asset a bundle can export is in exactly one bundle, and nothing else is
    assert sorted(holders) == estate.exportable
    assert set(holders.values()) == {1}
    # And each dashboard and analysis is a bundle of its own
    for asset_type in ("dashboard", "analysis"):
        for asset in estate.by_type[asset_type]:
            assert [b.resource_arns for b in found.bundles if asset in b.resource_arns] == [[asset]]
    # And no bundle exports dependencies again (each names them instead), none holds over 100 ARNs
    assert all(not b.include_all_dependencies and len(b.resource_arns) <= MAX_BUNDLE_ARNS for b in found.bundles)
    # And what a bundle needs is held by another bundle, listed before it (the order a restore needs)
    position = {a: index for index, b in enumerate(found.bundles) for a in b.resource_arns}
    for index, bundle in enumerate(found.bundles):
        assert all(position[d] < index for d in bundle.dependencies), bundle.name
    # And the counts say what was found, per type
    assert found.found == {t: len(set(arns) - set(estate.unsupported)) for t, arns in estate.by_type.items()}


def test_each_bundle_carries_its_assets_fingerprints(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    seed_estate(emulator)
    emulator.edit_quicksight_asset(arn("dashboard/dash-0003"))
    found = discover(quicksight)
    for bundle in found.bundles:
        assert [f.arn for f in bundle.assets] == bundle.resource_arns
        assert all(f.last_updated_time for f in bundle.assets)
    (dashboard,) = [b for b in found.bundles if b.resource_arns == [arn("dashboard/dash-0003")]]
    assert (dashboard.assets[0].type, dashboard.assets[0].version) == ("dashboard", 2)


def test_unsupported_assets_are_left_out_with_the_reason_and_what_uses_them_is_kept(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given a Salesforce data source (and a data set on it) and an uploaded file's data set a dashboard shows
    estate = seed_estate(emulator)
    emulator.add_quicksight_resource(arn("dashboard/private"), describe_error=("AccessDeniedException", "No access"))
    # When the estate is discovered
    found = discover(quicksight)
    # Then neither is planned, each is recorded with why, and so is a dashboard QuickSight would not describe
    reasons = {asset.arn: asset.reason for asset in found.unsupported}
    assert sorted(reasons) == sorted([*estate.unsupported, arn("dashboard/private")])
    assert "Salesforce" in reasons[arn("datasource/crm")]
    assert "refused to describe" in reasons[arn("dataset/uploaded-sheet")]
    assert "No access" in reasons[arn("dashboard/private")]
    assert not set(reasons) & set(_holders(found))
    # And the data set on the Salesforce source, and the dashboard on the uploaded sheet, are still archived
    assert {arn("dataset/crm-accounts"), arn("dashboard/dash-0000")} <= set(_holders(found))


def test_dependencies_come_with_what_the_filters_keep(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    # Given an estate, and a discovery of one dashboard by id, of dashboards only
    seed_estate(emulator, EstateShape(unsupported=False))
    request = DiscoverRequest.model_validate({"types": ["dashboard"], "include": {"ids": ["dash-0001"]}})
    # When it is discovered
    found = discover(quicksight, request)
    # Then the dashboard comes with its two data sets, their data sources and its theme: it can be restored
    assert sorted(_holders(found)) == sorted(
        [
            arn("dashboard/dash-0001"),
            arn("dataset/ds-0001"),
            arn("dataset/ds-0002"),
            arn("datasource/src-0001"),
            arn("datasource/src-0002"),
            arn("theme/theme-01"),
        ]
    )


def test_a_refused_listing_is_recorded_and_the_rest_is_discovered(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    # Given a QuickSight that refuses to list themes
    seed_estate(emulator, EstateShape(unsupported=False))
    emulator.inject_api_error("ListThemes", "AccessDeniedException", times=5)
    request = DiscoverRequest.model_validate({"types": ["dashboard", "theme"]})
    # When the estate is discovered
    found = discover(quicksight, request)
    # Then the failure names the listing and the account, and the dashboards are planned all the same
    (failure,) = found.failures
    assert (failure.kind, failure.source.listing, failure.source.aws_account_id) == ("discovery", "ListThemes", ACCOUNT)
    # And says what to fix
    assert failure.error.type == "PermissionDeniedError"
    assert "allow quicksight:ListThemes" in failure.error.message
    assert sum(1 for b in found.bundles if b.resource_arns[0].split(":")[-1].startswith("dashboard/")) == 12


def test_deleted_analyses_are_not_archived(emulator: ServiceEmulator, quicksight: BaseClient) -> None:
    seed_estate(emulator, EstateShape(unsupported=False))
    emulator.delete_quicksight_asset(arn("analysis/analysis-0000"))
    assert arn("analysis/analysis-0000") not in _holders(discover(quicksight))


def test_bundle_names_never_collide_with_those_the_input_lists(
    emulator: ServiceEmulator, quicksight: BaseClient
) -> None:
    emulator.add_quicksight_resource(arn("dashboard/sales"))
    first = discover(quicksight).bundles[0].name
    (again,) = discover(quicksight, taken={first}).bundles
    assert again.name != first and again.job_id != discover(quicksight).bundles[0].job_id


def _found(asset_type: AssetType, ids: list[str]) -> list[Found]:
    return [Found(_asset(i, asset_type=asset_type)) for i in ids]


def test_shared_assets_are_grouped_stably_so_one_addition_changes_one_group() -> None:
    # Given 400 data sets cut into groups
    ids = [f"ds-{n:04d}" for n in range(400)]
    before = {tuple(f.asset.arn for f in g) for g in groups(_found("dataset", ids))}
    # When one more data set appears
    after = {tuple(f.asset.arn for f in g) for g in groups(_found("dataset", [*ids, "ds-0200a"]))}
    # Then all groups but the one it falls in are the same (so are their bundles' fingerprints)
    assert len(before - after) == 1
    assert len(after - before) in (1, 2)
    # And groups average some AVERAGE_GROUP_SIZE assets
    assert AVERAGE_GROUP_SIZE / 2 <= 400 / len(before) <= AVERAGE_GROUP_SIZE * 2


def test_no_group_holds_more_than_a_job_allows() -> None:
    # Given ids that never hash to a boundary would all fall in one group; any 5,000 ids cut to <= 100
    cut = groups(_found("dataset", [f"x{n}" for n in range(5000)]))
    assert max(len(g) for g in cut) <= MAX_BUNDLE_ARNS
    assert sum(len(g) for g in cut) == 5000


def test_every_app_the_user_can_see_is_discovered_once(emulator: ServiceEmulator) -> None:
    # Given apps of the user's own, apps in the library, one both, and one the input lists already
    own, library, both, listed = (str(uuid.uuid4()) for _ in range(4))
    for app_id, visible, in_library in [
        (own, True, False),
        (library, False, True),
        (both, True, True),
        (listed, True, True),
    ]:
        emulator.add_qapp(instance_id=INSTANCE, app_id=app_id, title="app", visible=visible, in_library=in_library)
    qapps = emulator.client("qapps", config=_SERVICE_CONFIG)
    # When the apps are discovered
    found = discover_apps(qapps, PACER, instance_id=INSTANCE, listed=[listed])
    # Then each is planned once, but the one already listed
    assert sorted(app.app_id for app in found.apps) == sorted([own, library, both])
    assert {app.item_id for app in found.apps} == {f"app/{a}" for a in (own, library, both)}
    assert found.failures == []


def test_estate_arns_are_the_emulators(emulator: ServiceEmulator) -> None:
    # The estate helper says what it seeded: every ARN it lists is one the emulator holds
    estate: Estate = seed_estate(emulator)
    assert estate.arns == emulator.quicksight_assets()
    assert len(estate.arns) == 41
