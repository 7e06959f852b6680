"""How a run scales: plans of growing size on the synthesized definition, locally (``make bench-scale``).

    make bench-scale                                   # 100, 1,000, 10,000 sessions; 20, 200, 2,000 bundles
    make bench-scale ARGS="--sessions 100 1000 --bundles 20 200"

For each plan: wall and CPU time per item, and each against the smallest plan of its kind measured in the
same run; the parent's and the largest child's history events; state transitions and Lambda invocations per
artifact; and the estimated AWS cost per 1,000 artifacts from those counts. Each plan must succeed with
every planned item in its manifest exactly once, or the command fails.

Transitions are the states entered in the parent and in every child, plus each child's start and end.
Prices (us-east-1, arm64, as documented on the AWS pricing pages, 2026-12-02): Step Functions Standard
$0.025 per 1,000 state transitions; Lambda $0.20 per million requests and $0.0000133334 per GB-second.
The GB-seconds are each handler's local time times its function's memory (from the synthesized
template): an estimate as good as the emulated services' speed, so the cost is given with and without it.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
from collections import Counter
from typing import Any

import boto3

from archiver.core import layout
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
LAMBDA_GB_SECOND_USD = 0.0000133334
# The sizes (issue 11): what one run must carry.
SESSIONS = [100, 1_000, 10_000]
BUNDLES = [20, 200, 2_000]


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


def function_memory_gb(template: dict[str, Any], workflow: Any) -> dict[str, float]:
    """Each step's memory in GB as Lambda bills it (MB / 1024), by the step's handler package."""
    return {
        spec.handler.split(".")[0]: template["Resources"][logical_id]["Properties"]["MemorySize"] / 1024
        for logical_id, spec in workflow.functions.items()
    }


def manifest_item_ids(run_id: str) -> Counter[str]:
    """How many times the run's manifest lists each item id (artifacts and failures)."""
    body = boto3.client("s3", region_name=LOCAL_REGION).get_object(Bucket=BUCKET, Key=layout.manifest_key(run_id))
    manifest = json.loads(body["Body"].read())
    return Counter(entry["itemId"] for entry in [*manifest["artifacts"], *manifest["failures"]])


def measure(workflow: Any, memory_gb: dict[str, float], document: dict[str, Any], name: str) -> dict[str, Any]:
    clock = VirtualClock()
    with ServiceEmulator(clock=clock) as emulator:
        seed_emulator(emulator, document)
        environment = local_environment(workflow, bucket=BUCKET, endpoint=emulator.endpoint_url)
        with LocalStepFunctions(workflow, clock=clock, environment=environment, log_stream=io.StringIO()) as engine:
            s3 = boto3.client("s3", region_name=LOCAL_REGION)
            s3.create_bucket(Bucket=BUCKET)
            # Staged as an operator would (aws s3 cp, then start-execution with the reference): these plans
            # are over Step Functions' 256 KiB input.
            plan_key = f"{engine.environment['PLANS_PREFIX']}{name}.json"
            s3.put_object(Bucket=BUCKET, Key=plan_key, Body=json.dumps(document).encode())
            started, cpu_started = time.perf_counter(), time.process_time()
            result = engine.run({"planUri": f"s3://{BUCKET}/{plan_key}"}, name=name)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            invocations = engine.lambdas.invocations
            listed = manifest_item_ids(name) if result.output else Counter()
    planned = sum(len(section.get(kind, [])) for section in document.values() for kind in ("bundles", "sessions"))
    artifacts = (result.output or {}).get("archived", 0)
    items = (result.output or {}).get("items", 0)
    # A child's start and end are transitions too (Step Functions bills a Distributed Map's Standard children so).
    transitions = len(result.states_entered()) + 2 * len(result.children)
    gb_seconds = sum(invocation.seconds * memory_gb[invocation.function] for invocation in invocations)
    per_artifact = max(artifacts, 1)
    requests_usd = transitions * STATE_TRANSITION_USD + len(invocations) * LAMBDA_REQUEST_USD
    duration_usd = gb_seconds * LAMBDA_GB_SECOND_USD
    return {
        "plan": name,
        "status": result.status,
        "items": items,
        "artifacts": artifacts,
        "every_item_listed_once": items >= planned and len(listed) == items and set(listed.values()) == {1},
        "wall_s": round(wall, 1),
        "ms_per_item": round(1000 * wall / max(items, 1), 1),
        "cpu_ms_per_item": round(1000 * cpu / max(items, 1), 1),
        "parent_events": len(result.history),
        "largest_child_events": max((len(c.history) for c in result.children), default=0),
        "transitions_per_artifact": round(transitions / per_artifact, 2),
        "invocations_per_artifact": round(len(invocations) / per_artifact, 2),
        "usd_per_1000_artifacts": round(1000 * requests_usd / per_artifact, 4),
        "usd_per_1000_with_duration": round(1000 * (requests_usd + duration_usd) / per_artifact, 4),
    }


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its time per item against the smallest plan of its kind (the first of it) in this run."""
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        base = first.setdefault(row["plan"].split("-")[0], row)
        row["per_item_vs_smallest"] = round(row["ms_per_item"] / base["ms_per_item"], 2)
        row["cpu_per_item_vs_smallest"] = round(row["cpu_ms_per_item"] / base["cpu_ms_per_item"], 2)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="*", default=SESSIONS)
    parser.add_argument("--bundles", type=int, nargs="*", default=BUNDLES)
    parser.add_argument("--json", action="store_true", help="one JSON object per plan")
    args = parser.parse_args(argv)
    template = json.loads(find_template(ROOT / "cdk.out").read_text())
    workflow = load_workflow(template, bucket_name=BUCKET)
    memory_gb = function_memory_gb(template, workflow)
    plans = [(f"sessions-{n}", sessions_plan(n)) for n in args.sessions]
    plans += [(f"bundles-{n}", bundles_plan(n)) for n in args.bundles]
    rows = []
    for name, document in plans:
        rows.append(measure(workflow, memory_gb, document, name))
        print(f"{name}: {rows[-1]['status']} in {rows[-1]['wall_s']} s", file=sys.stderr, flush=True)
    with_ratios(rows)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        columns = list(rows[0])
        for column in columns:
            print(f"{column:>28}" + "".join(f"{row[column]!s:>16}" for row in rows))
    return 0 if all(row["status"] == "SUCCEEDED" and row["every_item_listed_once"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
