"""The demo's embedded plan, and emulated services that hold everything a plan names."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from tests.local.emulator import ServiceEmulator, cards_with_file_upload

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "functions" / "archiver" / "schema" / "examples"
DEMO_INPUT_PATH = EXAMPLES_DIR / "full-run.json"
# Big enough that the demo's bundles go through a multipart upload (parts are 8 MiB).
DEMO_BUNDLE_PADDING_BYTES = 12 * 1024 * 1024


def demo_input() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DEMO_INPUT_PATH.read_text())
    return document


def session_csv(session_id: str, rows: int = 200) -> bytes:
    """A data-collection session's answers, as Q Apps exports them (deterministic per session)."""
    rng = random.Random(session_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["submittedBy", "submittedAt", "rating", "comment"])
    for row in range(rows):
        writer.writerow(
            [
                f"user{rng.randrange(1000)}@example.com",
                f"2026-11-{1 + row % 28:02d}T09:00:00Z",
                rng.randint(1, 5),
                f"comment {row}",
            ]
        )
    return buffer.getvalue().encode()


def seed_emulator(emulator: ServiceEmulator, document: Any) -> None:
    """Register every QuickSight resource, Q App and session that ``document`` names.

    Resources whose bundle turns strict validation off are registered as failing strict
    validation, so the demo shows QuickSight's warnings being kept beside the bundle.
    """
    if not isinstance(document, dict):
        return
    for bundle in document.get("quicksight", {}).get("bundles", []):
        if not isinstance(bundle, dict):
            continue
        for arn in bundle.get("resourceArns", []):
            emulator.add_quicksight_resource(arn, fails_strict_validation=bundle.get("strictValidation") is False)
    qapps = document.get("qapps", {})
    instance_id = qapps.get("instanceId", "")
    app_ids = list(qapps.get("apps", []))
    for session in qapps.get("sessions", []):
        app_ids.append(session["appId"])
        emulator.add_session(
            instance_id=instance_id,
            app_id=session["appId"],
            session_id=session["sessionId"],
            csv=session_csv(session["sessionId"]),
        )
    # Each app takes a reference document (a file-upload card): a file a restore can put back.
    for number, app_id in enumerate(dict.fromkeys(app_ids), start=1):
        emulator.add_qapp(
            instance_id=instance_id,
            app_id=app_id,
            title=f"Demo app {number}",
            app_version=number,
            cards=cards_with_file_upload(app_id),
        )
