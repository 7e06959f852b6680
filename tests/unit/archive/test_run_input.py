"""The run input contract: what a valid document plans, and how a bad one is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
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
        "onlyChanged": True,
        "date": "2026-11-22",
    }


def test_only_changed_is_carried_by_the_run_and_assets_must_be_the_bundles_own() -> None:
    # Given onlyChanged false and a bundle fingerprinting one of its resources
    asset = {"arn": dashboard("d-1"), "type": "dashboard", "lastUpdatedTime": "2026-11-20T10:00:00Z", "version": 3}
    document = {
        "quicksight": {"bundles": [{"resourceArns": [dashboard("d-1")], "assets": [asset]}]},
        "onlyChanged": False,
    }
    plan = plan_run(document, RUN, default_account=ACCOUNT)
    # Then every step sees it in the run, and the bundle carries the fingerprints
    assert plan["run"]["onlyChanged"] is False
    assert plan["quicksight"]["bundles"][0]["assets"] == [asset]
    # And a fingerprint of an asset the bundle does not hold is refused, named
    stray = {**asset, "arn": dashboard("d-2")}
    document = {"quicksight": {"bundles": [{"resourceArns": [dashboard("d-1")], "assets": [stray]}]}}
    assert problems_of(document) == [
        f"quicksight.bundles[0].assets[0].arn: expected one of the bundle's resourceArns, got {dashboard('d-2')!r}"
    ]


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
        ({}, ["(document): expected a 'quicksight' and/or a 'qapps' section, or a 'planUri'"]),
        ([], ["(document): expected an object, got array"]),
        (
            {"qapps": {"instanceId": INSTANCE, "sesions": []}},
            [
                "qapps.sesions: unknown key (did you mean sessions? expected one of apps, appsUri, discoverApps, "
                "instanceId, sessions, sessionsUri)",
                "qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty), 'sessionsUri', "
                "'appsUri' or 'discoverApps': true",
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
            [
                "qapps: expected at least one of 'sessions' (non-empty), 'apps' (non-empty), 'sessionsUri', "
                "'appsUri' or 'discoverApps': true"
            ],
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
                "assets, exportFormat, includeAllDependencies, includePermissions, includeTags, name, resourceArns, "
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
        "qapps.aps: unknown key (did you mean apps? expected one of apps, appsUri, discoverApps, instanceId, "
        "sessions, sessionsUri)",
        'quicksight.bundles[0].exportFormat: expected one of "QUICKSIGHT_JSON", "CLOUDFORMATION_JSON", got "ZIP"',
        "quicksight.bundles[1].resourceArns[1]: expected a QuickSight analysis, dashboard, dataset, datasource, "
        'theme, vpcConnection, folder or topic ARN, got "arn:x"',
        "quicksight.bundles[1].resourceArns[0]: expected a resource of account 123456789012, got one of account "
        "210987654321",
        "quicksight.bundles[1].name: expected a unique name, 'finance' is also bundles[0]",
        f"qapps.sessions[1].sessionId: expected a unique session, {SESSION} is also sessions[0]",
    ]


def test_a_refusal_lists_a_hundred_problems_and_counts_the_rest() -> None:
    # Given 250 sessions each malformed
    document = {"qapps": {"instanceId": INSTANCE, "sessions": [{"appId": APP, "sessionId": "x"}] * 250}}

    # Then the refusal stays readable: the first hundred named, the rest counted
    problems = problems_of(document)
    assert len(problems) == 101
    assert problems[0] == 'qapps.sessions[0].sessionId: expected a lower-case version 4 or 5 UUID, got "x"'
    assert problems[-1] == "(document): 150 more problems like these, not listed"


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
# A key ending in a newline, which a `$`-anchored pattern took for a plain one.
@example(document={"A\n": None})
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "(document): expected a JSON object, got an empty document"),
        ("  \n", "(document): expected a JSON object, got an empty document"),
        ('{"qapps": ', "(document): expected JSON, got a syntax error"),
    ],
    ids=["empty", "blank", "not-json"],
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
        f"got {len(json.dumps(document, separators=(',', ':'))):,}: give the plan by reference instead, "
        '{"planUri": "s3://<archive bucket>/plans/<name>.json"}'
    ]
