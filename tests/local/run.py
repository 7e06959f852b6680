"""Run an archive locally: the synthesized state machine, the real handlers, emulated services.

    archiver-local                      # the demo: the embedded plan (make demo)
    archiver-local --input plan.json    # any run input document, of any size (make demo ARGS="--input plan.json")
    archiver-local --input plan.json --sessions sessions.csv    # its sessions from a .csv or .jsonl file
    archiver-local --json               # last line: one JSON object for scripts
    archiver-local --no-drill           # archive only (by default a restore drill follows)
    archiver-local --again              # then edit one dashboard and run again: only its bundle is exported

``archiver-local`` is this module's entry point (``python -m tests.local.run`` is the same), installed into
.venv by ``make setup``.

Quicksight and Q Apps are answered by the project's emulator and S3 by moto, unless the
standard AWS_ENDPOINT_URL_QUICKSIGHT / AWS_ENDPOINT_URL_QAPPS / AWS_ENDPOINT_URL_S3 variables
point elsewhere (then ARCHIVE_BUCKET names the bucket). A plan over Step Functions' 256 KiB input limit is
staged in S3 under the plans prefix and the run started with ``{"planUri": ...}``, as an operator would with
``aws s3 cp`` then ``start-execution``; a ``--sessions`` file is staged beside it and named by ``sessionsUri``.
After a successful run on the embedded
emulator, a restore drill proves the archive restores: the restore state machine puts the bundles
and a session's answers back beside the originals. Exits non-zero unless everything succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import boto3

from archiver.archive.plan_references import PlanStore, read_list
from archiver.archive.run_input import MAX_INPUT_BYTES, input_size_problem, parse_run_input
from archiver.core import layout
from tests.local.demo import (
    DEMO_BUNDLE_PADDING_BYTES,
    DEMO_ESTATE_INPUT_PATH,
    EDITED_FOR_SECOND_RUN,
    demo_input,
    drill_request,
    fingerprinted,
    seed_emulator,
)
from tests.local.emulator import ServiceEmulator, VirtualClock
from tests.local.engine import ExecutionResult, Invocation, LocalStepFunctions, local_environment
from tests.local.template import LOCAL_REGION, RESTORE_WORKFLOW, SynthesizedWorkflow, find_template, load_workflow

ROOT = Path(__file__).resolve().parents[2]
LOCAL_BUCKET = "archiver-local-archive"


class ProgressPrinter:
    """Says what a run is doing as each step returns, stamped with the run's virtual time."""

    def __init__(self, out: TextIO, clock: VirtualClock) -> None:
        self.out = out
        self.clock = clock
        self.started = clock.now()

    def _say(self, text: str) -> None:
        elapsed = int(self.clock.now() - self.started)
        print(f"  [{elapsed // 60:3d}m{elapsed % 60:02d}s] {text}", file=self.out, flush=True)

    def __call__(self, call: Invocation) -> None:
        event, response = call.event, call.response
        if call.error_type:
            self._say(f"{call.function}: {call.error_type}: {response.get('errorMessage', '')[:200]}")
            return
        match call.function:
            case "validate_run":
                counts = (response["quicksight"]["bundles"], response["qapps"]["sessions"], response["qapps"]["apps"])
                self._say("plan: {} bundle(s), {} session(s), {} app definition(s)".format(*counts))
            case "discover_assets":
                bundles, apps = response["quicksight"]["bundles"], response["qapps"]["apps"]
                self._say(f"discovered: plan now {bundles} bundle(s), {apps} app definition(s)")
            case "start_bundle_export":
                self._say(f"bundle {event['bundle']['name']}: export job {response['jobId']} started")
            case "check_bundle_export":
                self._say(
                    f"bundle {event['bundle']['name']}: {response['status']} "
                    f"(polled after {response['waitedSeconds']} s)"
                )
            case "archive_bundle" | "archive_session" | "archive_app":
                self._say(f"archived {response['key']} ({response['size']:,} bytes)")
            case "record_item_failure":
                self._say(f"{response['itemId']}: FAILED ({response['error']}), recorded")
            case "write_manifest":
                self._say(f"manifest written: {response['manifestKey']}")
            case "validate_restore":
                counts = (
                    response["restore"]["mode"],
                    len(response["quicksight"]["bundles"]),
                    len(response["qapps"]["files"]),
                )
                self._say(
                    "restore plan ({}): {} bundle(s), {} file(s), every archived object's SHA-256 checked".format(
                        *counts
                    )
                )
            case "start_bundle_import":
                self._say(f"import job {response['jobId']} started ({event['bundle']['importSource']})")
            case "check_bundle_import":
                self._say(
                    f"import job {response['jobId']}: {response['status']} (polled after {response['waitedSeconds']} s)"
                )
            case "restore_qapp_file":
                self._say(f"file uploaded to Q Apps: fileId {response['fileId']} ({response['size']:,} bytes)")
            case "record_restore_failure":
                self._say(f"restore of {response['itemId']}: FAILED ({response['error']}), recorded")
            case "write_restore_report":
                self._say(f"restore report written: {response['reportKey']}")


@contextlib.contextmanager
def _services(clock: VirtualClock) -> Iterator[ServiceEmulator | None]:
    """The embedded emulator, unless both service endpoints are given in the environment."""
    if os.environ.get("AWS_ENDPOINT_URL_QUICKSIGHT") and os.environ.get("AWS_ENDPOINT_URL_QAPPS"):
        yield None
        return
    with ServiceEmulator(clock=clock) as emulator:
        emulator.bundle_padding_bytes = DEMO_BUNDLE_PADDING_BYTES
        yield emulator


def _endpoint(emulator: ServiceEmulator | None) -> str | None:
    return emulator.endpoint_url if emulator is not None else None


def _stage(
    out: TextIO, s3: Any, plans: PlanStore, document: Any, *, sessions: Path | None, run_id: str
) -> tuple[Any, Any]:
    """The input to start the run with, and the whole plan (for the emulator), staging in S3 what must be.

    As an operator would: ``aws s3 cp`` of a sessions file or of a plan over the input limit to the plans
    prefix, then ``start-execution`` naming it.
    """
    whole = document
    if sessions is not None:
        key = f"{plans.prefix}{run_id}/sessions{sessions.suffix}"
        s3.put_object(Bucket=plans.bucket, Key=key, Body=sessions.read_bytes())
        uri = f"s3://{plans.bucket}/{key}"
        print(f"Staged {sessions} at {uri} (aws s3 cp {sessions} {uri})", file=out)
        section = {name: value for name, value in document["qapps"].items() if name != "sessions"}
        document = {**document, "qapps": {**section, "sessionsUri": uri}}
        # The emulator holds the sessions the file names, read by ValidateRun's own reader.
        listed = read_list(plans, "--sessions", uri, columns=("appId", "sessionId"), limit=10**6).rows
        rows = [row.value for row in listed if isinstance(row.value, dict) and {"appId", "sessionId"} <= set(row.value)]
        whole = {**document, "qapps": {**section, "sessions": rows}}
    if input_size_problem(document) is None:
        return document, whole
    key = f"{plans.prefix}{run_id}.json"
    s3.put_object(Bucket=plans.bucket, Key=key, Body=json.dumps(document).encode())
    uri = f"s3://{plans.bucket}/{key}"
    print(
        f"The plan is over Step Functions' {MAX_INPUT_BYTES:,}-byte input limit: staged at {uri} "
        f"(aws s3 cp plan.json {uri}), started with {json.dumps({'planUri': uri})}",
        file=out,
    )
    return {"planUri": uri}, whole


def _report(out: TextIO, result: ExecutionResult, manifest: dict[str, Any] | None) -> None:
    print(f"\nRun {result.execution_arn.rsplit(':', 1)[-1]} ended {result.status}", file=out)
    if result.status != "SUCCEEDED":
        print(f"  error: {result.error}\n  cause: {result.cause}", file=out)
    if manifest is None:
        return
    print(
        f"\nArchived ({manifest['summary']['archived']} artifacts, {manifest['summary']['bytes']:,} bytes):",
        file=out,
    )
    for artifact in manifest["artifacts"]:
        print(f"  {artifact['size']:>12,}  sha256:{artifact['sha256'][:16]}…  {artifact['key']}", file=out)
    for asset in manifest.get("unsupported", []):
        print(f"  UNSUPPORTED {asset['arn']}: {asset['reason']}", file=out)
    for failure in manifest["failures"]:
        print(
            f"  FAILED {failure['itemId']}: {failure['error']['type']}: {failure['error']['message']}",
            file=out,
        )
    if manifest.get("unchanged"):
        print(f"\nUnchanged since their last copy ({len(manifest['unchanged'])}, nothing stored):", file=out)
        for item in manifest["unchanged"]:
            why = "no export started" if item["because"] == "fingerprints" else "same bytes"
            print(f"  {item['itemId']} ({why}): held by {item['held']['key']}", file=out)
    bucket, key = manifest["summary"]["manifestBucket"], manifest["summary"]["manifestKey"]
    print(f"\nManifest: s3://{bucket}/{key}", file=out)


def _drill(
    out: TextIO,
    engine: LocalStepFunctions,
    restore: SynthesizedWorkflow,
    s3: Any,
    bucket: str,
    manifest: dict[str, Any],
) -> ExecutionResult | None:
    """Run a restore drill of the run's archive, and say what came back and where the report is."""
    document = drill_request(manifest, lambda key: json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    if document is None:
        return None
    name = f"{manifest['run']['id']}-drill"
    print(f"\nRestore drill {name}: proving the archive restores, beside the originals", file=out)
    arn = engine.add_state_machine(restore, "archiver-restore-local")
    result = engine.run(document, name=name, state_machine_arn=arn)
    print(f"\nRestore drill {name} ended {result.status}", file=out)
    if result.status != "SUCCEEDED":
        print(f"  error: {result.error}\n  cause: {result.cause}", file=out)
    try:
        report = json.loads(s3.get_object(Bucket=bucket, Key=layout.restore_report_key(name))["Body"].read())
    except s3.exceptions.NoSuchKey:
        return result
    for item in report["items"]:
        origin = item["source"].get("item_id") or item["source"].get("key")
        if item["status"] != "restored":
            print(f"  FAILED {origin}: {item['error']['type']}: {item['error']['message']}", file=out)
        elif item["kind"] == "bundle":
            prefix = item["result"]["resourceIdPrefix"] or ""
            restored = (resource.split("/", 1) for resource in item["result"]["resources"])
            print(f"  {origin} -> QuickSight: {', '.join(f'{kind}/{prefix}{rid}' for kind, rid in restored)}", file=out)
        else:
            target = item["target"]
            print(
                f"  {origin} -> Q Apps file {item['result']['fileId']} (card {target['cardId']}, "
                f"{target['scope']} {target.get('sessionId', '')}), sha256:{item['result']['sha256'][:16]}…",
                file=out,
            )
    print(f"Drill report: s3://{bucket}/{report['summary']['reportKey']}", file=out)
    return result


def _run_again(
    out: TextIO,
    engine: LocalStepFunctions,
    emulator: ServiceEmulator,
    s3: Any,
    bucket: str,
    document: dict[str, Any],
    run_id: str,
    clock: VirtualClock,
) -> tuple[ExecutionResult, dict[str, Any] | None, str]:
    """An hour on, one dashboard edited: the same plan, fingerprinted afresh, exports that dashboard's bundle only."""
    clock.advance(3600)
    edited = next(
        (
            arn
            for bundle in document["quicksight"]["bundles"]
            for arn in bundle["resourceArns"]
            if arn.endswith(EDITED_FOR_SECOND_RUN)
        ),
        None,
    )
    if edited is not None:
        emulator.edit_quicksight_asset(edited)
        print(f"\nEdited {edited}; running again (onlyChanged)", file=out)
    exports = len(emulator.requests_for("StartAssetBundleExportJob"))
    again_id = f"{run_id}-again"
    result = engine.run(fingerprinted(document, emulator), name=again_id)
    manifest = _read_manifest(s3, bucket, again_id)
    _report(out, result, manifest)
    started = [r["params"]["ResourceArns"] for r in emulator.requests_for("StartAssetBundleExportJob")[exports:]]
    print(
        f"Export jobs started by the second run: {len(started)} ({'; '.join(', '.join(a) for a in started)})", file=out
    )
    return result, manifest, again_id


def _save_archive(s3: Any, bucket: str, directory: Path) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            target = directory / entry["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())


def _read_manifest(s3: Any, bucket: str, run_id: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.manifest_key(run_id))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    manifest: dict[str, Any] = json.loads(body)
    return manifest


def _check_sessions_file(sessions: Path, document: Any) -> None:
    """A sessions file needs a plan with a ``qapps`` section (its instance) and no sessions of its own."""
    from archiver.core.errors import InvalidRunInputError

    if sessions.suffix not in (".csv", ".jsonl"):
        raise InvalidRunInputError([f"--sessions: expected a .csv or .jsonl file, got {sessions}"])
    if not sessions.is_file():
        raise InvalidRunInputError([f"--sessions: expected an existing file, {sessions} is not one"])
    qapps = document.get("qapps") if isinstance(document, dict) else None
    if not isinstance(qapps, dict) or "sessions" in qapps:
        raise InvalidRunInputError(
            ["--sessions: expected a plan (--input) with a qapps section (its instanceId) and no sessions of its own"]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="archiver-local", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="run input document, of any size (default: the embedded demo plan)")
    parser.add_argument(
        "--sessions",
        type=Path,
        help="the plan's Q Apps sessions, a .csv (header appId,sessionId) or .jsonl file, given by reference",
    )
    parser.add_argument(
        "--estate", action="store_true", help="archive the demo's estate of some 40 assets by discovery instead"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out", help="synthesized cloud assembly")
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output", help="where to copy the archive")
    parser.add_argument("--name", help="execution name (the run id)")
    parser.add_argument("--no-drill", action="store_true", help="archive only, without the restore drill after it")
    parser.add_argument(
        "--again",
        action="store_true",
        help="bundles fingerprinted as discovery plans them; then edit one dashboard and run again (onlyChanged)",
    )
    args = parser.parse_args(argv)
    out = sys.stdout

    from archiver.core.errors import InvalidRunInputError

    try:
        # Read as StartExecution would: a document it refuses never starts a run.
        given = args.input or (DEMO_ESTATE_INPUT_PATH if args.estate else None)
        document = parse_run_input(given.read_text()) if given else demo_input()
        if args.sessions is not None:
            _check_sessions_file(args.sessions, document)
    except InvalidRunInputError as refused:
        print(f"Not started: {refused}", file=out)
        if args.json:
            print(json.dumps({"status": "NOT_STARTED", "error": "InvalidRunInput", "cause": str(refused)}), file=out)
        return 1
    external_s3 = bool(os.environ.get("AWS_ENDPOINT_URL_S3"))
    bucket = os.environ.get("ARCHIVE_BUCKET", "") if external_s3 else LOCAL_BUCKET
    if not bucket:
        parser.error("ARCHIVE_BUCKET must name the bucket when AWS_ENDPOINT_URL_S3 is set")
    template_path = find_template(args.cdk_out)
    template = json.loads(template_path.read_text())
    workflow = load_workflow(template, bucket_name=bucket)
    drill: ExecutionResult | None = None
    clock = VirtualClock()
    run_id = args.name or time.strftime("demo-%Y%m%dT%H%M%S")
    shutil.rmtree(args.out / "archive", ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"Running the archive workflow from {os.path.relpath(template_path, ROOT)} (run {run_id})", file=out)
    with (
        (args.out / "function-logs.jsonl").open("w") as log_stream,
        _services(clock) as emulator,
        LocalStepFunctions(
            workflow,
            clock=clock,
            environment=local_environment(workflow, bucket=bucket, endpoint=_endpoint(emulator)),
            log_stream=log_stream,
        ) as engine,
    ):
        s3 = boto3.client("s3", region_name=LOCAL_REGION)
        if not external_s3:
            s3.create_bucket(Bucket=bucket)
        plans = PlanStore(s3, bucket=bucket, prefix=engine.environment["PLANS_PREFIX"])
        start_input, whole = _stage(out, s3, plans, document, sessions=args.sessions, run_id=run_id)
        if emulator is not None:
            # Listed bundles are padded past a multipart upload; a discovered estate's dozens stay small.
            discovers = isinstance(whole, dict) and "discover" in whole.get("quicksight", {})
            emulator.bundle_padding_bytes = 0 if discovers else DEMO_BUNDLE_PADDING_BYTES
            seed_emulator(emulator, whole)
        engine.lambdas.on_invocation = ProgressPrinter(out, clock)
        if args.again and emulator is not None:
            # Its bundles fingerprinted as discovery plans them, from what the emulator now holds.
            start_input = document = fingerprinted(whole, emulator)
        result = engine.run(start_input, name=run_id)
        manifest = _read_manifest(s3, bucket, run_id)
        _report(out, result, manifest)
        if args.again and emulator is not None and result.status == "SUCCEEDED":
            result, manifest, run_id = _run_again(out, engine, emulator, s3, bucket, document, run_id, clock)
        # A drill restores into the services: only into the embedded emulator, never into real ones.
        if manifest is not None and result.status == "SUCCEEDED" and emulator is not None and not args.no_drill:
            restore = load_workflow(template, bucket_name=bucket, construct=RESTORE_WORKFLOW)
            drill = _drill(out, engine, restore, s3, bucket, manifest)
        if not external_s3:
            _save_archive(s3, bucket, args.out / "archive")
    if not external_s3:
        print(
            f"\nA copy of the archive is in {args.out / 'archive'}/ "
            f"(function logs: {args.out / 'function-logs.jsonl'})",
            file=out,
        )
    if args.json:
        summary: dict[str, Any] = {
            "status": result.status,
            "manifestKey": manifest and manifest["summary"]["manifestKey"],
        }
        summary.update(
            {"output": result.output}
            if result.status == "SUCCEEDED"
            else {"error": result.error, "cause": result.cause}
        )
        if drill is not None:
            summary["drill"] = {"status": drill.status, "output": drill.output, "error": drill.error}
        print(json.dumps(summary), file=out)
    drilled = drill is None or drill.status == "SUCCEEDED"
    return 0 if result.status == "SUCCEEDED" and drilled else 1


if __name__ == "__main__":
    sys.exit(main())
