"""Q Apps: copy a data-collection session's CSV, and keep each app's definition."""

from __future__ import annotations

import json
import time
from typing import Any

from archiver.archive.artifacts import keep_document, keep_download, link_in_hand_then_fresh, previously_kept
from archiver.archive.changes import Subjects
from archiver.archive.manifest import item_named
from archiver.archive.models import (
    AppSource,
    ArchivedOutcome,
    PlannedApp,
    PlannedSession,
    RunContext,
    SessionSource,
    UnchangedOutcome,
)
from archiver.core import layout
from archiver.core.service_errors import naming_errors
from archiver.core.settings import Settings


def archive_session(
    client: Any,
    s3: Any,
    *,
    run: RunContext,
    instance_id: str,
    session: PlannedSession,
    settings: Settings,
) -> ArchivedOutcome | UnchangedOutcome:
    """Export a session's collected data and copy the CSV into the archive in the same step.

    How long the link lives is not documented, so the copy starts at once and the link never
    leaves this function; a refresh exports again (Q Apps has no other way to a fresh link).
    """
    session_id = session.session_id
    key = layout.session_key(
        instance_id=instance_id,
        app_id=session.app_id,
        session_id=session_id,
        run_date=run.run_date,
        run_id=run.run_id,
    )
    if kept := previously_kept(s3, settings, run=run, item=session, key=key):
        return kept
    resource = item_named(session, instance_id=instance_id)
    # When each export was asked for (the first, then one per refresh): Q Apps exports synchronously,
    # so the data copied is the last export's, ready as its call returned.
    exported_at: list[float] = []

    def export_session() -> dict[str, Any]:
        exported_at.append(time.time())
        with naming_errors("Q Apps", resource=resource):
            answer: dict[str, Any] = client.export_q_app_session_data(instanceId=instance_id, sessionId=session_id)
        return answer

    export = export_session()
    return keep_download(
        s3,
        settings,
        subjects=Subjects(run=run, item=session),
        kind="session",
        key=key,
        content_type="text/csv",
        fetch_link=link_in_hand_then_fresh(
            export["csvFileLink"],
            lambda: export_session()["csvFileLink"],
        ),
        export_ready_at=lambda: exported_at[-1],
        source=SessionSource(session_arn=export["sessionArn"], app_id=session.app_id, session_id=session_id),
    )


def app_definition_document(response: dict[str, Any]) -> bytes:
    """``GetQApp``'s answer as stable JSON: the same definition always gives the same bytes."""
    definition = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    return json.dumps(definition, indent=2, sort_keys=True, default=str).encode()


def archive_app(
    client: Any, s3: Any, *, run: RunContext, instance_id: str, app: PlannedApp, settings: Settings
) -> ArchivedOutcome | UnchangedOutcome:
    """Keep an app's definition at its version's key; a version already kept counts as archived."""
    # Which version is current is only known by asking: an earlier outcome's definition must be this app's.
    definitions = layout.app_definition_prefix(instance_id=instance_id, app_id=app.app_id)
    if kept := previously_kept(s3, settings, run=run, item=app, key=definitions, key_is_prefix=True):
        return kept
    with naming_errors("Q Apps", resource=item_named(app, instance_id=instance_id)):
        response = client.get_q_app(instanceId=instance_id, appId=app.app_id)
    key = layout.app_definition_key(instance_id=instance_id, app_id=app.app_id, app_version=response["appVersion"])
    return keep_document(
        s3,
        settings,
        subjects=Subjects(run=run, item=app),
        kind="app",
        key=key,
        body=app_definition_document(response),
        source=AppSource(app_arn=response["appArn"], app_version=response["appVersion"]),
    )
