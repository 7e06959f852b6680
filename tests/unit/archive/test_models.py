"""The run input model and the published schema agree: same fields, required sets, enums and defaults,
and the same verdict on the schema's examples and on documents mutated from them.

The schema stays the contract (and the user-facing check, naming every bad field); the model is
what the plan is built from, so a field added to one and not the other must fail here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from archiver.archive.models import BundleRequest, QAppsRequest, QuickSightRequest, RunInput, SessionRequest
from archiver.archive.run_input import SCHEMA_PATH

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
EXAMPLES = sorted((SCHEMA_PATH.parent / "examples").glob("*.json"))
# Each object of the schema and the model that reads it.
PARTS: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "(document)": (SCHEMA, RunInput),
    "quicksight": (SCHEMA["$defs"]["quicksight"], QuickSightRequest),
    "bundle": (SCHEMA["$defs"]["bundle"], BundleRequest),
    "qapps": (SCHEMA["$defs"]["qapps"], QAppsRequest),
    "session": (SCHEMA["$defs"]["session"], SessionRequest),
}


def model_accepts(document: Any) -> bool:
    try:
        RunInput.model_validate(document)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("part", PARTS)
def test_each_object_has_the_schemas_fields_required_set_and_defaults(part: str) -> None:
    # Given a part of the published schema and the model of it
    schema, model = PARTS[part]
    generated = model.model_json_schema(by_alias=True)
    # Then they name the same fields, require the same ones and refuse unknown keys alike
    assert set(generated["properties"]) == set(schema["properties"])
    assert set(generated.get("required", [])) == set(schema.get("required", []))
    assert generated.get("additionalProperties") is False and schema["additionalProperties"] is False
    # And every default the schema states is the model's
    for name, field in schema["properties"].items():
        if "default" in field:
            assert generated["properties"][name]["default"] == field["default"], name


def test_the_export_formats_are_the_schemas() -> None:
    generated = BundleRequest.model_json_schema(by_alias=True)["properties"]["exportFormat"]
    assert set(generated["enum"]) == set(SCHEMA["$defs"]["bundle"]["properties"]["exportFormat"]["enum"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_published_example_is_accepted_by_both(example: Path) -> None:
    document = json.loads(example.read_text(encoding="utf-8"))
    assert VALIDATOR.is_valid(document)
    assert model_accepts(document)


def _objects(document: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every object inside ``document`` with its path."""
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    if isinstance(document, dict):
        found.append((path, document))
        for key, value in document.items():
            found.extend(_objects(value, (*path, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_objects(value, (*path, index)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


MUTATIONS = st.sampled_from(["unknown key", "drop key", "wrong type", "bad enum", "empty list"])


@given(example=st.sampled_from(EXAMPLES), mutation=MUTATIONS, choice=st.integers(min_value=0, max_value=10_000))
def test_structural_mutations_get_the_same_verdict_from_both(example: Path, mutation: str, choice: int) -> None:
    # Given a published example, mutated in its structure (keys, types, enums, list bounds)
    document = json.loads(example.read_text(encoding="utf-8"))
    mutated = copy.deepcopy(document)
    objects = _objects(mutated)
    path, target = objects[choice % len(objects)]
    keys = sorted(target)
    key = keys[choice % len(keys)] if keys else None
    if mutation == "unknown key":
        target["unexpectedKey"] = 1
    elif mutation == "drop key" and key is not None:
        del target[key]
    elif mutation == "wrong type" and key is not None:
        target[key] = {"not": "this"} if not isinstance(target[key], dict) else 7
    elif mutation == "bad enum" and "exportFormat" in target:
        target["exportFormat"] = "ZIP"
    elif mutation == "empty list" and key is not None and isinstance(target[key], list):
        target[key] = []
    # Then the schema and the model say the same: both accept it, or both refuse it
    # (patterns and uniqueness stay the schema's alone: these mutations never touch them)
    assert VALIDATOR.is_valid(mutated) == model_accepts(mutated), (path, mutation, mutated)
    assert _at(mutated, ()) is mutated
