"""onlyChanged, as an operator sees it: a second run exports and stores only what changed since the last.

The bundles carry their assets' fingerprints as discovery plans them (each dashboard alone, without
IncludeAllDependencies, its data set in a bundle of its own), read here from the emulator as
QuickSight's List calls would answer them.
"""

from __future__ import annotations

from typing import Any

import pytest

from archiver import catalogue
from tests.workflow.conftest import LocalArchive
from tests.workflow.test_archive_run import ACCOUNT, INSTANCE, SESSIONS, arn, qapps
from tests.workflow.test_restore_run import Restorer

ASSETS = ["dashboard/sales", "dashboard/ops", "dashboard/hr", "dataset/orders"]


def fingerprinted_bundle(archive: LocalArchive, resource: str) -> dict[str, Any]:
    """A bundle of one asset, with its fingerprint as the emulator's List call would give it."""
    held = archive.emulator.quicksight_asset(arn(resource))
    asset = {
        "arn": arn(resource),
        "type": resource.split("/")[0],
        "lastUpdatedTime": str(held["last_updated_at"]),
        "version": held["version"] if resource.startswith("dashboard/") else None,
    }
    return {
        "name": resource.replace("/", "-"),
        "resourceArns": [arn(resource)],
        "includeAllDependencies": False,
        "assets": [asset],
    }


def estate(archive: LocalArchive, resources: list[str] = ASSETS) -> dict[str, Any]:
    return {
        "quicksight": {"awsAccountId": ACCOUNT, "bundles": [fingerprinted_bundle(archive, r) for r in resources]},
        "qapps": qapps(SESSIONS[0]),
    }


@pytest.fixture
def seeded(archive: LocalArchive) -> LocalArchive:
    for resource in ASSETS:
        archive.emulator.add_quicksight_resource(arn(resource))
    app_id, session_id = SESSIONS[0]
    archive.emulator.add_session(instance_id=INSTANCE, app_id=app_id, session_id=session_id, csv=b"q,a\n1,2\n")
    archive.emulator.add_qapp(instance_id=INSTANCE, app_id=app_id, title="App", app_version=1)
    return archive


def data_keys(archive: LocalArchive) -> set[str]:
    return set(archive.artifact_keys())


def exported_jobs(archive: LocalArchive) -> list[str]:
    return [
        call["params"]["AssetBundleExportJobId"] for call in archive.emulator.requests_for("StartAssetBundleExportJob")
    ]


def test_a_second_run_with_nothing_changed_starts_no_export_and_stores_nothing(seeded: LocalArchive) -> None:
    archive = seeded
    first = archive.run(estate(archive), name="nightly-1")
    assert first.status == "SUCCEEDED", first.cause
    kept, jobs, indexes = data_keys(archive), len(exported_jobs(archive)), archive.keys("catalogue/index/")

    second = archive.run(estate(archive), name="nightly-2")

    # Then it succeeds, starts no export job and stores no new object (nor a new index: nothing changed)
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["unchanged"] == second.output["items"] == 6
    assert (second.output["archived"], second.output["failed"]) == (0, 0)
    assert len(exported_jobs(archive)) == jobs
    assert data_keys(archive) == kept
    assert archive.keys("catalogue/index/") == indexes
    # And the manifest points each item at the copy that holds it, saying why it is the same
    manifest = archive.manifest("nightly-2")
    first_manifest = {item["itemId"]: item for item in archive.manifest("nightly-1")["artifacts"]}
    held = {item["itemId"]: (item["held"]["key"], item["because"]) for item in manifest["unchanged"]}
    assert held["bundle/dashboard-sales"] == (first_manifest["bundle/dashboard-sales"]["key"], "fingerprints")
    assert held[f"session/{SESSIONS[0][1]}"] == (first_manifest[f"session/{SESSIONS[0][1]}"]["key"], "sameBytes")
    assert {item["held"]["sha256"] for item in manifest["unchanged"]} == {
        item["sha256"] for item in first_manifest.values()
    }
    # And a bundle's unchanged path ends at its own state: no poll, no copy
    bundle_children = [child for child in second.children if child.map_state == "ExportBundles"]
    states = {
        e["stateEnteredEventDetails"]["name"]
        for c in bundle_children
        for e in c.history
        if "stateEnteredEventDetails" in e
    }
    assert "BundleUnchanged" in states and not states & {"WaitForBundleExport", "ArchiveBundle"}


def test_after_two_assets_change_only_the_bundles_holding_them_are_exported(seeded: LocalArchive) -> None:
    archive = seeded
    assert archive.run(estate(archive), name="nightly-1").status == "SUCCEEDED"
    archive.emulator.clock.advance(3600)
    archive.emulator.edit_quicksight_asset(arn("dashboard/sales"), name="Sales (new)")
    archive.emulator.edit_quicksight_asset(arn("dataset/orders"), name="Orders v2")
    before = len(exported_jobs(archive))

    second = archive.run(estate(archive), name="nightly-2")

    assert second.status == "SUCCEEDED", second.cause
    exported = exported_jobs(archive)[before:]
    assert sorted(job.split("-")[2] for job in exported) == ["dashboard", "dataset"]
    manifest = archive.manifest("nightly-2")
    assert sorted(item["itemId"] for item in manifest["artifacts"]) == [
        "bundle/dashboard-sales",
        "bundle/dataset-orders",
    ]
    assert sorted(item["itemId"] for item in manifest["unchanged"]) == [
        "app/" + SESSIONS[0][0],
        "bundle/dashboard-hr",
        "bundle/dashboard-ops",
        "session/" + SESSIONS[0][1],
    ]
    # And the catalogue holds both versions of the edited dashboard, the latest pointing at the new bundle
    subject = catalogue.subject_of_asset(ACCOUNT, arn("dashboard/sales"))
    versions = catalogue.entries(archive.s3, "archive-under-test", subject)
    new_key = next(item["key"] for item in manifest["artifacts"] if item["itemId"] == "bundle/dashboard-sales")
    assert [entry.run_id for entry in versions] == ["nightly-1", "nightly-2"]
    assert versions[-1].key == new_key and versions[-1].fingerprint is not None
    assert versions[0].fingerprint != versions[-1].fingerprint
    index = catalogue.latest_index(archive.s3, "archive-under-test")
    assert index is not None and index.subjects[subject].entry == versions[-1]


def test_a_bundle_given_without_fingerprints_is_exported_but_its_same_bytes_are_not_stored(
    seeded: LocalArchive,
) -> None:
    archive = seeded
    document = {
        "quicksight": {"awsAccountId": ACCOUNT, "bundles": [{"name": "ops", "resourceArns": [arn("dashboard/ops")]}]}
    }
    assert archive.run(document, name="nightly-1").status == "SUCCEEDED"
    kept, jobs = data_keys(archive), len(exported_jobs(archive))

    second = archive.run(document, name="nightly-2")

    assert second.status == "SUCCEEDED", second.cause
    assert len(exported_jobs(archive)) == jobs + 1
    assert data_keys(archive) == kept
    [item] = archive.manifest("nightly-2")["unchanged"]
    assert item["because"] == "sameBytes" and item["held"]["runId"] == "nightly-1"
    # And with onlyChanged false the same bundle is archived afresh
    third = archive.run({**document, "onlyChanged": False}, name="nightly-3")
    assert third.output["archived"] == 1 and len(data_keys(archive)) == len(kept) + 1


def test_an_asset_a_full_discovery_no_longer_finds_is_recorded_deleted_upstream(
    seeded: LocalArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = seeded
    assert archive.run(estate(archive), name="nightly-1").status == "SUCCEEDED"
    archive.emulator.delete_quicksight_asset(arn("dashboard/hr"))
    # A discovery that lists every dashboard marks its plan so (the plan's completeTypes)
    import validate_run.handler as validate_run

    planned = validate_run.plan_run

    def full_discovery_of_dashboards(*args: Any, **kwargs: Any) -> dict[str, Any]:
        plan = planned(*args, **kwargs)
        plan["quicksight"]["completeTypes"] = ["dashboard"]
        return plan

    monkeypatch.setattr(validate_run, "plan_run", full_discovery_of_dashboards)
    remaining = [resource for resource in ASSETS if resource != "dashboard/hr"]

    second = archive.run(estate(archive, remaining), name="nightly-2")

    assert second.status == "SUCCEEDED", second.cause
    manifest = archive.manifest("nightly-2")
    hr_key = next(
        item["key"] for item in archive.manifest("nightly-1")["artifacts"] if item["itemId"] == "bundle/dashboard-hr"
    )
    assert [(item["arn"], item["key"]) for item in manifest["deletedUpstream"]] == [(arn("dashboard/hr"), hr_key)]
    assert second.output["deletedUpstream"] == 1
    # Nothing archived is removed: the deleted dashboard's bundle is still there
    assert hr_key in archive.keys("quicksight/")


def test_an_item_unchanged_in_the_latest_run_restores_from_the_copy_that_holds_it(
    seeded: LocalArchive, synthesized_template: dict[str, Any]
) -> None:
    archive = seeded
    assert archive.run(estate(archive), name="nightly-1").status == "SUCCEEDED"
    assert archive.run(estate(archive), name="nightly-2").output["unchanged"] == 6
    held = next(a["key"] for a in archive.manifest("nightly-1")["artifacts"] if a["itemId"] == "bundle/dashboard-ops")
    restorer = Restorer(archive, synthesized_template)

    # When the latest run's item is validated for a restore, by manifest and itemId
    reference = {"manifest": "nightly-2", "itemId": "bundle/dashboard-ops"}
    result = restorer.run({"mode": "validate", "quicksight": {"bundles": [{"from": reference}]}}, name="v-1")

    # Then the copy nightly-1 archived is the one checked, whole, and what it holds listed
    assert result.status == "SUCCEEDED", result.cause
    [item] = restorer.report("v-1")["items"]
    assert item["status"] == "validated" and item["source"]["key"] == held
    assert item["result"]["resources"] == ["dashboard/ops"]
