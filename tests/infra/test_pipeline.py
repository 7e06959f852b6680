"""The opt-in deploy pipeline: tests gate every deployment; each configured account and region gets the stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

import app
from infra.pipeline import PIPELINE_CONTEXT_KEY, PipelineSettings
from infra.settings import SettingsError
from tests.infra.conftest import PIPELINE_CONNECTION, PIPELINE_SAMPLE, as_list
from tests.infra.test_lint import cfn_lint, listed


def _pipeline_template(pipeline_app: cdk.App) -> Template:
    stack = pipeline_app.node.find_child("ArchiverPipeline")
    assert isinstance(stack, cdk.Stack)
    return Template.from_stack(stack)


def test_without_the_setting_the_app_is_the_archiver_stack_alone() -> None:
    built = app.build_app()

    assert [child.node.id for child in built.node.children if isinstance(child, cdk.Stack)] == ["Archiver"]


def test_the_pipeline_runs_in_the_connections_account_and_pulls_the_configured_branch(pipeline_app: cdk.App) -> None:
    stack = pipeline_app.node.find_child("ArchiverPipeline")
    assert isinstance(stack, cdk.Stack)
    assert (stack.account, stack.region) == ("111111111111", "eu-west-1")

    _pipeline_template(pipeline_app).has_resource_properties(
        "AWS::CodePipeline::Pipeline",
        {
            "Stages": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "Source",
                            "Actions": [
                                Match.object_like(
                                    {
                                        "ActionTypeId": Match.object_like({"Provider": "CodeStarSourceConnection"}),
                                        "Configuration": Match.object_like(
                                            {
                                                "ConnectionArn": PIPELINE_CONNECTION,
                                                "FullRepositoryId": "example-org/archiver",
                                                "BranchName": "release",
                                            }
                                        ),
                                    }
                                )
                            ],
                        }
                    )
                ]
            )
        },
    )


def _actions_allowed_on(template: Template, resource: str) -> set[str]:
    return {
        action
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow" and resource in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }


@pytest.mark.parametrize("service", ["codeconnections", "codestar-connections"])
def test_the_source_action_may_use_the_connection_under_its_arns_own_service_prefix(
    service: str, pipeline_app: cdk.App, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given a connection the console made today (codeconnections:) or one made before the rename
    connection = PIPELINE_CONNECTION.replace(":codeconnections:", f":{service}:")
    if connection != PIPELINE_CONNECTION:
        pipeline_app = app.build_app(
            outdir=str(tmp_path_factory.mktemp("cdk.out")),
            context={PIPELINE_CONTEXT_KEY: {**PIPELINE_SAMPLE, "connectionArn": connection}},
        )

    allowed = _actions_allowed_on(_pipeline_template(pipeline_app), connection)

    # Then IAM lets the pipeline pull the source: UseConnection is authorised under the ARN's own prefix
    assert f"{service}:UseConnection" in allowed
    assert allowed <= {"codestar-connections:UseConnection", "codeconnections:UseConnection"}


def test_the_tests_run_before_the_synth_that_feeds_the_deployments(pipeline_app: cdk.App) -> None:
    projects = _pipeline_template(pipeline_app).find_resources("AWS::CodeBuild::Project")
    build_specs = [json.loads(p["Properties"]["Source"]["BuildSpec"]) for p in projects.values()]
    synth = [spec for spec in build_specs if "make test" in spec["phases"]["build"]["commands"]]

    assert len(synth) == 1
    assert synth[0]["phases"]["build"]["commands"] == ["make test", "make synth"]
    assert synth[0]["artifacts"]["base-directory"] == "cdk.out"


def test_each_stage_deploys_the_archiver_stack_to_its_account_and_region(pipeline_app: cdk.App) -> None:
    pipeline = next(iter(_pipeline_template(pipeline_app).find_resources("AWS::CodePipeline::Pipeline").values()))
    stage_names = [stage["Name"] for stage in pipeline["Properties"]["Stages"]]
    assert stage_names[:2] == ["Source", "Build"]
    assert "prod" in stage_names

    stage = pipeline_app.node.find_child("ArchiverPipeline").node.find_child("prod")
    archiver = stage.node.find_child("Archiver")
    assert isinstance(archiver, cdk.Stack)
    assert (archiver.account, archiver.region) == ("222222222222", "eu-central-1")
    # the archive run and the restore
    Template.from_stack(archiver).resource_count_is("AWS::StepFunctions::StateMachine", 2)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"connectionArn": "arn:aws:iam::111111111111:role/x"}, "archiverPipeline.connectionArn"),
        ({"repository": "archiver"}, "archiverPipeline.repository"),
        ({"branch": ""}, "archiverPipeline.branch"),
        ({"stages": []}, "archiverPipeline.stages"),
        ({"stages": [{"name": "prod", "account": "2222", "region": "eu-central-1"}]}, r"stages\[0\]\.account"),
        ({"stages": [{"name": "prod", "account": "222222222222", "region": "Frankfurt"}]}, r"stages\[0\]\.region"),
        ({"stages": [{"name": "prod", "account": "222222222222", "region": "eu-central-1", "x": 1}]}, r"\['x'\]"),
        ({"stages": [PIPELINE_SAMPLE["stages"][0], PIPELINE_SAMPLE["stages"][0]]}, "names must be unique"),
        ({"approval": True}, r"unknown keys \['approval'\]"),
    ],
)
def test_a_bad_pipeline_setting_is_refused_by_name(change: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        PipelineSettings.from_mapping({**PIPELINE_SAMPLE, **change})


def test_every_bad_pipeline_setting_is_named_at_once() -> None:
    # Given a bad repository, an empty branch and no stages
    with pytest.raises(SettingsError) as raised:
        PipelineSettings.from_mapping({**PIPELINE_SAMPLE, "repository": "archiver", "branch": "", "stages": []})

    # Then one error names the three
    message = str(raised.value)
    assert message.startswith("3 problems:")
    for key in ("repository", "branch", "stages"):
        assert f"context 'archiverPipeline.{key}' must be" in message


def test_the_setting_may_be_given_as_json_on_the_command_line() -> None:
    built = cdk.App(context={PIPELINE_CONTEXT_KEY: json.dumps(PIPELINE_SAMPLE)})

    settings = PipelineSettings.from_context(built)

    assert settings is not None and settings.stages[0].region == "eu-central-1"


def test_cfn_lint_finds_nothing_in_the_pipeline_template(pipeline_app: cdk.App) -> None:
    template = json.loads(json.dumps(_pipeline_template(pipeline_app).to_json()))

    matches = cfn_lint(template)

    assert not matches, listed(matches)


def test_the_docs_bootstrap_every_environment_their_example_pipeline_deploys_to(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given the deploy page's example setting and the bootstrap commands it says to type
    page = (Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text()
    section = page[page.index("\n## With the pipeline\n") :]
    section = section.split("\n## ", 2)[1]
    example = json.loads("{" + section.split("```json\n", 1)[1].split("```", 1)[0] + "}")[PIPELINE_CONTEXT_KEY]
    bootstraps = dict(re.findall(r"^\s*npx cdk bootstrap aws://(\d{12}/[a-z0-9-]+)(.*)$", section, re.MULTILINE))

    # When the example is synthesized
    assembly = app.build_app(
        outdir=str(tmp_path_factory.mktemp("cdk.out")), context={PIPELINE_CONTEXT_KEY: example}
    ).synth()

    # Then every stack's account and region is bootstrapped (the pipeline's, the cross-region support stacks',
    # every stage's), and those of other accounts trust the pipeline's with an execution policy
    pipeline_account = PipelineSettings.from_mapping(example).environment.account
    environments = {(stack.environment.account, stack.environment.region) for stack in assembly.stacks_recursively}
    assert len({region for _, region in environments}) > 1, "the example should deploy across regions"
    for account, region in sorted(environments):
        flags = bootstraps.get(f"{account}/{region}")
        assert flags is not None, f"docs/deploying.md never bootstraps aws://{account}/{region}"
        if account != pipeline_account:
            assert f"--trust {pipeline_account}" in flags and "--cloudformation-execution-policies " in flags
    assert len(bootstraps) == len(environments), "docs/deploying.md bootstraps environments nothing deploys to"
