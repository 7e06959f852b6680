"""The demo's embedded plan, and emulated services that hold everything a plan names."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.local.emulator import ServiceEmulator, cards_with_file_upload
from tests.local.estate import seed_estate

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "functions" / "archiver" / "schema" / "examples"
DEMO_INPUT_PATH = EXAMPLES_DIR / "full-run.json"
# `make demo ARGS=--estate`: a small estate (some 40 assets, dashboards sharing data sets) archived by discovery.
DEMO_ESTATE_INPUT_PATH = EXAMPLES_DIR / "discover-estate.json"
# Big enough that the demo's bundles go through a multipart upload (parts are 8 MiB).
DEMO_BUNDLE_PADDING_BYTES = 12 * 1024 * 1024
DRILL_PREFIX = "drill-"


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

    A document that discovers finds the demo's estate (``tests.local.estate``). Resources whose bundle
    turns strict validation off are registered as failing strict
    validation, so the demo shows QuickSight's warnings being kept beside the bundle.
    """
    if not isinstance(document, dict):
        return
    if isinstance(document.get("quicksight"), dict) and "discover" in document["quicksight"]:
        seed_estate(emulator)  # what a discovery finds: dashboards and analyses on shared data sets, two unsupported
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
    # Each app takes a reference document (a file-upload card): a file a restore can put back; and
    # each has a session set aside for restore drills.
    for number, app_id in enumerate(dict.fromkeys(app_ids), start=1):
        emulator.add_qapp(
            instance_id=instance_id,
            app_id=app_id,
            title=f"Demo app {number}",
            app_version=number,
            cards=cards_with_file_upload(app_id),
        )
        emulator.add_session(instance_id=instance_id, app_id=app_id, session_id=drill_session_id(app_id), csv=b"")


def drill_session_id(app_id: str) -> str:
    """The demo's drill session of an app (in a real account: a session the operator keeps for drills)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{app_id}/restore-drill"))


def drill_request(manifest: dict[str, Any], read_json: Callable[[str], Any]) -> dict[str, Any] | None:
    """Prove a run's archive restores, beside the originals: what an operator schedules after the night's run.

    Every archived QuickSight bundle is imported with the drill prefix on every resource id; the
    first archived session's answers go, as a file, to the file-upload card of its app (found in
    the app's archived definition), in the drill session only. ``None`` when nothing can be drilled.
    """
    run_id = manifest["run"]["id"]
    artifacts = manifest["artifacts"]

    def archived(item_id: str) -> dict[str, Any]:
        return {"manifest": run_id, "itemId": item_id}

    bundles = [
        {"from": archived(a["itemId"])}
        for a in artifacts
        if a["kind"] == "bundle" and a["source"].get("exportFormat") == "QUICKSIGHT_JSON"
    ]
    document: dict[str, Any] = {"mode": "drill", "drill": {"resourcePrefix": DRILL_PREFIX}}
    if bundles:
        document["quicksight"] = {"bundles": bundles}
    session = next((a for a in artifacts if a["kind"] == "session"), None)
    if session is not None:
        app_id = session["source"]["appId"]
        definitions = [a for a in artifacts if a["kind"] == "app" and a["source"]["appArn"].endswith(f"/{app_id}")]
        cards = read_json(definitions[0]["key"])["appDefinition"]["cards"] if definitions else []
        card = next((c["fileUpload"] for c in cards if "fileUpload" in c), None)
        if card is not None:
            instance_id = session["key"].split("/")[1]
            document["drill"]["sessionId"] = drill_session_id(app_id)
            document["qapps"] = {
                "instanceId": instance_id,
                "files": [
                    {
                        "from": archived(session["itemId"]),
                        "appId": app_id,
                        "cardId": card["id"],
                        "fileName": f"answers-{session['source']['sessionId']}.csv",
                    }
                ],
            }
    return document if "quicksight" in document or "qapps" in document else None


# What the demo's second run (``archiver-local --again``) finds changed: one dashboard, edited and published.
EDITED_FOR_SECOND_RUN = "dashboard/finance-overview"


def fingerprinted(document: dict[str, Any], emulator: ServiceEmulator) -> dict[str, Any]:
    """``document`` with each bundle's assets' fingerprints as QuickSight's List calls give them now (what
    discovery plans), each bundle exporting its resources alone, as discovery's bundles do."""
    section = document.get("quicksight", {})
    bundles = []
    for bundle in section.get("bundles", []):
        assets = []
        for arn in bundle["resourceArns"]:
            held = emulator.quicksight_asset(arn)
            resource_type = arn.split(":", 5)[-1].split("/", 1)[0]
            version = held["version"] if resource_type in ("dashboard", "theme") else None
            assets.append(
                {"arn": arn, "type": resource_type, "lastUpdatedTime": str(held["last_updated_at"]), "version": version}
            )
        bundles.append({**bundle, "includeAllDependencies": False, "assets": assets})
    return {**document, "quicksight": {**section, "bundles": bundles}} if section else document
