"""cfn-lint on the synthesized template and an ASL linter on every resolved state machine definition.

cfn-lint sees a ``DefinitionString`` built with ``Fn::Join`` as one opaque string, so each definition is
also resolved (tests/local/template.py) and checked on its own: by statelint, and by cfn-lint's own
state machine schema (E3601) on a copy of the template carrying the resolved ``Definition``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.rules import Match
from statelint.config import Config
from statelint.linter import Linter
from statelint.problem import ProblemType

from tests.infra.conftest import Synthesized
from tests.local.template import state_machine_definitions

# Every cfn-lint rule is on; each exception carries its reason.
IGNORED_CHECKS = {
    # The CDK makes each function depend on its role AND the role's default policy, so the policy is in
    # place before the function can run; the role half of that DependsOn is redundant, not wrong.
    "W3005": "CDK's DependsOn on a function's role, kept with the policy it must wait for",
}
# statelint (a port of AWS's Ruby statelint) wants BackoffRate written as a JSON float (2.0); JSON has one
# number type, and Step Functions accepts 2.
STATELINT_IGNORED = {ProblemType.FLOAT}


def _succeed_state_output_path(match: Match, template: dict[str, Any]) -> bool:
    # cfn-lint's schema omits OutputPath from Succeed states; the Amazon States Language allows it
    # (InputPath and OutputPath filter what a Succeed state returns), and the run's summary relies on it.
    path = [str(part) for part in match.path]
    if path[-1:] != ["OutputPath"] or "Definition" not in path:
        return False
    state: Any = template
    for part in path[:-1]:
        state = state[int(part)] if isinstance(state, list) else state[part]
    return bool(state.get("Type") == "Succeed")


def _partition_join(match: Match, template: dict[str, Any]) -> bool:
    # CDK Pipelines spells the deploy accounts' bootstrap role ARNs as Fn::Join over AWS::Partition: valid
    # CloudFormation, which this style advice (prefer Fn::Sub) inside E3703 reports as an error.
    return "Prefer using Fn::Sub over Fn::Join" in match.message


# Matches of a rule that are known to be wrong, each recognised precisely (the rest of the rule stays on).
KNOWN_FALSE_POSITIVES: dict[str, Callable[[Match, dict[str, Any]], bool]] = {
    "E3601": _succeed_state_output_path,
    "E3703": _partition_join,
}


def _template(synth: Synthesized) -> dict[str, Any]:
    """A copy of the synthesized template, free to change."""
    template: dict[str, Any] = json.loads(json.dumps(synth.template.to_json()))
    return template


def cfn_lint(template: dict[str, Any]) -> list[Match]:
    """cfn-lint's matches on ``template``, less the ignored checks and the known false positives."""
    config = ManualArgs(regions=["us-east-1"], ignore_checks=sorted(IGNORED_CHECKS))
    return [
        match
        for match in lint(json.dumps(template), config=config)
        if not (match.rule.id in KNOWN_FALSE_POSITIVES and KNOWN_FALSE_POSITIVES[match.rule.id](match, template))
    ]


def listed(matches: list[Match]) -> str:
    return "\n".join(f"{m.rule.id} at {'/'.join(map(str, m.path))}: {m.message}" for m in matches)


@pytest.mark.parametrize("deployment", ["archiver", "scheduled"])
def test_cfn_lint_finds_nothing_in_the_template(deployment: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(deployment)

    matches = cfn_lint(_template(synth))

    assert not matches, listed(matches)


def _resolved_in_place(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each state machine's definition, resolved and put in the template as ``Definition`` for cfn-lint.

    The template holds the very objects returned: change a definition and the template changes with it.
    """
    definitions = state_machine_definitions(template)
    for logical_id, definition in definitions.items():
        properties = template["Resources"][logical_id]["Properties"]
        properties.pop("DefinitionString")
        properties["Definition"] = definition
    return definitions


# statelint predates ItemReader's ReaderConfig.InputType (JSON, JSONL, CSV, PARQUET, MANIFEST), which CDK writes for
# an S3 file reader; cfn-lint's state machine schema below knows it and checks it.
STATELINT_UNKNOWN_FIELDS = ('Field "InputType" not allowed in', ".ItemReader.ReaderConfig")


def _statelint(definition: dict[str, Any]) -> list[str]:
    problems: list[str] = Linter.validate(definition, Config(STATELINT_IGNORED))
    return [p for p in problems if not all(part in p for part in STATELINT_UNKNOWN_FIELDS)]


def test_every_resolved_state_machine_definition_passes_statelint_and_cfn_lint(archiver: Synthesized) -> None:
    template = _template(archiver)
    definitions = _resolved_in_place(template)
    assert definitions, "the template has no state machine to lint"

    for logical_id, definition in definitions.items():
        problems = _statelint(definition)
        assert not problems, f"{logical_id}:\n" + "\n".join(problems)
    matches = cfn_lint(template)
    assert not matches, listed(matches)


def test_the_linters_catch_a_broken_definition(archiver: Synthesized) -> None:
    # Given the real archive definition with a state that points nowhere and one of no known type
    template = _template(archiver)
    (definition,) = [d for d in _resolved_in_place(template).values() if d["StartAt"] == "ValidateRun"]
    definition["States"][definition["StartAt"]]["Next"] = "NoSuchState"
    definition["States"]["WriteManifest"]["Type"] = "Tusk"

    problems = _statelint(definition)
    matches = cfn_lint(template)

    # Then statelint names both, and cfn-lint's schema the unknown type
    assert any("NoSuchState" in problem for problem in problems), problems
    assert any("Tusk" in problem for problem in problems), problems
    assert any(m.rule.id == "E3601" and "WriteManifest" in map(str, m.path) for m in matches), listed(matches)
