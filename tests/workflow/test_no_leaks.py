"""A presigned link is a credential: a demo run leaves none anywhere a person or a log reader can see.

The demo runner (``make demo``) runs the embedded plan with one download link expiring on the way (so the
link-refresh path, which logs, runs too) and the functions logging at DEBUG. Then every place a link could
end up is searched: each function log line, every event of the execution's history (each state's input and
output), the execution's output, the runner's own output, and every object under ``manifests/`` with the
tags and metadata of every archived object.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.core.log_redaction import redact_botocore_wire_logs
from tests.local import run
from tests.local.demo import demo_input
from tests.local.emulator import ServiceEmulator
from tests.local.engine import ExecutionResult, LocalStepFunctions

# What gives a signed link away, in any of its encodings: SigV4 parameters (also as headers or JSON keys),
# SigV2 and CloudFront signed-URL parameters, and any http(s) URL that still carries a query string. A value
# already replaced by "<redacted>" is not a leak (whatever quoting stands between the name and it: the
# separator's quotes are optional, so the lookahead must not be fooled by backtracking past them).
_NOT_REDACTED = r"""(?![\s"'b]*(?:<redacted>|%3Credacted))"""
_LINK_CREDENTIALS = re.compile(
    rf"X-Amz-(?:Signature|Credential|Security-Token)(?:[\"']?\s*[:=]\s*(?:b?[\"'])?|%3D){_NOT_REDACTED}"
    rf"|\b(?:Signature|Expires|AWSAccessKeyId|Key-Pair-Id|Policy)(?:=|%3D){_NOT_REDACTED}"
    rf"|https?://[^\s\"'<>\\?]+\?{_NOT_REDACTED}[^\s\"'<>\\]+",
    re.IGNORECASE,
)


# The logs of the services the run talks to locally (the emulator, moto) do not exist in AWS.
STAND_IN_SERVICES = ("tests.local", "moto")


def link_leaks(text: str) -> list[str]:
    """Every piece of ``text`` that looks like a signed link or one of its credentials (shortened for a report)."""
    return [match.group(0)[:80] for match in _LINK_CREDENTIALS.finditer(text)]


# -- the grep itself: it must catch what leaks, and only that ------------------------------------------------

SIGV4_LINK = (
    "https://quicksight-exports.s3.us-east-1.amazonaws.com/assetbundle-nightly.qs?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20261122%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261122T030000Z"
    "&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)


@pytest.mark.parametrize(
    "sample",
    [
        SIGV4_LINK,
        json.dumps({"message": "copying", "link": SIGV4_LINK}),
        f"error: could not fetch {SIGV4_LINK.replace('?', '%3F').replace('=', '%3D')}",
        "https://bucket.s3.amazonaws.com/export.csv?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc%3D&Expires=1790000000",
        "https://d111111abcdef8.cloudfront.net/export.csv?Expires=1790000000&Signature=abc&Key-Pair-Id=K2EXAMPLE",
        "https://downloads.example.com/export.csv?token=opaque-bearer-token",
        "http://127.0.0.1:51234/qapps-session-export-us-east-1/i/a/s/1/s.csv?X-Amz-Date=20261122T030000Z",
        '{"csvFileLink": "https://b.s3.amazonaws.com/s.csv?x=1"}',
        "headers={'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjEXAMPLE', 'Authorization': b'AWS4-HMAC-SHA256 ...'}",
    ],
)
def test_the_grep_finds_a_signed_link_however_it_is_written(sample: str) -> None:
    assert link_leaks(sample)


@pytest.mark.parametrize(
    "sample",
    [
        "https://quicksight-exports.s3.us-east-1.amazonaws.com/assetbundle-nightly.qs",
        '{"link": "http://127.0.0.1:51234/qapps-session-export-us-east-1/i/a/s/1/s.csv", "level": "INFO"}',
        "arn:aws:quicksight:us-east-1:123456789012:asset-bundle-export-job/nightly-1-finance",
        '{"expiresAt": "2026-11-22T03:05:00Z", "sessionArn": "arn:aws:qapps:us-east-1:123456789012:x"}',
        "qapps/a1b2/3f1c/sessions/7a2b/2026-11-22/nightly-1.csv sha256:1670ce4d",
        "The download from https://bucket.s3.amazonaws.com answered HTTP 403 (expired)",
        'Response body: b\'{"DownloadUrl":"https://b.s3.amazonaws.com/x.qs?<redacted>"}\'',
        "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=<redacted>, Signature=<redacted>'}",
    ],
)
def test_the_grep_leaves_redacted_links_arns_and_keys_alone(sample: str) -> None:
    assert link_leaks(sample) == []


# -- a demo run ------------------------------------------------------------------------------------------------


class DemoRecorder:
    """Keeps what the demo runner does not print: the history, S3's view of the archive, an issued link."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emulator: ServiceEmulator | None = None
        self.result: ExecutionResult | None = None
        # Every execution the demo ran: the archive run, then the restore drill.
        self.results: list[ExecutionResult] = []
        self.archive_metadata: list[dict[str, Any]] = []
        self.issued_link = ""
        self._run = LocalStepFunctions.run
        self._seed = run.seed_emulator
        monkeypatch.setattr(run, "seed_emulator", self.seed_and_expire_one_link)
        recorder = self

        def run_and_keep(
            engine: LocalStepFunctions, document: Any, *, name: str | None = None, state_machine_arn: str | None = None
        ) -> ExecutionResult:
            return recorder.run_and_keep(engine, document, name=name, state_machine_arn=state_machine_arn)

        monkeypatch.setattr(LocalStepFunctions, "run", run_and_keep)

    def seed_and_expire_one_link(self, emulator: ServiceEmulator, document: Any) -> None:
        self._seed(emulator, document)
        # One link refused as expired: the refresh path, which logs the (redacted) link, runs too.
        emulator.expire_next_downloads(1)
        self.emulator = emulator

    def run_and_keep(
        self,
        engine: LocalStepFunctions,
        document: Any,
        *,
        name: str | None = None,
        state_machine_arn: str | None = None,
    ) -> ExecutionResult:
        result = self._run(engine, document, name=name, state_machine_arn=state_machine_arn)
        self.results.append(result)
        if state_machine_arn is not None:
            return result  # the restore drill: its history is searched with the archive run's
        self.result = result
        import boto3

        from archiver.core import clients

        s3 = boto3.client("s3")
        bucket = engine.environment["ARCHIVE_BUCKET"]
        for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=entry["Key"])
            tags = s3.get_object_tagging(Bucket=bucket, Key=entry["Key"])["TagSet"]
            self.archive_metadata.append({"key": entry["Key"], "metadata": head.get("Metadata"), "tags": tags})
        # A link exactly as the services hand them out, to prove the search below would have seen one.
        session = document["qapps"]["sessions"][0]
        self.issued_link = clients.qapps().export_q_app_session_data(
            instanceId=document["qapps"]["instanceId"], sessionId=session["sessionId"]
        )["csvFileLink"]
        return self.result


def test_a_demo_run_leaves_no_signed_link_in_logs_history_output_or_archive(
    cdk_out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the demo runner, with one download link expiring, and every library's log records kept at DEBUG
    caplog.set_level(logging.DEBUG)
    # In Lambda the first archiver client installs the redaction before any AWS call; here the runner's own
    # clients (Step Functions, S3) call first, so it is installed up front.
    redact_botocore_wire_logs()
    recorder = DemoRecorder(monkeypatch)
    out = tmp_path / "out"

    # When the demo plan is archived
    exit_code = run.main(["--cdk-out", str(cdk_out), "--out", str(out), "--json", "--name", "leak-check"])

    printed = capsys.readouterr().out
    assert exit_code == 0, printed
    assert recorder.result is not None and recorder.emulator is not None
    assert len(recorder.results) == 2, "the demo archives, then drills a restore"
    # (the run really downloaded, refreshed a link, and the search would recognise the links it used)
    downloads = recorder.emulator.downloads()
    assert any(d["status"] == 403 for d in downloads) and any(d["status"] == 200 for d in downloads)
    assert link_leaks(recorder.issued_link)
    function_logs = (out / "function-logs.jsonl").read_text()

    # Then no signed link is anywhere: function logs, each event of the history, the output, what the runner
    # printed, the manifest and item outcomes, and the archived objects' tags and metadata
    places = {
        "function logs": function_logs,
        **{
            f"execution history {index}": json.dumps(result.history, default=str)
            for index, result in enumerate(recorder.results)
        },
        **{
            f"execution output {index}": json.dumps(result.output, default=str)
            for index, result in enumerate(recorder.results)
        },
        "runner output": printed,
        "archived objects' tags and metadata": json.dumps(recorder.archive_metadata),
    }
    for record in caplog.records:
        if record.name.startswith(STAND_IN_SERVICES):
            continue
        place = f"{record.name} log"
        places[place] = places.get(place, "") + record.getMessage() + "\n"
    # Manifests and item outcomes, and the restore drill's report
    for record_file in sorted(
        [*(out / "archive" / "manifests").rglob("*.json"), *(out / "archive").glob("restores/**/*.json")]
    ):
        places[str(record_file.relative_to(out))] = record_file.read_text()
    assert len(places) > 5 + len(demo_input()["qapps"]["sessions"])
    assert {place: link_leaks(text) for place, text in places.items() if link_leaks(text)} == {}
