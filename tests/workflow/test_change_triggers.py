"""A change event starts a run that archives only the changed asset; a burst of them costs one export."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
import start_changed_run.handler as start_changed_run

from infra.archive.triggers import change_event_pattern
from tests.local.emulator.clock import iso8601, parse_iso8601
from tests.local.engine import LocalContext
from tests.local.event_patterns import matches
from tests.local.template import LOCAL_REGION
from tests.workflow.conftest import LocalArchive
from tests.workflow.test_archive_run import ACCOUNT, arn

DASHBOARDS = ["dashboard/sales", "dashboard/ops", "dashboard/hr"]
WINDOW_MINUTES = 15
PATTERN = change_event_pattern(["dashboard", "dataset"])


def nightly(resources: list[str]) -> dict[str, Any]:
    # Bundles given no name: ValidateRun derives the one a change-driven run of the same asset gets.
    bundles = [{"resourceArns": [arn(r)], "includeAllDependencies": False} for r in resources]
    return {"quicksight": {"awsAccountId": ACCOUNT, "bundles": bundles}}


@pytest.fixture
def triggers(archive: LocalArchive, monkeypatch: pytest.MonkeyPatch) -> LocalArchive:
    monkeypatch.setenv("STATE_MACHINE_ARN", archive.engine.state_machine_arn)
    monkeypatch.setenv("CHANGE_TRIGGER_TYPES", "dashboard,dataset")
    monkeypatch.setenv("CHANGE_TRIGGER_WINDOW_MINUTES", str(WINDOW_MINUTES))
    for resource in DASHBOARDS:
        archive.emulator.add_quicksight_resource(arn(resource))
    return archive


def deliver(archive: LocalArchive, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What EventBridge would do with ``events``: each that the rule matches goes to the trigger function."""
    context = LocalContext(function_name="start_changed_run", invoked_function_arn="arn:local")
    return [start_changed_run.lambda_handler(event, context) for event in events if matches(PATTERN, event)]


def export_requests(archive: LocalArchive) -> list[dict[str, Any]]:
    return [call["params"] for call in archive.emulator.requests_for("StartAssetBundleExportJob")]


def test_a_burst_of_change_events_starts_one_run_that_archives_only_that_asset(triggers: LocalArchive) -> None:
    archive = triggers
    assert archive.run(nightly(DASHBOARDS), name="nightly-1").status == "SUCCEEDED"
    exports_before = len(export_requests(archive))
    # A person edits and publishes one dashboard three times within a few minutes, and deletes another
    clock = archive.emulator.clock
    clock.advance(WINDOW_MINUTES * 60 - clock.now() % (WINDOW_MINUTES * 60) + 60)
    seen = len(archive.emulator.quicksight_events())
    for _ in range(3):
        archive.emulator.edit_quicksight_asset(arn("dashboard/sales"))
        clock.advance(60)
    archive.emulator.delete_quicksight_asset(arn("dashboard/hr"))
    events = archive.emulator.quicksight_events()[seen:]
    assert [event["detail-type"] for event in events] == [
        *["QuickSight Dashboard Update Successful"] * 3,
        "QuickSight Dashboard Deletion Successful",
    ]

    answers = deliver(archive, events)

    # Then the rule matched every event; the edits all name one run (the deletion none), and one execution exists
    assert len(answers) == 4 and answers[3] == {"run": None}
    assert len({answer["run"] for answer in answers[:3]}) == 1
    sfn = boto3.client("stepfunctions", region_name=LOCAL_REGION)
    executions = sfn.list_executions(stateMachineArn=archive.engine.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(answers[0]["run"]) == 1
    run = archive.engine.wait(answers[0]["executionArn"])
    assert run.status == "SUCCEEDED", run.cause
    # And that run exported the changed dashboard alone, once, and archived it
    assert [request["ResourceArns"] for request in export_requests(archive)[exports_before:]] == [
        [arn("dashboard/sales")]
    ]
    assert (run.output["items"], run.output["archived"]) == (1, 1)
    # And a later event with nothing changed since starts a run that stores nothing new
    later = copy.deepcopy(events[0])
    later["time"] = iso8601(parse_iso8601(events[0]["time"]) + 3600)
    [answer] = deliver(archive, [later])
    again = archive.engine.wait(answer["executionArn"])
    assert again.status == "SUCCEEDED", again.cause
    assert (again.output["archived"], again.output["unchanged"]) == (0, 1)


def test_events_of_other_types_or_sources_start_nothing(triggers: LocalArchive) -> None:
    theme = arn("theme/corporate")
    triggers.emulator.add_quicksight_resource(theme)
    [created] = [event for event in triggers.emulator.quicksight_events() if event["resources"] == [theme]]
    # A theme is not a configured type: the rule does not match it
    assert not matches(PATTERN, created)
    # A matching detail-type from another source does not match either
    other = {**triggers.emulator.quicksight_events()[0], "source": "custom.app"}
    assert not matches(PATTERN, other)
    assert deliver(triggers, [created, other]) == []
    # And were it delivered, the function would start no run for it
    assert deliver_unmatched(created) == {"run": None}


def deliver_unmatched(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = start_changed_run.lambda_handler(event, LocalContext("start_changed_run", "arn:local"))
    return answer
