"""How a run scales: plans of growing size on the synthesized definition, locally (``make bench-scale``).

    make bench-scale                                  # 100 and 400 sessions, 20 and 100 bundles
    make bench-scale ARGS="--sessions 100 1000 --bundles 20 200"

For each plan: wall time and time per item, the parent's and the largest child's history events, state
transitions (states entered) and Lambda invocations per artifact, and the estimated AWS cost per 1,000
artifacts from those counts. Prices (us-east-1, as documented on the AWS pricing pages, 2026-12-02): Step
Functions Standard $0.025 per 1,000 state transitions; Lambda $0.20 per million requests (duration not
counted: it depends on the services' speed, not on the workflow). Sizes are bounded by what one inline
document may hold until plans may be given by reference (issue 11).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
from jsonschema import Draft202012Validator

from tests.local.demo import seed_emulator
from tests.local.emulator import ServiceEmulator, VirtualClock
from tests.local.engine import LocalStepFunctions, local_environment
from tests.local.run import ROOT
from tests.local.template import LOCAL_REGION, find_template, load_workflow

BUCKET = "archiver-bench-scale"
ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
STATE_TRANSITION_USD = 0.025 / 1000
LAMBDA_REQUEST_USD = 0.20 / 1_000_000


def _uuid4(seed: int) -> str:
    return str(uuid.UUID(int=seed + (1 << 100), version=4))


def sessions_plan(count: int) -> dict[str, Any]:
    app = _uuid4(0)
    return {
        "qapps": {
            "instanceId": INSTANCE,
            "sessions": [{"appId": app, "sessionId": _uuid4(i + 1)} for i in range(count)],
        }
    }


def bundles_plan(count: int) -> dict[str, Any]:
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/d-"
    return {"quicksight": {"bundles": [{"name": f"b{i:05d}", "resourceArns": [f"{arn}{i}"]} for i in range(count)]}}


# The caps plans by reference bring (issue 11, branch ``plans``): until they land, the inline schema's caps and
# estimates (sized for a run that carried its items in its state) would refuse these plans before they start.
RAISED_CAPS = {"bundles": 2_000, "sessions": 10_000, "apps": 10_000}


@contextlib.contextmanager
def raised_caps() -> Iterator[None]:
    """ValidateRun with the caps of plans by reference: the schema's ``maxItems`` raised, the inline limits lifted.

    Honest for what this measures: every other check still runs on the whole document, the items are
    staged in S3 as always, and the definition run is the synthesized one. Only the refusals a plan given
    by reference no longer meets are gone: the 256 KiB input (such a plan is an S3 object) and the history
    and state estimates (the items live in S3, the parent's history does not grow with them).
    """
    from archiver.archive import run_input

    published = run_input._validator()

    @functools.cache
    def validator() -> Draft202012Validator:
        schema = copy.deepcopy(published.schema)
        schema["$defs"]["quicksight"]["properties"]["bundles"]["maxItems"] = RAISED_CAPS["bundles"]
        for kind in ("sessions", "apps"):
            schema["$defs"]["qapps"]["properties"][kind]["maxItems"] = RAISED_CAPS[kind]
        return Draft202012Validator(schema)

    with (
        mock.patch.object(run_input, "_validator", validator),
        mock.patch.object(run_input, "input_size_problem", lambda document: None),
        mock.patch.object(run_input, "plan_limit_problems", lambda plan: []),
    ):
        yield


def measure(workflow: Any, document: dict[str, Any], name: str) -> dict[str, Any]:
    clock = VirtualClock()
    with ServiceEmulator(clock=clock) as emulator:
        seed_emulator(emulator, document)
        environment = local_environment(workflow, bucket=BUCKET, endpoint=emulator.endpoint_url)
        with LocalStepFunctions(workflow, clock=clock, environment=environment, log_stream=io.StringIO()) as engine:
            boto3.client("s3", region_name=LOCAL_REGION).create_bucket(Bucket=BUCKET)
            started = time.perf_counter()
            result = engine.run(document, name=name)
            wall = time.perf_counter() - started
            invocations = len(engine.lambdas.invocations)
    artifacts = (result.output or {}).get("archived", 0)
    items = (result.output or {}).get("items", 0)
    transitions = len(result.states_entered())
    per_artifact = max(artifacts, 1)
    cost = 1000 * (transitions * STATE_TRANSITION_USD + invocations * LAMBDA_REQUEST_USD) / per_artifact
    return {
        "plan": name,
        "status": result.status,
        "items": items,
        "artifacts": artifacts,
        "wall_s": round(wall, 2),
        "ms_per_item": round(1000 * wall / max(items, 1), 1),
        "parent_events": len(result.history),
        "largest_child_events": max((len(c.history) for c in result.children), default=0),
        "transitions_per_artifact": round(transitions / per_artifact, 1),
        "invocations_per_artifact": round(invocations / per_artifact, 2),
        "usd_per_1000_artifacts": round(cost, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="*", default=[100, 400])
    parser.add_argument("--bundles", type=int, nargs="*", default=[20, 100])
    parser.add_argument("--json", action="store_true", help="one JSON object per plan")
    args = parser.parse_args(argv)
    template = json.loads(find_template(ROOT / "cdk.out").read_text())
    workflow = load_workflow(template, bucket_name=BUCKET)
    plans = [(f"sessions-{n}", sessions_plan(n)) for n in args.sessions]
    plans += [(f"bundles-{n}", bundles_plan(n)) for n in args.bundles]
    with raised_caps():
        rows = [measure(workflow, document, name) for name, document in plans]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    columns = list(rows[0])
    print("  ".join(f"{c:>14}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]!s:>14}" for c in columns))
    return 0 if all(row["status"] == "SUCCEEDED" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
