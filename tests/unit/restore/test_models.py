"""The restore input model and the published schema agree: same fields, required sets, enums and defaults,
and the same verdict on the schema's examples and on documents mutated from them.

The schema stays the contract (and the user-facing check, naming every bad field); the model is
what the plan's defaults come from, so a field added to one and not the other must fail here.
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

from archiver.restore.models import (
    ArchivedReference,
    BundleRestoreRequest,
    DrillRequest,
    FileRestoreRequest,
    QAppsRestoreRequest,
    QuickSightRestoreRequest,
    RestoreInput,
)
from archiver.restore.request import SCHEMA_PATH
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
EXAMPLES = sorted((SCHEMA_PATH.parent / "examples" / "restore").glob("*.json"))
DEFS = SCHEMA["$defs"]
# Each object of the schema and the model that reads it.
PARTS: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "(document)": (SCHEMA, RestoreInput),
    "drill": (DEFS["drill"], DrillRequest),
    "archived": (DEFS["archived"], ArchivedReference),
    "quicksight": (DEFS["quicksight"], QuickSightRestoreRequest),
    "bundle": (DEFS["bundle"], BundleRestoreRequest),
    "qapps": (DEFS["qapps"], QAppsRestoreRequest),
    "file": (DEFS["file"], FileRestoreRequest),
}
# Each enum of the schema: the object holding it, its model, and a value it refuses.
ENUM_FIELDS: dict[str, tuple[dict[str, Any], type[BaseModel], str]] = {
    "mode": (SCHEMA, RestoreInput, "restre"),
    "importSource": (DEFS["bundle"], BundleRestoreRequest, "url"),
    "failureAction": (DEFS["bundle"], BundleRestoreRequest, "RETRY"),
    "scope": (DEFS["file"], FileRestoreRequest, "USER"),
}
ENUMS = {name: refused for name, (_, _, refused) in ENUM_FIELDS.items()}


@pytest.mark.parametrize("part", PARTS)
def test_each_object_has_the_schemas_fields_required_set_and_defaults(part: str) -> None:
    # Given a part of the published schema and the model of it
    schema, model = PARTS[part]
    # Then they name the same fields, require the same ones, refuse unknown keys alike, and share every default
    assert_same_object(schema, model)


@pytest.mark.parametrize("field", ENUM_FIELDS)
def test_every_enum_is_the_schemas(field: str) -> None:
    schema, model, _ = ENUM_FIELDS[field]
    assert_same_enum(schema, model, field)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_published_example_is_accepted_by_both(example: Path) -> None:
    document = json.loads(example.read_text(encoding="utf-8"))
    assert VALIDATOR.is_valid(document)
    assert model_accepts(RestoreInput, document)


@given(example=st.sampled_from(EXAMPLES), mutation=MUTATIONS, choice=st.integers(min_value=0, max_value=10_000))
def test_structural_mutations_get_the_same_verdict_from_both(example: Path, mutation: str, choice: int) -> None:
    # Given a published example, mutated in its structure (keys, types, enums, list bounds)
    document, _ = mutated(json.loads(example.read_text(encoding="utf-8")), mutation, choice, enums=ENUMS)
    # Then the schema and the model say the same: both accept it, or both refuse it
    assert_same_verdict(VALIDATOR, RestoreInput, document)
