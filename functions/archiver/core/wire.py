"""How the archiver's models meet the wire: camelCase JSON outside, snake_case Python inside.

Every step's event and result, every plan and every document in the bucket is one of these models
(``archiver.archive.models``, ``archiver.restore.models``). A model is validated once, where the
data enters (a handler's event, a document read back), and dumped with its aliases where it leaves,
so the JSON keeps the names the state machines, the published schemas and the docs use.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel

Model = TypeVar("Model", bound="WireModel")


class WireModel(BaseModel):
    """A camelCase JSON object with snake_case fields, refusing keys it does not know.

    Unknown keys are refused because each event is exactly what its state's Parameters pass: a key
    nobody reads is a definition and a handler that have drifted apart.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The model as the JSON the state machine or the bucket holds (camelCase keys)."""
        return self.model_dump(mode="json", by_alias=True)


class SparseWireModel(WireModel):
    """A WireModel whose JSON leaves out a ``None`` it was never given.

    For the parts whose documents have always had keys that come and go (a source's ids, a file's
    ``sessionId``, the ``at`` of an item that recorded nothing): a key read back is written back as
    it was, ``null`` included, and one never given stays absent, so one model reads every shape.
    """

    @model_serializer(mode="wrap")
    def _given_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        omitted = {
            key
            for name, field in fields.items()
            if getattr(self, name) is None and name not in self.model_fields_set
            for key in (name, field.serialization_alias or field.alias)
        }
        return {key: value for key, value in data.items() if key not in omitted}


class Execution(WireModel):
    """The execution a workflow's first step runs in (its id, name and start time, from the context object)."""

    id: str
    name: str
    start_time: str


class ValidateInputEvent(WireModel):
    """A workflow's first step's event (``infra.core.steps.validate_input_step``): the input, the execution."""

    execution: Execution
    # The document stays JSON: it is checked against its published schema first, every bad field named.
    input: Any


class FailureNoted(WireModel):
    """What the state machine keeps of a recorded item failure (the message stays in the outcome)."""

    item_id: str
    error: str


class ErrorRecord(WireModel):
    """An outcome's ``error`` (``archiver.core.documents.error_record``), in a run's manifest or a restore's report."""

    type: str
    message: str
    details: list[dict[str, Any]] = []


class StepError(BaseModel):
    """A ``Catch``'s ``{Error, Cause}``, as Step Functions spells it."""

    model_config = ConfigDict(frozen=True)

    Error: str = "UnknownError"
    Cause: str | None = None
