"""The run input contract: what a valid document plans, and how a bad one is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.archive.run_input import (
    MAX_INPUT_BYTES,
    RunContext,
    export_job_id,
    parse_run_input,
    plan_run,
    schema_problems,
)
from archiver.core.errors import InvalidRunInputError
from tests.local import run as local_runner

EXAMPLES = Path(__file__).resolve().parents[3] / "functions" / "archiver" / "schema" / "examples"
RUN = RunContext(
    run_id="nightly-42",
    execution_id="arn:aws:states:us-east-1:1:execution:sm:nightly-42",
    started_at="2026-11-22T03:00:00.000Z",
)
ACCOUNT = "123456789012"
APP = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
SESSION = "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def dashboard(resource_id: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:quicksight:us-east-1:{account}:dashboard/{resource_id}"


def problems_of(document: Any) -> list[str]:
    with pytest.raises(InvalidRunInputError) as caught:
        plan_run(document, RUN, default_account=ACCOUNT)
    return caught.value.problems


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_published_example_is_valid(example: Path) -> None:
    assert schema_problems(json.loads(example.read_text())) == []


def test_defaults_are_applied_to_a_minimal_bundle() -> None:
    # Given a bundle with only its ARNs
    document = {"quicksight": {"bundles": [{"resourceArns": [dashboard("d-1")]}]}}
    # When it is planned
    plan = plan_run(document, RUN, default_account=ACCOUNT)
    # Then the account, format, options and a derived name are filled in
    bundle = plan["quicksight"]["bundles"][0]
    assert plan["quicksight"]["awsAccountId"] == ACCOUNT
    assert bundle["exportFormat"] == "QUICKSIGHT_JSON"
    assert (bundle["includeAllDependencies"], bundle["includePermissions"], bundle["includeTags"]) == (
        True,
        False,
        False,
    )
    assert bundle["strictValidation"] is True
    assert bundle["name"].startswith("dashboard-d-1-")
    assert bundle["jobId"] == export_job_id("nightly-42", bundle["name"])
    assert plan["run"] == {
        "id": "nightly-42",
        "executionId": RUN.execution_id,
        "startedAt": RUN.started_at,
        "date": "2026-11-22",
    }


def test_the_derived_name_is_stable_whatever_the_arn_order() -> None:
    arns = [dashboard("d-1"), dashboard("d-2")]
    first = plan_run({"quicksight": {"bundles": [{"resourceArns": arns}]}}, RUN, default_account=ACCOUNT)
    second = plan_run({"quicksight": {"bundles": [{"resourceArns": arns[::-1]}]}}, RUN, default_account=ACCOUNT)
    assert first["quicksight"]["bundles"][0]["name"][-8:] == second["quicksight"]["bundles"][0]["name"][-8:]


def test_a_retried_run_asks_for_the_same_export_job() -> None:
    document = {"quicksight": {"bundles": [{"name": "finance", "resourceArns": [dashboard("d-1")]}]}}
    jobs = [plan_run(document, RUN, default_account=ACCOUNT)["quicksight"]["bundles"][0]["jobId"] for _ in range(2)]
    assert jobs[0] == jobs[1]
    assert jobs[0].startswith("nightly-42-finance-")


def test_every_app_a_session_belongs_to_is_kept_once() -> None:
    other_app = "5d2e8f14-6a3b-4c9d-8e1f-3a5b7c9d1e42"
    document = {
        "qapps": {
            "instanceId": INSTANCE,
            "apps": [other_app, APP],
            "sessions": [{"appId": APP, "sessionId": SESSION}],
        }
    }
    plan = plan_run(document, RUN, default_account=ACCOUNT)
    assert [app["appId"] for app in plan["qapps"]["apps"]] == [other_app, APP]
    assert plan["quicksight"]["bundles"] == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, ["(document): expected a 'quicksight' and/or a 'qapps' section"]),
        ([], ["(document): expected an object, got array"]),
        (
            {"qapps": {"instanceId": INSTANCE, "sesions": []}},
            [
                "qapps.sesions: unknown key "
                "(did you mean sessions? expected one of apps, discoverApps, instanceId, sessions)",
                "qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty) or 'discoverApps': true",
            ],
        ),
        (
            {"quicksight": {"awsAccountId": "12345", "bundles": [{"resourceArns": [dashboard("d-1")]}]}},
            ['quicksight.awsAccountId: expected a 12-digit AWS account id, got "12345"'],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArns": []}]}},
            ["quicksight.bundles[0].resourceArns: expected at least 1 items, got 0"],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArns": [dashboard(f"d-{i}") for i in range(101)]}]}},
            ["quicksight.bundles[0].resourceArns: expected at most 100 items, got 101"],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArns": ["arn:aws:s3:::bucket"]}]}},
            [
                "quicksight.bundles[0].resourceArns[0]: expected a QuickSight analysis, dashboard, dataset, "
                'datasource, theme, vpcConnection, folder or topic ARN, got "arn:aws:s3:::bucket"'
            ],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArns": [dashboard("d-1", "999999999999")]}]}},
            [
                "quicksight.bundles[0].resourceArns[0]: expected a resource of account 123456789012, "
                "got one of account 999999999999"
            ],
        ),
        (
            {
                "quicksight": {
                    "bundles": [
                        {"name": "x", "resourceArns": [dashboard("d-1")]},
                        {"name": "x", "resourceArns": [dashboard("d-2")]},
                    ]
                }
            },
            ["quicksight.bundles[1].name: expected a unique name, 'x' is also bundles[0]"],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArns": [dashboard("d-1")], "includeTags": "yes"}]}},
            ["quicksight.bundles[0].includeTags: expected boolean, got string"],
        ),
        (
            {"qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": SESSION.upper()}]}},
            [f'qapps.sessions[0].sessionId: expected a lower-case version 4 or 5 UUID, got "{SESSION.upper()}"'],
        ),
        (
            {
                "qapps": {
                    "instanceId": INSTANCE,
                    "sessions": [{"appId": APP, "sessionId": "7a2b9c4d-1e3f-1a5b-8c6d-2e4f6a8b0c11"}],
                }
            },
            [
                "qapps.sessions[0].sessionId: expected a lower-case version 4 or 5 UUID, "
                'got "7a2b9c4d-1e3f-1a5b-8c6d-2e4f6a8b0c11"'
            ],
        ),
        (
            {"qapps": {"instanceId": INSTANCE}},
            ["qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty) or 'discoverApps': true"],
        ),
        (
            {"qapps": {"instanceId": INSTANCE, "apps": ["3f1c6a52-8d4e-5b7a-9c2d-1e5f7a9b0c31"]}},
            ['qapps.apps[0]: expected a lower-case version 4 UUID, got "3f1c6a52-8d4e-5b7a-9c2d-1e5f7a9b0c31"'],
        ),
        (
            {"qapps": {"instanceId": INSTANCE, "apps": ["not-a-uuid"]}},
            ['qapps.apps[0]: expected a lower-case version 4 UUID, got "not-a-uuid"'],
        ),
        (
            {"quicksight": {"awsAccountId": 123456789012, "bundles": [{"resourceArns": [dashboard("d-1")]}]}},
            ["quicksight.awsAccountId: expected string, got number"],
        ),
        (
            {"quicksight": {"bundles": [{"resourceArn": [dashboard("d-1")]}]}},
            [
                "quicksight.bundles[0].resourceArn: unknown key (did you mean resourceArns? expected one of "
                "exportFormat, includeAllDependencies, includePermissions, includeTags, name, resourceArns, "
                "strictValidation)",
                "quicksight.bundles[0].resourceArns: required",
            ],
        ),
        (
            {"quicksight": {"bundles": "all"}},
            ["quicksight.bundles: expected array, got string"],
        ),
    ],
    ids=[
        "empty",
        "not-an-object",
        "typo",
        "short-account",
        "no-arns",
        "too-many-arns",
        "not-quicksight",
        "other-account",
        "duplicate-name",
        "wrong-type",
        "upper-case-uuid",
        "uuid-v1",
        "nothing-to-archive",
        "app-uuid-v5",
        "malformed-uuid",
        "account-as-number",
        "typo-in-bundle",
        "bundles-not-a-list",
    ],
)
def test_bad_input_is_rejected_naming_the_field(document: Any, expected: list[str]) -> None:
    assert problems_of(document) == expected


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "quicksight": {"awsAccountId": "x", "bundles": [{"resourceArns": [], "exportFormat": "ZIP"}]},
        "qaps": {},
    }
    fields = [problem.split(":")[0] for problem in problems_of(document)]
    assert fields == [
        "qaps",
        "quicksight.awsAccountId",
        "quicksight.bundles[0].exportFormat",
        "quicksight.bundles[0].resourceArns",
    ]


def test_schema_and_cross_field_problems_are_named_in_one_refusal() -> None:
    # Given a document with schema errors and, in its well-formed parts, an ARN of another
    # account and a bundle name used twice
    document = {
        "quicksight": {
            "bundles": [
                {"name": "finance", "resourceArns": [dashboard("d-1")], "exportFormat": "ZIP"},
                {"name": "finance", "resourceArns": [dashboard("d-2", "210987654321"), "arn:x"]},
            ]
        },
        "qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": SESSION}] * 2, "aps": []},
    }

    # Then one refusal names them all
    assert problems_of(document) == [
        "qapps.aps: unknown key (did you mean apps? expected one of apps, discoverApps, instanceId, sessions)",
        'quicksight.bundles[0].exportFormat: expected one of "QUICKSIGHT_JSON", "CLOUDFORMATION_JSON", got "ZIP"',
        "quicksight.bundles[1].resourceArns[1]: expected a QuickSight analysis, dashboard, dataset, datasource, "
        'theme, vpcConnection, folder or topic ARN, got "arn:x"',
        "quicksight.bundles[1].resourceArns[0]: expected a resource of account 123456789012, got one of account "
        "210987654321",
        "quicksight.bundles[1].name: expected a unique name, 'finance' is also bundles[0]",
        f"qapps.sessions[1].sessionId: expected a unique session, {SESSION} is also sessions[0]",
    ]


def bundles_of(count: int, arns: int, *, id_length: int) -> dict[str, Any]:
    """A document of ``count`` bundles of ``arns`` dashboards each, with resource ids of ``id_length``."""
    return {
        "quicksight": {
            "bundles": [
                {
                    "name": f"b{b:03d}",
                    "resourceArns": [dashboard(f"{b:03d}-{i:03d}".rjust(id_length, "d")) for i in range(arns)],
                }
                for b in range(count)
            ]
        }
    }


def compact_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def test_a_plan_over_the_state_limit_is_refused_naming_its_size() -> None:
    # Given the document: 100 bundles of 27 ARNs, a little under the input limit
    document = bundles_of(100, 27, id_length=40)
    assert 250_000 < compact_size(document) < MAX_INPUT_BYTES

    # Then it is refused for the state its plan would carry, saying what to do
    (problem,) = problems_of(document)
    assert re.fullmatch(
        r"\(document\): expected a plan whose largest state fits Step Functions' 262,144-byte limit, this one "
        r"carries [\d,]+ bytes \(a plan of [\d,]+ and what the run adds to it\): split it into several runs, .*",
        problem,
    ), problem


LONGEST_RUN = RunContext(
    run_id="r" * 80,
    execution_id=f"arn:aws:states:us-east-1:{ACCOUNT}:execution:{'s' * 80}:{'r' * 80}",
    started_at="2026-11-22T03:00:00.000Z",
)


def carried_states(plan: dict[str, Any]) -> list[Any]:
    """Every state an archive run of ``plan`` carries whole, at its largest (infra/archive/workflow.py)."""
    run_id = plan["run"]["id"]
    # A Catch's error at Step Functions' limits (error 256, cause 32,768 characters), all of it escaped.
    run_error = {"Error": "E" * 256, "Cause": '"' * 32_768}
    summary = {
        "runId": run_id,
        "items": 10**6,
        "archived": 10**6,
        "failed": 10**6,
        "bytes": 10**18,
        "manifestBucket": "b" * 63,
        "manifestKey": f"manifests/{run_id}.json",
    }
    return [plan, {"plan": plan}, {**plan, "runError": run_error, "summary": summary}]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    count=st.integers(min_value=1, max_value=100),
    arns=st.integers(min_value=1, max_value=100),
    id_length=st.integers(min_value=7, max_value=120),
    sessions=st.integers(min_value=0, max_value=1500),
)
def test_every_accepted_plan_fits_every_state_the_run_carries(
    count: int, arns: int, id_length: int, sessions: int
) -> None:
    document = bundles_of(count, arns, id_length=id_length)
    if sessions:
        document["qapps"] = {"instanceId": INSTANCE, "sessions": _sessions(sessions)}
    try:
        plan = plan_run(document, LONGEST_RUN, default_account=ACCOUNT)
    except InvalidRunInputError:
        return
    assert max(compact_size(state) for state in carried_states(plan)) <= 256 * 1024


def test_the_biggest_plan_accepted_fits_every_state_and_one_more_arn_is_refused() -> None:
    # Given 100 bundles of long ARNs: find the most ARNs per bundle that one run accepts
    def accepted(arns: int) -> dict[str, Any] | None:
        try:
            return plan_run(bundles_of(100, arns, id_length=40), LONGEST_RUN, default_account=ACCOUNT)
        except InvalidRunInputError:
            return None

    most = max(arns for arns in range(1, 101) if accepted(arns))
    plan = accepted(most)
    assert plan is not None and accepted(most + 1) is None
    # Then even that one fits every state at its largest
    assert max(compact_size(state) for state in carried_states(plan)) <= 256 * 1024


FIELD = re.compile(r'^(\(document\)|(\[".*"\]|[A-Za-z_][\w-]*)(\.[A-Za-z_][\w-]*|\[\d+\]|\[".*"\])*): ')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "quicksight": st.fixed_dictionaries({}, optional={"awsAccountId": json_values, "bundles": json_values}),
        "qapps": st.fixed_dictionaries(
            {}, optional={"instanceId": json_values, "sessions": json_values, "apps": json_values}
        ),
        "extra": json_values,
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(document=documents | json_values)
def test_any_document_is_planned_or_rejected_with_field_naming_errors(document: Any) -> None:
    try:
        plan = plan_run(document, RUN, default_account=ACCOUNT)
    except InvalidRunInputError as error:
        assert error.problems
        assert all(FIELD.match(problem) for problem in error.problems), error.problems
    else:
        assert set(plan) == {"run", "quicksight", "qapps"}


KEY_NAMES = [
    "quicksight",
    "qapps",
    "bundles",
    "resourceArns",
    "sessions",
    "sesions",
    "apps",
    "appId",
    "sessionId",
    "instanceId",
    "awsAccountId",
    "name",
    "exportFormat",
    "includeTags",
    "strictValidation",
]


@st.composite
def near_valid_documents(draw: st.DrawFn) -> Any:
    """A published example with a few random edits: deep enough to reach every check."""
    document = json.loads(draw(st.sampled_from(sorted(EXAMPLES.glob("*.json")))).read_text())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        node: Any = document
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(list(node)))] if isinstance(node, dict) else draw(st.sampled_from(node))
            if not isinstance(child, dict | list):
                break
            node = child
        if isinstance(node, dict):
            key = draw(st.sampled_from(KEY_NAMES + list(node)))
            if key in node and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(json_values | st.sampled_from(list(node.values()) or [None]))
        elif isinstance(node, list):
            node.append(draw(json_values | st.sampled_from(node or [None])))
    return document


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(document=near_valid_documents())
def test_any_edited_document_is_planned_or_rejected_naming_each_field(document: Any) -> None:
    try:
        plan = plan_run(document, RUN, default_account=ACCOUNT)
    except InvalidRunInputError as error:
        assert error.problems
        for problem in error.problems:
            assert FIELD.match(problem), problem
    else:
        assert {item["itemId"] for item in plan["quicksight"]["bundles"]} >= set()
        assert plan["run"]["id"] == RUN.run_id


def _sessions(count: int) -> list[dict[str, str]]:
    return [{"appId": APP, "sessionId": f"7a2b9c4d-1e3f-4a5b-8c6d-{index:012x}"} for index in range(count)]


def test_a_plan_too_big_for_one_execution_history_is_refused_before_it_starts() -> None:
    # Given the most bundles one run takes, and more sessions than its history has room for beside them
    bundles = [{"name": f"b{i}", "resourceArns": [dashboard(f"d-{i}")]} for i in range(100)]
    document = {"quicksight": {"bundles": bundles}, "qapps": {"instanceId": INSTANCE, "sessions": _sessions(700)}}

    # Then it is refused, saying what to do
    (problem,) = problems_of(document)
    assert problem.startswith("(document): expected a plan one run can hold")
    assert problem.endswith("split it into several runs")
    # While each half fits
    assert plan_run({"quicksight": {"bundles": bundles}}, RUN, default_account=ACCOUNT)
    assert plan_run({"qapps": document["qapps"]}, RUN, default_account=ACCOUNT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "(document): expected a JSON object, got an empty document"),
        ("  \n", "(document): expected a JSON object, got an empty document"),
        ('{"qapps": ', "(document): expected JSON, got a syntax error"),
        (json.dumps({"qapps": {"apps": ["x" * MAX_INPUT_BYTES]}}), "(document): expected at most 262,144 bytes"),
    ],
    ids=["empty", "blank", "not-json", "over-256-kib"],
)
def test_document_text_start_execution_would_refuse_is_refused_first(text: str, expected: str) -> None:
    with pytest.raises(InvalidRunInputError) as refused:
        parse_run_input(text)
    (problem,) = refused.value.problems
    assert problem.startswith(expected)


def test_a_document_over_the_input_limit_is_refused_by_validation_too() -> None:
    # Given a document (of itself valid-looking) too big for a state machine's input
    document = {"qapps": {"instanceId": INSTANCE, "apps": ["x" * MAX_INPUT_BYTES]}}

    # Then it is refused for its size alone, not for every field of it
    assert problems_of(document) == [
        f"(document): expected at most {MAX_INPUT_BYTES:,} bytes (a state machine's input limit), "
        f"got {len(json.dumps(document, separators=(',', ':'))):,}: split it into several runs"
    ]


def test_the_local_runner_refuses_such_a_document_without_starting_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a plan file over the state machine's input limit
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"qapps": {"instanceId": INSTANCE, "apps": [APP] * 10_000}}))

    # When the local runner is given it (no synthesized template is needed to refuse it)
    status = local_runner.main(["--input", str(plan), "--json", "--cdk-out", str(tmp_path / "missing")])

    # Then it exits non-zero, naming the limit, and never started an execution
    assert status == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "NOT_STARTED"
    assert summary["error"] == "InvalidRunInput"
    assert "expected at most 262,144 bytes" in summary["cause"]
