"""The run input model and the published schema agree: same fields, required sets, enums and defaults,
and the same verdict on the schema's examples and on documents mutated from them.

The schema stays the contract (and the user-facing check, naming every bad field); the model is
what the plan is built from, so a field added to one and not the other must fail here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from archiver.archive.models import (
    AssetFilter,
    BundleRequest,
    DiscoverRequest,
    QAppsRequest,
    QuickSightRequest,
    RunInput,
    SessionRequest,
)
from archiver.archive.run_input import SCHEMA_PATH
from tests.unit.schema_agreement import (
    MUTATIONS,
    assert_same_enum,
    assert_same_object,
    assert_same_verdict,
    model_accepts,
    mutated,
)

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
EXAMPLES = sorted((SCHEMA_PATH.parent / "examples").glob("*.json"))
# Each object of the schema and the model that reads it.
PARTS: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "(document)": (SCHEMA, RunInput),
    "quicksight": (SCHEMA["$defs"]["quicksight"], QuickSightRequest),
    "bundle": (SCHEMA["$defs"]["bundle"], BundleRequest),
    "discover": (SCHEMA["$defs"]["discover"], DiscoverRequest),
    "assetFilter": (SCHEMA["$defs"]["assetFilter"], AssetFilter),
    "qapps": (SCHEMA["$defs"]["qapps"], QAppsRequest),
    "session": (SCHEMA["$defs"]["session"], SessionRequest),
}
# Each enum of the schema, and a value it refuses.
ENUMS = {"exportFormat": "ZIP"}


@pytest.mark.parametrize("part", PARTS)
def test_each_object_has_the_schemas_fields_required_set_and_defaults(part: str) -> None:
    # Given a part of the published schema and the model of it
    schema, model = PARTS[part]
    # Then they name the same fields, require the same ones, refuse unknown keys alike, and share every default
    assert_same_object(schema, model)


def test_the_export_formats_are_the_schemas() -> None:
    assert_same_enum(SCHEMA["$defs"]["bundle"], BundleRequest, "exportFormat")


def test_the_discovered_types_are_the_schemas() -> None:
    # Given the types a discover may list, in the schema (an array of an enum) and in the model
    listed = SCHEMA["$defs"]["discover"]["properties"]["types"]["items"]["enum"]
    generated = DiscoverRequest.model_json_schema(by_alias=True)["properties"]["types"]["items"]["enum"]
    # Then they are the same types
    assert set(listed) == set(generated)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_published_example_is_accepted_by_both(example: Path) -> None:
    document = json.loads(example.read_text(encoding="utf-8"))
    assert VALIDATOR.is_valid(document)
    assert model_accepts(RunInput, document)


@given(example=st.sampled_from(EXAMPLES), mutation=MUTATIONS, choice=st.integers(min_value=0, max_value=10_000))
def test_structural_mutations_get_the_same_verdict_from_both(example: Path, mutation: str, choice: int) -> None:
    # Given a published example, mutated in its structure (keys, types, enums, list bounds)
    document, _ = mutated(json.loads(example.read_text(encoding="utf-8")), mutation, choice, enums=ENUMS)
    # Then the schema and the model say the same: both accept it, or both refuse it
    assert_same_verdict(VALIDATOR, RunInput, document)
