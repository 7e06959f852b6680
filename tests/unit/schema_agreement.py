"""Holding an input model to its published JSON Schema: what the run input's and the restore input's tests share.

Each side's schema stays the contract (and the user-facing check, naming every bad field); its model is what
the plan is built from, so a field added to one and not the other must fail a test. These helpers say what
"agree" means once: the same fields, required sets, unknown keys refused, defaults and enums, and the same
verdict on a published example mutated in its structure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

MUTATIONS = st.sampled_from(["unknown key", "drop key", "wrong type", "bad enum", "empty list"])


def model_accepts(model: type[BaseModel], document: Any) -> bool:
    try:
        model.model_validate(document)
    except ValidationError:
        return False
    return True


def assert_same_object(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The model of one object of the schema names its fields, requires, refuses and defaults alike."""
    generated = model.model_json_schema(by_alias=True)
    assert set(generated["properties"]) == set(schema["properties"])
    assert set(generated.get("required", [])) == set(schema.get("required", []))
    assert generated.get("additionalProperties") is False and schema["additionalProperties"] is False
    # Every default the schema states is the model's
    for name, field in schema["properties"].items():
        if "default" in field:
            assert generated["properties"][name]["default"] == field["default"], name


def assert_same_enum(schema: dict[str, Any], model: type[BaseModel], field: str) -> None:
    """The values the model's ``field`` takes are those the schema's object lists for it."""
    generated = model.model_json_schema(by_alias=True)["properties"][field]
    assert set(generated["enum"]) == set(schema["properties"][field]["enum"]), field


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


def mutated(document: Any, mutation: str, choice: int, *, enums: Mapping[str, str]) -> tuple[Any, tuple[Any, ...]]:
    """``document`` mutated in its structure (keys, types, enums, list bounds), and the path of the object changed.

    ``choice`` picks the object and its key; ``enums`` maps each enum key of the schema to a value it refuses.
    Patterns and uniqueness stay the schema's alone: these mutations never touch them.
    """
    changed = copy.deepcopy(document)
    objects = _objects(changed)
    path, target = objects[choice % len(objects)]
    keys = sorted(target)
    key = keys[choice % len(keys)] if keys else None
    enum_keys = sorted(set(target) & set(enums))
    if mutation == "unknown key":
        target["unexpectedKey"] = 1
    elif mutation == "drop key" and key is not None:
        del target[key]
    elif mutation == "wrong type" and key is not None:
        target[key] = {"not": "this"} if not isinstance(target[key], dict) else 7
    elif mutation == "bad enum" and enum_keys:
        enum_key = enum_keys[choice % len(enum_keys)]
        target[enum_key] = enums[enum_key]
    elif mutation == "empty list" and key is not None and isinstance(target[key], list):
        target[key] = []
    return changed, path


def assert_same_verdict(validator: Draft202012Validator, model: type[BaseModel], document: Any) -> None:
    """The schema and the model say the same of ``document``: both accept it, or both refuse it."""
    assert validator.is_valid(document) == model_accepts(model, document), document
