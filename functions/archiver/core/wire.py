"""How the archiver's models meet the wire: camelCase JSON outside, snake_case Python inside.

Every step's event and result, every plan and every document in the bucket is one of these models
(``archiver.archive.models``, ``archiver.restore.models``). A model is validated once, where the
data enters (a handler's event, a document read back), and dumped with its aliases where it leaves,
so the JSON keeps the names the state machines, the published schemas and the docs use.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
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


class Execution(WireModel):
    """The execution a workflow's first step runs in (its id, name and start time, from the context object)."""

    id: str
    name: str
    start_time: str


class StepError(BaseModel):
    """A ``Catch``'s ``{Error, Cause}``, as Step Functions spells it."""

    model_config = ConfigDict(frozen=True)

    Error: str = "UnknownError"
    Cause: str | None = None
