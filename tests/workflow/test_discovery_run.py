"""Runs that discover: the whole estate archived from a ``discover``, unsupported assets recorded, 2,000 assets."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections import Counter
from typing import Any

from archiver.core import layout
from tests.local.estate import ACCOUNT, EstateShape, arn, seed_estate
from tests.workflow.conftest import LocalArchive

INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def discovery(**discover: Any) -> dict[str, Any]:
    return {"quicksight": {"awsAccountId": ACCOUNT, "discover": discover}}


def bundled(manifest: dict[str, Any]) -> Counter[str]:
    return Counter(
        a
        for artifact in manifest["artifacts"]
        if artifact["kind"] == "bundle"
        for a in artifact["source"]["resourceArns"]
    )


def test_a_discovery_run_archives_every_discovered_asset(archive: LocalArchive) -> None:
    # Given an estate of some 40 assets, dashboards sharing data sets, and no bundle listed by hand
    estate = seed_estate(archive.emulator)

    # When a run discovers it
    result = archive.run(discovery(), name="discover-1")

    # Then it ends with every asset bundles can export archived, once, and the two they cannot recorded
    manifest = archive.manifest("discover-1")
    assert result.status == "SUCCEEDED", result.cause
    assert sorted(bundled(manifest)) == estate.exportable
    assert set(bundled(manifest).values()) == {1}
    assert result.output["unsupported"] == 2
    assert result.output["failed"] == 0
    # And each bundle in the archive holds what its source says it exports, and nothing more
    for artifact in manifest["artifacts"]:
        names = zipfile.ZipFile(io.BytesIO(archive.read(artifact["key"]))).namelist()
        exported = [name for name in names if name.count("/") == 1 and name.endswith(".json")]
        assert len(exported) == len(artifact["source"]["resourceArns"]), artifact["itemId"]
    # And the export jobs named only those assets, each job without its dependencies
    jobs = archive.emulator.requests_for("StartAssetBundleExportJob")
    assert sorted(a for job in jobs for a in job["params"]["ResourceArns"]) == estate.exportable
    assert not any(job["params"].get("IncludeAllDependencies") for job in jobs)
    # And the manifest says what was found, per type, and how many bundles it made
    assert manifest["discovery"]["found"] == {
        t: len(set(arns) - set(estate.unsupported)) for t, arns in estate.by_type.items()
    }
    assert manifest["discovery"]["bundles"] == len(manifest["artifacts"])


def test_an_unsupported_asset_is_recorded_with_the_reason_and_sinks_no_bundle(archive: LocalArchive) -> None:
    # Given an estate with a Salesforce data source and a data set made from an uploaded file
    estate = seed_estate(archive.emulator)

    # When a run discovers it
    result = archive.run(discovery(types=["dashboard", "dataset", "datasource"]), name="discover-2")

    # Then both are recorded as unsupported, saying why, and neither is among the failures
    manifest = archive.manifest("discover-2")
    unsupported = {asset["arn"]: asset for asset in manifest["unsupported"]}
    assert sorted(unsupported) == sorted(estate.unsupported)
    assert unsupported[arn("datasource/crm")]["type"] == "datasource"
    assert "Salesforce" in unsupported[arn("datasource/crm")]["reason"]
    assert (
        "uploaded" in unsupported[arn("dataset/uploaded-sheet")]["reason"]
        or "describe" in unsupported[arn("dataset/uploaded-sheet")]["reason"]
    )
    assert manifest["failures"] == []
    assert result.status == "SUCCEEDED", result.cause
    # And the data set on the Salesforce source and its group's neighbours are archived
    assert arn("dataset/crm-accounts") in bundled(manifest)
    assert manifest["summary"]["unsupported"] == 2


def test_listed_bundles_and_discovered_apps_are_archived_beside_the_discovered_estate(archive: LocalArchive) -> None:
    # Given an estate, a bundle listed by hand, and Q Apps the archive user can see (its own, the library's)
    seed_estate(
        archive.emulator, EstateShape(sources=1, data_sets=2, themes=1, dashboards=1, analyses=0, unsupported=False)
    )
    archive.emulator.add_quicksight_resource(arn("dashboard/listed"))
    apps = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"app-{n}")) for n in range(3)]
    for n, app_id in enumerate(apps):
        archive.emulator.add_qapp(
            instance_id=INSTANCE, app_id=app_id, title=f"App {n}", visible=n != 2, in_library=n != 0
        )
    document = {
        "quicksight": {
            "awsAccountId": ACCOUNT,
            "bundles": [{"name": "listed", "resourceArns": [arn("dashboard/listed")]}],
            "discover": {"types": ["dashboard"], "include": {"ids": ["dash-*"]}},
        },
        "qapps": {"instanceId": INSTANCE, "discoverApps": True},
    }

    # When the run executes
    result = archive.run(document, name="discover-3")

    # Then the listed bundle, the discovered dashboard with its dependencies and every visible app are archived
    assert result.status == "SUCCEEDED", result.cause
    manifest = archive.manifest("discover-3")
    items = {artifact["itemId"] for artifact in manifest["artifacts"]}
    assert "bundle/listed" in items
    assert {f"app/{app_id}" for app_id in apps} <= items
    assert sorted(bundled(manifest)) == sorted(
        [
            arn("dashboard/listed"),
            arn("dashboard/dash-0000"),
            arn("dataset/ds-0000"),
            arn("dataset/ds-0001"),
            arn("datasource/src-0000"),
            arn("theme/theme-00"),
        ]
    )
    assert manifest["discovery"]["apps"] == 3


def test_a_discovery_that_dies_is_a_failure_and_the_listed_items_are_archived(archive: LocalArchive) -> None:
    # Given a QuickSight that refuses every listing of dashboards, and a bundle listed by hand
    archive.emulator.add_quicksight_resource(arn("dashboard/listed"))
    archive.emulator.inject_api_error("ListDashboards", "InternalFailureException", times=1000)
    document = {
        "quicksight": {
            "awsAccountId": ACCOUNT,
            "bundles": [{"name": "listed", "resourceArns": [arn("dashboard/listed")]}],
            "discover": {"types": ["dashboard"]},
        }
    }

    # When the run executes
    result = archive.run(document, name="discover-4")

    # Then the listed bundle is archived, and the run fails naming discovery
    manifest = archive.manifest("discover-4")
    assert [artifact["itemId"] for artifact in manifest["artifacts"]] == ["bundle/listed"]
    assert result.status == "FAILED"
    (failure,) = manifest["failures"]
    assert failure["kind"] == "discovery"
    assert "ListDashboards" in failure["error"]["message"]


def test_a_discovery_run_over_2000_assets_accounts_for_every_one(archive: LocalArchive) -> None:
    # Given an estate of 2,000 assets: most of them data sets, shared by dashboards and analyses
    shape = EstateShape(sources=40, data_sets=1907, themes=5, dashboards=30, analyses=15, unsupported=True)
    estate = seed_estate(archive.emulator, shape)
    assert len(estate.arns) == 2000

    # When a run discovers it
    result = archive.run(discovery(), name="discover-2000")

    # Then every asset is in the manifest: archived in exactly one bundle, or recorded as unsupported
    manifest = archive.manifest("discover-2000")
    assert result.status == "SUCCEEDED", result.cause
    held = bundled(manifest)
    assert set(held.values()) == {1}
    assert sorted([*held, *(asset["arn"] for asset in manifest["unsupported"])]) == estate.arns
    # And no job exported over 100 ARNs, each dashboard and analysis its own
    jobs = archive.emulator.requests_for("StartAssetBundleExportJob")
    assert max(len(job["params"]["ResourceArns"]) for job in jobs) <= 100
    assert len(jobs) == len(manifest["artifacts"]) == manifest["summary"]["items"]
    # And the parent execution never carried the items: its history stays short
    assert len(result.history) < 100
    assert layout.discovery_key("discover-2000") in archive.keys(layout.MANIFESTS_PREFIX)
