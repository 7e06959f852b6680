"""What is wrong with an input document (a run's, a restore's), said field by field.

Both input documents are checked against a published JSON Schema (``archiver/schema/``) and refused
with every problem at once, each naming its field (``qapps.sesions: unknown key (did you mean
sessions? ...)``). This module is how a schema violation is worded, and how the cross-field checks
find the parts of a document that are well-formed even where the schema failed elsewhere.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_VALUE_PREVIEW = 60
# \Z, not $: $ also matches before a trailing newline, and a key "A\n" must be quoted like any odd key.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w-]*\Z")


def _field(path: Iterable[Any], root: str = "") -> str:
    """A field's path as the messages name it: ``quicksight.bundles[0].name`` (odd keys quoted), below ``root``."""
    text = root
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _preview(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= _VALUE_PREVIEW else text[: _VALUE_PREVIEW - 3] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return "null"


def _describe(error: ValidationError, root: str = "") -> list[str]:
    """Turn one schema violation into problems that name the field (below ``root``) and what was expected."""

    def _field_at(path: Iterable[Any]) -> str:
        return _field(path, root)

    field = _field_at(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "additionalProperties":
            allowed = sorted(schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            return [
                f"{_field_at([*error.absolute_path, key])}: unknown key ({_did_you_mean(key, allowed)}"
                f"expected one of {', '.join(allowed)})"
                for key in unknown
            ]
        case "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            return [f"{_field_at([*error.absolute_path, key])}: required" for key in missing]
        case "type":
            return [f"{field}: expected {error.validator_value}, got {_json_type(error.instance)}"]
        case "pattern":
            expected = schema.get("description", f"a string matching {error.validator_value}")
            return [f"{field}: expected {expected}, got {_preview(error.instance)}"]
        case "enum":
            options = ", ".join(json.dumps(option) for option in error.validator_value)
            return [f"{field}: expected one of {options}, got {_preview(error.instance)}"]
        case "minItems" | "maxItems":
            bound = "at least" if error.validator == "minItems" else "at most"
            return [f"{field}: expected {bound} {error.validator_value:,} items, got {len(error.instance):,}"]
        case "minLength" | "maxLength":
            bound = "at least" if error.validator == "minLength" else "at most"
            # A key's own bounds (propertyNames): the object is the field, the key what is wrong.
            what = f"key {json.dumps(error.instance)}: " if "propertyNames" in error.schema_path else ""
            return [f"{field}: {what}expected {bound} {error.validator_value} characters, got {len(error.instance)}"]
        case "uniqueItems":
            return [f"{field}: expected no duplicates"]
        case "anyOf" if not error.absolute_path:
            alternatives = [name for name in _required_names(schema) if name not in ("quicksight", "qapps")]
            return [
                "(document): expected a 'quicksight' and/or a 'qapps' section"
                + "".join(f", or a '{name}'" for name in alternatives)
            ]
        case "anyOf":
            return [f"{field}: expected at least one of {_alternatives(error.validator_value)}"]
        case "not" if len(error.schema_path) >= 3 and error.schema_path[-3] == "dependentSchemas":
            # A key that stands for others (a list by reference, the whole document by reference) given beside them.
            key = error.schema_path[-2]
            excluded = [name for name in _required_names(error.validator_value) if name in error.instance]
            return [
                f"{_field_at([*error.absolute_path, key])}: expected without {' or '.join(excluded)} beside it "
                f"({schema.get('description', 'they exclude each other')})"
            ]
        case _:
            return [f"{field}: {error.message}"]


def _required_names(schema: Any) -> list[str]:
    """The keys a ``{"required": [...]}`` schema, or an ``anyOf`` of such, names."""
    if not isinstance(schema, dict):
        return []
    return [*schema.get("required", []), *(name for part in schema.get("anyOf", []) for name in _required_names(part))]


def _alternatives(branches: list[dict[str, Any]]) -> str:
    """What an object's ``anyOf`` asks for, read from its branches: ``'bundles' (non-empty) or 'discover'``.

    Each branch requires one key, and may bound it: non-empty (``minItems``) or a value (``const``).
    """
    wanted = []
    for branch in branches:
        (key,) = branch["required"]
        bound = branch.get("properties", {}).get(key, {})
        if "const" in bound:
            wanted.append(f"'{key}': {json.dumps(bound['const'])}")
        else:
            wanted.append(f"'{key}' (non-empty)" if bound.get("minItems") else f"'{key}'")
    return ", ".join(wanted[:-1]) + f" or {wanted[-1]}"


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


def schema_problems(document: Any, validator: Draft202012Validator) -> list[str]:
    """Every way ``document`` breaks ``validator``'s schema, one field-naming line each."""
    if not isinstance(document, dict):
        return [f"(document): expected an object, got {_json_type(document)}"]
    problems: list[str] = []
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        problems.extend(_describe(error))
    return list(dict.fromkeys(problems))


def part_problems(value: Any, pointer: str, validator: Draft202012Validator, *, root: str) -> list[str]:
    """Every way ``value`` breaks the part of ``validator``'s schema at ``pointer``, its fields named below ``root``.

    For what a document names rather than holds (a line of a sessions list by reference): each line is
    checked against the schema's own definition of one, and named by where it is (``qapps.sessionsUri[line 7]``).
    """
    errors = sorted(
        _part_validator(validator, pointer).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
    )
    return list(dict.fromkeys(problem for error in errors for problem in _describe(error, root)))


def part_conforms(value: Any, pointer: str, validator: Draft202012Validator) -> bool:
    """Whether ``value`` is valid against the part of ``validator``'s schema at ``pointer`` (``#/$defs/bundle``).

    Cross-field checks run on the parts of a document that are well-formed even when the schema
    failed elsewhere, so that one refusal names every problem, not the schema's first.
    """
    return _part_validator(validator, pointer).is_valid(value)


_part_validators: dict[tuple[int, str], Draft202012Validator] = {}


def _part_validator(validator: Draft202012Validator, pointer: str) -> Draft202012Validator:
    key = (id(validator.schema), pointer)
    if key not in _part_validators:
        _part_validators[key] = Draft202012Validator({"$defs": validator.schema["$defs"], "$ref": pointer})
    return _part_validators[key]


def listed_items(container: Any, key: str) -> list[tuple[int, Any]]:
    """``container[key]`` with indexes, when the container is an object and that is a list."""
    value = container.get(key) if isinstance(container, dict) else None
    return list(enumerate(value)) if isinstance(value, list) else []
