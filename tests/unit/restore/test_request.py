"""The restore input document: the published examples hold, and each bad field is named."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from archiver.core.errors import InvalidRestoreInputError
from archiver.restore.models import RestoreContext
from archiver.restore.plan import INLINE_MAX_BYTES, S3_URI_MAX_BYTES, choose_import_source, plan_restore
from archiver.restore.qapps import StreamedForm, allowed_upload_size
from archiver.restore.request import input_problems, normalised_request

EXAMPLES = Path(__file__).resolve().parents[3] / "functions" / "archiver" / "schema" / "examples" / "restore"
CONTEXT = RestoreContext(restore_id="drill-2026-11-22", execution_id="arn:x", started_at="2026-11-22T04:00:00Z")
APP = "9e4f2a63-7b5c-4d1e-a2f3-4b6c8d0e2f53"
CARD = "0b6f3c1e-2d4a-4e8b-9c7d-5a3f1e2d4c6b"
SESSION = "4c8e2a6b-9d1f-4e3a-8b5c-7d9e1f3a5b7c"


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return document


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_published_example_is_a_valid_restore_input(path: Path) -> None:
    assert input_problems(json.loads(path.read_text())) == []


def file(**fields: Any) -> dict[str, Any]:
    return {"from": {"key": "qapps/x.csv"}, "appId": APP, "cardId": CARD, "fileName": "a.csv", **fields}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"mode": "restre", "qapps": {"instanceId": "i" * 36, "files": [file()]}}, 'mode: expected one of "restore"'),
        ({"qapps": {"instanceId": "i" * 36, "files": [file(cardId="CARD")]}}, "qapps.files[0].cardId: expected a"),
        ({"qapps": {"instanceId": "i" * 36, "files": [file(fileName="")]}}, "fileName: expected at least 1"),
        ({"qapps": {"instanceId": "i" * 36, "files": [file(fileName="a/b")]}}, "fileName: expected a plain file name"),
        ({"qapps": {"instanceId": "i" * 36, "files": [file(scope="SESSION")]}}, "sessionId: required when scope is"),
        (
            {"qapps": {"instanceId": "i" * 36, "files": [file(**{"from": {"key": "qapps/x", "itemId": "app/x"}})]}},
            "qapps.files[0].from: expected either key, or manifest and itemId",
        ),
        (
            {"quicksight": {"bundles": [{"from": {"key": "qapps/x.csv"}}]}},
            "quicksight.bundles[0].from.key: expected a bundle under quicksight/",
        ),
        (
            {"quicksight": {"bundles": [{"from": {"manifest": "n-1", "itemId": "session/x"}}]}},
            "quicksight.bundles[0].from.itemId: expected a bundle item",
        ),
        (
            {"mode": "drill", "qapps": {"instanceId": "i" * 36, "files": [file()]}},
            "drill.sessionId: required to drill Q Apps files",
        ),
        (
            {"drill": {"sessionId": SESSION}, "qapps": {"instanceId": "i" * 36, "files": [file()]}},
            "drill: only allowed when mode is 'drill'",
        ),
        ({"quicksight": {"bundles": [{"from": {"key": "quicksight/a.qs"}, "importSource": "url"}]}}, "importSource"),
        ({}, "(document): expected a 'quicksight' and/or a 'qapps' section"),
    ],
)
def test_each_bad_field_is_named(document: dict[str, Any], problem: str) -> None:
    problems = input_problems(document)
    assert any(problem in found for found in problems), problems


def test_schema_and_request_problems_are_named_in_one_refusal() -> None:
    # Given a schema error in one file, and what only the request checks can see in the other parts
    document = {
        "quicksight": {"bundles": [{"from": {"key": "qapps/x.csv"}}]},
        "qapps": {"instanceId": "i" * 36, "files": [file(cardId="CARD"), file(fileName="a/b", scope="SESSION")]},
    }
    expected = [
        'qapps.files[0].cardId: expected a lower-case version 4 or 5 UUID (the Q Apps id pattern), got "CARD"',
        "quicksight.bundles[0].from.key: expected a bundle under quicksight/, got 'qapps/x.csv'",
        "qapps.files[1].sessionId: required when scope is SESSION",
        "qapps.files[1].fileName: expected a plain file name (no control characters, quotes or slashes)",
    ]
    assert input_problems(document) == expected
    # And the restore's validation step refuses it naming them all, before it reads the archive
    with pytest.raises(InvalidRestoreInputError) as refused:
        plan_restore(document, CONTEXT, s3=None, qapps=None, bucket="archive", default_account="123456789012")
    assert refused.value.problems == expected


def test_a_drill_restores_beside_the_originals() -> None:
    # Given the drill example (no prefix of its own bundles, files in APPLICATION scope by default)
    document = example("drill-latest.json")
    del document["drill"]["resourcePrefix"]

    request = normalised_request(document, CONTEXT, default_account="123456789012").wire()

    # Then every bundle gets the default drill prefix and every file goes to the drill session
    (bundle,) = request["quicksight"]["bundles"]
    assert bundle["overrideParameters"] == {"ResourceIdOverrideConfiguration": {"PrefixForAllResources": "drill-"}}
    assert bundle["jobId"].startswith("drill-2026-11-22-0-")
    (restored_file,) = request["qapps"]["files"]
    assert (restored_file["scope"], restored_file["sessionId"]) == ("SESSION", document["drill"]["sessionId"])
    assert request["quicksight"]["awsAccountId"] == "123456789012"


def test_a_drill_of_files_for_several_apps_is_refused_naming_the_session() -> None:
    # Given a drill whose files go to two apps, with the one drill session a request has
    document = copy.deepcopy(example("drill-latest.json"))
    other = {**document["qapps"]["files"][0], "appId": "5d2e8f14-6a3b-4c9d-8e1f-3a5b7c9d1e42"}
    document["qapps"]["files"].append(other)

    # Then it is refused before anything is restored: a session belongs to one app
    (problem,) = input_problems(document)
    assert problem.startswith("drill.sessionId: a session belongs to one app, but qapps.files target 2 apps")


def test_a_drill_prefix_is_not_set_per_bundle() -> None:
    document = copy.deepcopy(example("drill-latest.json"))
    document["quicksight"]["bundles"][0]["overrideParameters"] = {
        "ResourceIdOverrideConfiguration": {"PrefixForAllResources": "mine-"}
    }
    assert input_problems(document) == [
        "quicksight.bundles[0].overrideParameters.ResourceIdOverrideConfiguration.PrefixForAllResources: "
        "set by the drill (drill.resourcePrefix), not per bundle"
    ]


@pytest.mark.parametrize(
    ("requested", "size", "source"),
    [
        ("auto", INLINE_MAX_BYTES, "inline"),
        ("auto", INLINE_MAX_BYTES + 1, "s3Uri"),
        ("s3Uri", 10, "s3Uri"),
        ("inline", INLINE_MAX_BYTES + 1, None),
        ("auto", S3_URI_MAX_BYTES + 1, None),
    ],
)
def test_the_import_source_follows_the_bundle_size(requested: str, size: int, source: str | None) -> None:
    chosen, problem = choose_import_source(requested, size)
    assert chosen == source
    assert (problem is None) == (source is not None)


def test_a_streamed_form_announces_its_exact_length_and_puts_the_file_last() -> None:
    form = StreamedForm({"key": "k", "policy": "p"}, file_name='a"b.csv', size=6, chunks=iter([b"abc", b"def"]))
    body = b"".join(form)
    assert len(body) == form.content_length
    assert body.index(b'name="policy"') < body.index(b'name="file"; filename="a%22b.csv"') < body.index(b"abcdef")
    assert body.endswith(f"--{form.boundary}--\r\n".encode())


def test_the_upload_policy_size_range_is_read_when_present() -> None:
    policy = {"conditions": [{"key": "k"}, ["content-length-range", 0, 1024]]}
    assert allowed_upload_size({"policy": base64.b64encode(json.dumps(policy).encode()).decode()}) == (0, 1024)
    assert allowed_upload_size({}) is None
