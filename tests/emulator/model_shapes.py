"""Hold an emulator's answer to the output shape botocore's model gives the operation.

botocore parses what it is sent without checking it: an answer with a member the real service never
sends, a required member missing, a string where the model has a number or a value outside an enum would
parse, and code written against it would break on the real service. This walks the parsed answer along
the model's output shape and names every such difference.
"""

from __future__ import annotations

import datetime
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (float, int),
    "float": (float, int),
    "timestamp": (datetime.datetime,),
    "blob": (bytes,),
}


def _model(service: str) -> ServiceModel:
    return ServiceModel(Loader().load_service_model(service, "service-2"), service_name=service)


def shape_problems(service: str, operation: str, answer: dict[str, Any]) -> list[str]:
    """Every way ``answer`` (as a boto3 client returned it) departs from ``operation``'s output shape."""
    output = _model(service).operation_model(operation).output_shape
    assert output is not None, f"{operation} has no output shape"
    body = {key: value for key, value in answer.items() if key != "ResponseMetadata"}
    return _problems(output, body, operation)


def _problems(shape: Shape, value: Any, path: str) -> list[str]:
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected a structure, got {type(value).__name__}"]
        members = shape.members
        problems = [f"{path}.{name}: not a member of {shape.name}" for name in value if name not in members]
        problems += [
            f"{path}.{name}: required by {shape.name}, missing" for name in shape.required_members if name not in value
        ]
        for name, member in members.items():
            if name in value:
                problems += _problems(member, value[name], f"{path}.{name}")
        return problems
    if shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        problems = []
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            problems.append(f"{path}: at most {shape.metadata['max']} items, got {len(value)}")
        for index, item in enumerate(value):
            problems += _problems(shape.member, item, f"{path}[{index}]")
        return problems
    if shape.type_name == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        return [problem for key, item in value.items() for problem in _problems(shape.value, item, f"{path}[{key!r}]")]
    expected = _SCALARS.get(shape.type_name, (object,))
    if not isinstance(value, expected) or (shape.type_name in ("integer", "long") and isinstance(value, bool)):
        return [f"{path}: expected {shape.type_name}, got {type(value).__name__} {value!r}"]
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name}'s values"]
    return []
