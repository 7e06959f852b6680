"""The local runner behind `make demo`, as a person (or a script) uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archiver.archive.run_input import export_job_id
from tests.local import run
from tests.local.demo import EXAMPLES_DIR, seed_emulator
from tests.local.emulator import ServiceEmulator


def last_json_line(output: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return summary


def test_the_demo_archives_its_embedded_plan_and_reports_it(
    cdk_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = run.main(["--cdk-out", str(cdk_out), "--out", str(tmp_path / "out"), "--json", "--name", "demo-1"])

    output = capsys.readouterr().out
    summary = last_json_line(output)
    assert exit_code == 0
    assert summary["status"] == "SUCCEEDED"
    assert summary["output"]["archived"] == summary["output"]["items"] == 8
    assert summary["manifestKey"] == "manifests/demo-1.json"
    # The archive was copied out for a person to open, manifest included
    manifest = json.loads((tmp_path / "out" / "archive" / "manifests" / "demo-1.json").read_text())
    for artifact in manifest["artifacts"]:
        assert (tmp_path / "out" / "archive" / artifact["key"]).stat().st_size == artifact["size"]
        assert artifact["key"] in output
    assert f"export job {export_job_id('demo-1', 'finance')} started" in output
    # And a restore drill then proved the archive restores, beside the originals
    assert summary["drill"]["status"] == "SUCCEEDED"
    assert summary["drill"]["output"]["restored"] == summary["drill"]["output"]["items"] == 3
    assert (tmp_path / "out" / "archive" / "restores" / "demo-1-drill.json").exists()


def test_the_demo_archives_a_small_estate_by_discovery(
    cdk_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the demo archives its estate of 41 assets (two unsupported) by discovery
    args = ["--cdk-out", str(cdk_out), "--out", str(tmp_path / "out"), "--json", "--no-drill", "--name", "estate-1"]
    exit_code = run.main(["--estate", *args])
    # Then every discovered bundle, the session and the discovered app are archived, the two recorded as unsupported
    output = capsys.readouterr().out
    summary = last_json_line(output)
    assert exit_code == 0, output
    assert summary["output"]["archived"] == summary["output"]["items"] > 20
    assert summary["output"]["unsupported"] == 2
    assert "UNSUPPORTED arn:aws:quicksight:us-east-1:123456789012:datasource/crm" in output


def test_the_demo_runs_as_make_demo_starts_it_in_a_fresh_process(cdk_out: Path, tmp_path: Path) -> None:
    # Given a fresh interpreter, without the functions' environment the tests set: the runner sets it
    # itself, before any step builds Powertools' Metrics (which reads its namespace once, when built)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("POWERTOOLS_")}
    # When the demo runs as `make demo` starts it
    command = [sys.executable, "-m", "tests.local.run", "--cdk-out", str(cdk_out), "--out", str(tmp_path / "out")]
    finished = subprocess.run(
        [*command, "--json", "--no-drill", "--name", "demo-2"],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Then every item is archived
    summary = last_json_line(finished.stdout)
    assert finished.returncode == 0, finished.stderr
    assert summary["status"] == "SUCCEEDED"
    assert summary["output"]["archived"] == summary["output"]["items"] == 8


def test_a_bad_input_document_exits_non_zero_with_the_error(
    cdk_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "plan.json"
    document.write_text(json.dumps({"qapps": {"instanceId": "x" * 36, "sesions": []}}))

    exit_code = run.main(
        ["--cdk-out", str(cdk_out), "--out", str(tmp_path / "out"), "--json", "--input", str(document)]
    )

    summary = last_json_line(capsys.readouterr().out)
    assert exit_code == 1
    assert summary["status"] == "FAILED"
    assert summary["error"] == "InvalidRunInput"
    assert "qapps.sesions: unknown key" in summary["cause"]
    assert summary["manifestKey"] is None


def test_service_endpoints_from_the_environment_replace_the_embedded_emulator(
    cdk_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = EXAMPLES_DIR / "qapps-only.json"
    with ServiceEmulator() as external:
        seed_emulator(external, json.loads(plan.read_text()))
        monkeypatch.setenv("AWS_ENDPOINT_URL_QUICKSIGHT", external.endpoint_url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_QAPPS", external.endpoint_url)

        exit_code = run.main(["--cdk-out", str(cdk_out), "--out", str(tmp_path / "out"), "--input", str(plan)])

        assert exit_code == 0, capsys.readouterr().out
        assert len(external.requests_for("ExportQAppSessionData")) == 1
        assert len(external.requests_for("GetQApp")) == 1


def test_a_plan_over_the_input_limit_is_staged_and_started_by_reference_with_its_sessions_file(
    cdk_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a plan over Step Functions' 256 KiB input (five bundles of 100 long ARNs), and its sessions as a CSV
    account = "123456789012"
    instance = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
    app = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
    arn = f"arn:aws:quicksight:us-east-1:{account}:dashboard/{'d' * 500}"
    bundles = [{"name": f"b{b}", "resourceArns": [f"{arn}-{b}-{i:03d}" for i in range(100)]} for b in range(5)]
    plan = tmp_path / "estate.json"
    plan.write_text(json.dumps({"quicksight": {"bundles": bundles}, "qapps": {"instanceId": instance}}))
    assert plan.stat().st_size > 256 * 1024
    sessions = tmp_path / "sessions.csv"
    session_ids = [f"7a2b9c4d-1e3f-4a5b-8c6d-{index:012x}" for index in range(3)]
    sessions.write_text("appId,sessionId\n" + "".join(f"{app},{session}\n" for session in session_ids))

    # When the local runner is given both
    options = ["--json", "--no-drill", "--name", "estate-1", "--input", str(plan), "--sessions", str(sessions)]
    exit_code = run.main(["--cdk-out", str(cdk_out), "--out", str(tmp_path / "out"), *options])

    # Then it staged them under the plans prefix, as `aws s3 cp` would, started the run with the reference,
    # and every item was archived
    output = capsys.readouterr().out
    summary = last_json_line(output)
    assert exit_code == 0, output
    assert "Staged " in output and "s3://archiver-local-archive/plans/estate-1/sessions.csv" in output
    assert '{"planUri": "s3://archiver-local-archive/plans/estate-1.json"}' in output
    assert summary["output"]["archived"] == summary["output"]["items"] == 5 + 3 + 1
    staged = tmp_path / "out" / "archive" / "plans" / "estate-1.json"
    assert json.loads(staged.read_text())["qapps"]["sessionsUri"].endswith("/plans/estate-1/sessions.csv")


def test_a_sessions_file_without_a_qapps_section_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {"quicksight": {"bundles": [{"resourceArns": ["arn:aws:quicksight:us-east-1:123456789012:dashboard/d"]}]}}
        )
    )
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("appId,sessionId\n")

    status = run.main(
        ["--input", str(plan), "--sessions", str(sessions), "--json", "--cdk-out", str(tmp_path / "none")]
    )

    assert status == 1
    summary = last_json_line(capsys.readouterr().out)
    assert summary["status"] == "NOT_STARTED"
    assert summary["cause"].startswith("Invalid run input: --sessions: expected a plan (--input) with a qapps section")
