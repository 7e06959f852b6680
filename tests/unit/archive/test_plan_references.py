"""Plans given by reference: read from the archive bucket's plans prefix only, checked line by line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archiver.archive import plan_references
from archiver.archive.plan_references import PlanStore
from archiver.archive.run_input import RunContext, plan_run
from archiver.core.errors import InvalidRunInputError, ServiceBusyError

BUCKET = "archive-under-test"
RUN = RunContext(
    run_id="nightly-42",
    execution_id="arn:aws:states:us-east-1:1:execution:sm:nightly-42",
    started_at="2026-11-22T03:00:00.000Z",
)
ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"


def uuid(index: int) -> str:
    return f"7a2b9c4d-1e3f-4a5b-8c6d-{index:012x}"


@pytest.fixture
def plans() -> Iterator[PlanStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket="somebody-elses")
        yield PlanStore(s3, bucket=BUCKET, prefix="plans/")


def put(plans: PlanStore, key: str, body: str | bytes, *, bucket: str = BUCKET) -> str:
    plans.s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return f"s3://{bucket}/{key}"


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def sessions_by_reference(uri: str, **more: Any) -> dict[str, Any]:
    return {"qapps": {"instanceId": INSTANCE, "sessionsUri": uri, **more}}


def plan(document: Any, plans: PlanStore) -> dict[str, Any]:
    return plan_run(document, RUN, default_account=ACCOUNT, plans=plans)


def problems(document: Any, plans: PlanStore) -> list[str]:
    with pytest.raises(InvalidRunInputError) as refused:
        plan(document, plans)
    return refused.value.problems


def test_a_whole_plan_by_reference_is_planned_as_if_it_were_inline(plans: PlanStore) -> None:
    # Given a document over Step Functions' 256 KiB input limit, staged under the plans prefix
    document = {
        "quicksight": {
            "bundles": [
                {"name": f"b{i}", "resourceArns": [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/d-{i}"]}
                for i in range(1_500)
            ]
        },
        "qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": uuid(i)} for i in range(3_000)]},
    }
    assert len(json.dumps(document)) > 256 * 1024
    uri = put(plans, "plans/estate.json", json.dumps(document))

    # When a run names it
    planned = plan({"planUri": uri}, plans)

    # Then the plan is the document's, every item in it
    assert len(planned["quicksight"]["bundles"]) == 1_500
    assert len(planned["qapps"]["sessions"]) == 3_000
    assert [app["appId"] for app in planned["qapps"]["apps"]] == [APP]


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_sessions_by_reference_are_read_as_json_lines_or_csv(plans: PlanStore, form: str) -> None:
    # Given the same sessions as JSON Lines, and as a CSV (columns in any order, a spreadsheet's BOM, CRLF)
    rows = [{"appId": APP, "sessionId": uuid(i)} for i in range(3)]
    body = (
        jsonl(rows)
        if form == "jsonl"
        else "\ufeffsessionId,appId\r\n" + "".join(f"{row['sessionId']},{row['appId']}\r\n" for row in rows)
    )
    uri = put(plans, f"plans/sessions.{form}", body)

    # Then each is planned, in order, with the app they belong to
    planned = plan(sessions_by_reference(uri), plans)
    assert [s["sessionId"] for s in planned["qapps"]["sessions"]] == [uuid(i) for i in range(3)]
    assert [app["appId"] for app in planned["qapps"]["apps"]] == [APP]


def test_apps_by_reference_are_read_beside_inline_sessions(plans: PlanStore) -> None:
    other = "9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53"
    uri = put(plans, "plans/apps.csv", f"appId\n{other}\n")
    document = {"qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": uuid(1)}], "appsUri": uri}}

    planned = plan(document, plans)

    assert [app["appId"] for app in planned["qapps"]["apps"]] == [other, APP]


def test_every_bad_line_is_named_by_its_line_number_and_field_at_once(plans: PlanStore) -> None:
    # Given a sessions list with a good line, a bad UUID, a line that is not JSON, an unknown key, a blank line,
    # a duplicate and a line that is not an object
    lines = [
        json.dumps({"appId": APP, "sessionId": uuid(1)}),
        json.dumps({"appId": APP, "sessionId": "not-a-uuid"}),
        '{"appId": ',
        json.dumps({"appId": APP, "sessionId": uuid(2), "sesion": 1}),
        "",
        json.dumps({"appId": APP, "sessionId": uuid(1)}),
        json.dumps([APP, uuid(3)]),
    ]
    uri = put(plans, "plans/sessions.jsonl", "\n".join(lines) + "\n")

    # Then one refusal names each bad line and field, in line order, before anything is planned
    found = problems(sessions_by_reference(uri), plans)
    assert (
        found[0] == 'qapps.sessionsUri[line 2].sessionId: expected a lower-case version 4 or 5 UUID, got "not-a-uuid"'
    )
    assert found[1].startswith("qapps.sessionsUri[line 3]: expected a JSON object, got a syntax error")
    assert found[2] == (
        "qapps.sessionsUri[line 4].sesion: unknown key (did you mean sessionId? expected one of appId, sessionId)"
    )
    assert found[3] == "qapps.sessionsUri[line 7]: expected object, got array"
    assert found[4] == f"qapps.sessionsUri[line 6].sessionId: expected a unique session, {uuid(1)} is also line 1"
    assert len(found) == 5


def test_a_csv_with_the_wrong_header_or_columns_is_named(plans: PlanStore) -> None:
    uri = put(plans, "plans/sessions.csv", f"app,session\n{APP},{uuid(1)}\n{APP}\n")

    assert problems(sessions_by_reference(uri), plans) == [
        "qapps.sessionsUri[line 1]: expected a CSV header naming appId, sessionId, got app,session",
        "qapps.sessionsUri[line 3]: expected 2 columns (appId, sessionId), got 1",
    ]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "s3://somebody-elses/plans/p.json",
            "planUri: expected an object under s3://archive-under-test/plans/ (the archive bucket's plans prefix, "
            "the only place a plan is read from), got s3://somebody-elses/plans/p.json",
        ),
        (
            f"s3://{BUCKET}/manifests/nightly-41.json",
            f"planUri: expected an object under s3://{BUCKET}/plans/ (the archive bucket's plans prefix, "
            f"the only place a plan is read from), got s3://{BUCKET}/manifests/nightly-41.json",
        ),
        (
            f"s3://{BUCKET}/plans/../manifests/nightly-41.json",
            f"planUri: expected an object under s3://{BUCKET}/plans/ (the archive bucket's plans prefix, "
            f"the only place a plan is read from), got s3://{BUCKET}/plans/../manifests/nightly-41.json",
        ),
        (
            f"s3://{BUCKET}/plans/missing.json",
            f"planUri: expected an existing object, s3://{BUCKET}/plans/missing.json does not exist",
        ),
        (
            "https://example.com/p.json",
            "planUri: expected an s3://<archive bucket>/<plans prefix>....json URI of the run input document",
        ),
    ],
    ids=["other-bucket", "outside-the-prefix", "dot-dot", "missing", "not-s3"],
)
def test_only_an_existing_object_under_the_plans_prefix_is_read(plans: PlanStore, uri: str, expected: str) -> None:
    # Whatever the other bucket holds, it is never read
    put(plans, "plans/p.json", json.dumps(sessions_by_reference("s3://x/plans/a.csv")), bucket="somebody-elses")
    put(plans, "manifests/nightly-41.json", "{}")

    (problem,) = problems({"planUri": uri}, plans)

    assert problem.startswith(expected), problem


def test_a_list_outside_the_prefix_is_named_by_its_field(plans: PlanStore) -> None:
    uri = put(plans, "sessions.csv", f"appId,sessionId\n{APP},{uuid(1)}\n")

    (problem,) = problems(sessions_by_reference(uri), plans)

    assert problem.startswith(f"qapps.sessionsUri: expected an object under s3://{BUCKET}/plans/"), problem


def test_a_referenced_document_is_checked_with_the_same_field_naming_errors(plans: PlanStore) -> None:
    # Given a referenced document with a typo, a bad account, and itself naming another plan
    bad = put(
        plans,
        "plans/bad.json",
        json.dumps(
            {"qapps": {"instanceId": INSTANCE, "sesions": []}, "quicksight": {"awsAccountId": "1", "bundles": []}}
        ),
    )
    chained = put(plans, "plans/chained.json", json.dumps({"planUri": bad}))
    broken = put(plans, "plans/broken.json", '{"qapps": ')

    assert problems({"planUri": bad}, plans) == [
        "qapps.sesions: unknown key (did you mean sessions? expected one of apps, appsUri, discoverApps, instanceId, "
        "sessions, sessionsUri)",
        "qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty), 'sessionsUri', "
        "'appsUri' or 'discoverApps': true",
        "quicksight: expected at least one of 'bundles' (non-empty) or 'discover'",
        'quicksight.awsAccountId: expected a 12-digit AWS account id, got "1"',
    ]
    assert problems({"planUri": chained}, plans) == [
        f"planUri: expected the run input document itself in {chained}, got another planUri"
    ]
    assert problems({"planUri": broken}, plans)[0].startswith(f"planUri: expected a JSON document in {broken}")


def test_a_reference_beside_what_it_stands_for_is_refused_before_anything_is_read(plans: PlanStore) -> None:
    assert problems({"planUri": f"s3://{BUCKET}/plans/p.json", "qapps": {}}, plans) == [
        "planUri: expected without qapps beside it (the object it names is the whole document)",
        "qapps.instanceId: required",
        "qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty), 'sessionsUri', "
        "'appsUri' or 'discoverApps': true",
    ]
    document = sessions_by_reference(f"s3://{BUCKET}/plans/s.csv", sessions=[{"appId": APP, "sessionId": uuid(1)}])
    assert problems(document, plans) == [
        "qapps.sessionsUri: expected without sessions beside it (the sessions are the lines of the object it names)"
    ]


@pytest.mark.parametrize(("listed", "cap"), [("sessions", 10_000), ("apps", 10_000)])
def test_a_list_by_reference_takes_up_to_its_cap_and_past_it_is_refused_naming_count_and_limit(
    plans: PlanStore, listed: str, cap: int
) -> None:
    def rows(count: int) -> str:
        if listed == "sessions":
            return "appId,sessionId\n" + "".join(f"{APP},{uuid(i)}\n" for i in range(count))
        return "appId\n" + "".join(f"{uuid(i)}\n" for i in range(count))

    at_cap = put(plans, f"plans/{listed}-at-cap.csv", rows(cap))
    over = put(plans, f"plans/{listed}-over.csv", rows(cap + 5))

    planned = plan({"qapps": {"instanceId": INSTANCE, f"{listed}Uri": at_cap}}, plans)
    assert len(planned["qapps"][listed]) == cap
    assert problems({"qapps": {"instanceId": INSTANCE, f"{listed}Uri": over}}, plans) == [
        f"qapps.{listed}Uri: expected at most {cap:,} {listed} per run, got {cap + 5:,}"
    ]


def test_a_whole_plan_past_the_bundle_cap_is_refused_naming_field_count_and_limit(plans: PlanStore) -> None:
    bundles = [
        {"name": f"b{i}", "resourceArns": [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/d-{i}"]}
        for i in range(2_001)
    ]
    uri = put(plans, "plans/estate.json", json.dumps({"quicksight": {"bundles": bundles}}))

    assert problems({"planUri": uri}, plans) == ["quicksight.bundles: expected at most 2,000 items, got 2,001"]
    assert (
        len(
            plan(
                {"planUri": put(plans, "plans/cap.json", json.dumps({"quicksight": {"bundles": bundles[:2_000]}}))},
                plans,
            )["quicksight"]["bundles"]
        )
        == 2_000
    )


def test_app_definitions_past_the_cap_are_refused_counting_the_apps_of_the_sessions(plans: PlanStore) -> None:
    # Given 6,000 apps listed and 6,000 sessions of other apps: each list within its cap, 12,000 definitions
    sessions = "appId,sessionId\n" + "".join(f"{uuid(i)},{uuid(i)}\n" for i in range(6_000))
    apps = "appId\n" + "".join(f"{uuid(10_000 + i)}\n" for i in range(6_000))
    document = {
        "qapps": {
            "instanceId": INSTANCE,
            "sessionsUri": put(plans, "plans/s.csv", sessions),
            "appsUri": put(plans, "plans/a.csv", apps),
        }
    }

    assert problems(document, plans) == [
        "qapps: expected at most 10,000 app definitions per run (the apps listed and those of the sessions), got 12,000"
    ]


def test_an_empty_list_and_an_oversized_object_are_refused(plans: PlanStore, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = put(plans, "plans/none.csv", "appId,sessionId\n")
    assert problems(sessions_by_reference(empty), plans) == [
        f"qapps.sessionsUri: expected at least one entry, {empty} has none"
    ]

    # An object past the size bound is refused before its body is read
    monkeypatch.setattr(plan_references, "MAX_PLAN_OBJECT_BYTES", 1_000)
    big = put(plans, "plans/big.jsonl", jsonl([{"appId": APP, "sessionId": uuid(i)} for i in range(20)]))
    (problem,) = problems(sessions_by_reference(big), plans)
    assert problem.startswith(f"qapps.sessionsUri: expected an object of at most 1,000 bytes, {big} has ")


def test_a_busy_s3_is_the_service_s_problem_not_the_input_s(plans: PlanStore) -> None:
    # Given S3 throttling the read
    from botocore.exceptions import ClientError

    class Throttled:
        def get_object(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")

    busy = PlanStore(Throttled(), bucket=BUCKET, prefix="plans/")

    # Then it is raised as a transient error the state machine retries, not an InvalidRunInput
    with pytest.raises(ServiceBusyError):
        plan({"planUri": f"s3://{BUCKET}/plans/p.json"}, busy)


def test_without_a_plans_store_a_reference_is_named_not_read() -> None:
    with pytest.raises(InvalidRunInputError) as refused:
        plan_run({"planUri": f"s3://{BUCKET}/plans/p.json"}, RUN, default_account=ACCOUNT)
    assert refused.value.problems == [
        "planUri: expected the document inline (plans by reference are read when a run starts)"
    ]
