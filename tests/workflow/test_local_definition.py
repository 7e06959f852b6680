"""The local engine runs the synthesized definition, changed in one documented way only.

moto's ASL parser refuses ``ProcessorConfig.ExecutionType``, which CDK writes in every Distributed Map;
``tests.local.template.for_local_engine`` drops it, and nothing else may differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.local.template import MOTO_UNSUPPORTED_PROCESSOR_KEYS, SynthesizedWorkflow, for_local_engine


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, scalar) of a JSON value; an empty object or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, (*path, str(index)))
    else:
        yield path, value


def test_the_local_definition_differs_from_the_synthesized_one_only_in_the_keys_moto_refuses(
    synthesized_workflow: SynthesizedWorkflow,
) -> None:
    # Given the archive run's synthesized definition
    synthesized = dict(leaves(synthesized_workflow.definition))

    # When it is adapted for the local engine
    adapted = dict(leaves(for_local_engine(synthesized_workflow.definition)))

    # Then the only paths that differ are the Distributed Maps' execution types, dropped, one per kind of item
    differing = {path for path in synthesized.keys() | adapted.keys() if synthesized.get(path) != adapted.get(path)}
    assert differing == {path for path in synthesized if path[-2:] == ("ProcessorConfig", "ExecutionType")}
    assert set(MOTO_UNSUPPORTED_PROCESSOR_KEYS) == {"ExecutionType"}
    assert sorted(synthesized[path] for path in differing) == ["STANDARD"] * 3
    assert not any(path in adapted for path in differing)
    # And the synthesized definition itself is left as it deploys
    assert synthesized == dict(leaves(synthesized_workflow.definition))
