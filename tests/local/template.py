"""Read what the local engine needs out of the synthesized CloudFormation template.

The state machine definition is synthesized as an ``Fn::Join`` over function ARNs; the engine
resolves it so each Lambda task names the function's logical id, and reads each function's
handler and environment, so the local run executes exactly the definition that deploys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    environment: dict[str, Any]

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)


@dataclass(frozen=True)
class SynthesizedWorkflow:
    definition: dict[str, Any]
    functions: dict[str, FunctionSpec]

    def function_named(self, handler_module: str) -> FunctionSpec:
        """The function whose handler lives in ``functions/{handler_module}/``."""
        for spec in self.functions.values():
            if spec.handler.split(".")[0] == handler_module:
                return spec
        raise KeyError(handler_module)


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}"


class UnresolvableError(ValueError):
    """The template uses an intrinsic the local engine cannot stand in for."""


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_resolve(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            if argument not in refs:
                raise UnresolvableError(f"Ref {argument}")
            return refs[argument]
        if name == "Fn::GetAtt":
            logical_id, attribute = argument
            if attribute == "Arn":
                return function_arn(logical_id)
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}")
        if name == "Fn::Join":
            separator, parts = argument
            return separator.join(str(_resolve(part, refs)) for part in parts)
        if name.startswith("Fn::"):
            raise UnresolvableError(name)
    return {key: _resolve(item, refs) for key, item in value.items()}


def find_template(cdk_out: Path) -> Path:
    """The synthesized template that holds the archiver's state machine."""
    for path in sorted(cdk_out.glob("*.template.json")):
        resources = json.loads(path.read_text())["Resources"]
        if any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in resources.values()):
            return path
    raise FileNotFoundError(f"no template with a state machine in {cdk_out}: run `make synth` first")


# The stack's constructs that hold a state machine (infra/stack.py).
ARCHIVE_WORKFLOW = "Workflow"
RESTORE_WORKFLOW = "Restore"


def load_workflow(
    template: dict[str, Any], *, bucket_name: str, construct: str = ARCHIVE_WORKFLOW
) -> SynthesizedWorkflow:
    """Resolve a workflow's definition (the archive's unless told) and every function, for a local run."""
    resources: dict[str, Any] = template["Resources"]
    refs = {"AWS::Partition": "aws", "AWS::Region": LOCAL_REGION, "AWS::AccountId": LOCAL_ACCOUNT}
    refs.update({logical_id: bucket_name for logical_id, r in resources.items() if r["Type"] == "AWS::S3::Bucket"})
    functions: dict[str, FunctionSpec] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        variables = props.get("Environment", {}).get("Variables", {})
        environment: dict[str, Any] = {}
        for name, raw in variables.items():
            try:
                environment[name] = _resolve(raw, refs)
            except UnresolvableError:
                continue  # a value the local run replaces (e.g. an ARN of a deployed resource)
        functions[logical_id] = FunctionSpec(logical_id, props["Handler"], environment)
    machine = _state_machine(resources, construct)
    definition = json.loads(_resolve(machine["Properties"]["DefinitionString"], refs))
    return SynthesizedWorkflow(definition=definition, functions=functions)


def state_machine_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state machine's definition (by logical id), its intrinsics resolved as for a local run.

    A ``Ref`` stands for the resource's logical id and ``Fn::GetAtt .Arn`` for a Lambda ARN: enough
    for a linter to see the states, which the synthesized ``Fn::Join`` hides.
    """
    resources: dict[str, Any] = template["Resources"]
    refs = {"AWS::Partition": "aws", "AWS::Region": LOCAL_REGION, "AWS::AccountId": LOCAL_ACCOUNT}
    refs.update({"AWS::URLSuffix": "amazonaws.com", **{logical_id: logical_id for logical_id in resources}})
    return {
        logical_id: json.loads(_resolve(resource["Properties"]["DefinitionString"], refs))
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def _state_machine(resources: dict[str, Any], construct: str) -> dict[str, Any]:
    """The state machine defined by the stack's construct ``construct`` (its construct path, else logical id)."""
    machines = {
        resource.get("Metadata", {}).get("aws:cdk:path", logical_id): resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }
    found = [r for path, r in machines.items() if f"/{construct}/" in path or path.startswith(construct)]
    if len(found) != 1:
        raise ValueError(
            f"expected one state machine of construct {construct!r}, found {len(found)} in {sorted(machines)}"
        )
    return found[0]


# What moto 5.2.5's ASL parser refuses in a Distributed Map that CDK always writes: the children's
# execution type (its parser has no rule for ProcessorConfig.ExecutionType; it runs every child the
# same way whatever the type). ItemBatcher, which it also refuses, is not used. Its lexer also reads
# ``"ToleratedFailurePercentage": 100`` as an integer, which its grammar refuses there: the same number
# is written ``100.0``, equal as JSON, so not a difference of the definition.
MOTO_UNSUPPORTED_PROCESSOR_KEYS = ("ExecutionType",)


def _states(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every state of a definition's ``States``, nested ones (Parallel branches, Map processors) included."""
    for state in states.values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        for processor in (state.get("ItemProcessor"), state.get("Iterator")):
            if processor:
                yield from _states(processor["States"])


def for_local_engine(definition: dict[str, Any]) -> dict[str, Any]:
    """The synthesized ``definition`` as moto's engine can parse it: the one change the local runs make.

    Drops ``MOTO_UNSUPPORTED_PROCESSOR_KEYS`` from every Distributed Map's ``ProcessorConfig``; nothing else
    (tests/local/test_template.py diffs the two definitions). What deploys is the synthesized definition.
    """
    adapted = copy.deepcopy(definition)
    for state in _states(adapted["States"]):
        config = state.get("ItemProcessor", {}).get("ProcessorConfig", {})
        for key in MOTO_UNSUPPORTED_PROCESSOR_KEYS:
            config.pop(key, None)
        if isinstance(state.get("ToleratedFailurePercentage"), int):
            state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
    return adapted
