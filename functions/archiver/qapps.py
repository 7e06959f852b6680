"""Q Apps: copy a data-collection session's CSV, and keep each app's definition."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from archiver import layout
from archiver.links import DownloadLinkPolicy
from archiver.observability import count_artifact, logger
from archiver.outcomes import record_archived
from archiver.settings import Settings
from archiver.transfer import archive_bytes, archive_download


def _session_links(client: Any, *, instance_id: str, session_id: str, first: str) -> Callable[[], str]:
    """The export's link first, then a fresh export for each refresh (Q Apps has no other way)."""
    pending = [first]

    def fetch() -> str:
        if pending:
            return pending.pop()
        link: str = client.export_q_app_session_data(instanceId=instance_id, sessionId=session_id)["csvFileLink"]
        return link

    return fetch


def archive_session(
    client: Any,
    s3: Any,
    *,
    run: dict[str, Any],
    instance_id: str,
    session: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Export a session's collected data and copy the CSV into the archive in the same step.

    How long the link lives is not documented, so the copy starts at once and the link never
    leaves this function.
    """
    session_id = session["sessionId"]
    export = client.export_q_app_session_data(instanceId=instance_id, sessionId=session_id)
    key = layout.session_key(
        instance_id=instance_id,
        app_id=session["appId"],
        session_id=session_id,
        run_date=run["date"],
        run_id=run["id"],
    )
    stored = archive_download(
        fetch_link=_session_links(client, instance_id=instance_id, session_id=session_id, first=export["csvFileLink"]),
        s3=s3,
        bucket=settings.archive_bucket,
        key=key,
        content_type="text/csv",
        policy=DownloadLinkPolicy.from_setting(settings.download_allowlist),
        part_size=settings.part_size_bytes,
        max_parts_in_flight=settings.max_parts_in_flight,
        max_link_refreshes=settings.max_link_refreshes,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    count_artifact(
        "session", stored.size, already_archived=stored.already_archived, link_refreshes=stored.link_refreshes
    )
    logger.info("Session data archived", extra={"key": key, "size": stored.size, "sha256": stored.sha256})
    return record_archived(
        s3,
        settings.archive_bucket,
        run=run,
        item_id=session["itemId"],
        kind="session",
        stored=stored,
        source={"sessionArn": export["sessionArn"], "appId": session["appId"], "sessionId": session_id},
    )


def app_definition_document(response: dict[str, Any]) -> bytes:
    """``GetQApp``'s answer as stable JSON: the same definition always gives the same bytes."""
    definition = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    return json.dumps(definition, indent=2, sort_keys=True, default=str).encode()


def archive_app(
    client: Any, s3: Any, *, run: dict[str, Any], instance_id: str, app: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """Keep an app's definition at its version's key; a version already kept counts as archived."""
    response = client.get_q_app(instanceId=instance_id, appId=app["appId"])
    key = layout.app_definition_key(instance_id=instance_id, app_id=app["appId"], app_version=response["appVersion"])
    stored = archive_bytes(
        s3=s3,
        bucket=settings.archive_bucket,
        key=key,
        body=app_definition_document(response),
        content_type="application/json",
    )
    count_artifact("app", stored.size, already_archived=stored.already_archived)
    return record_archived(
        s3,
        settings.archive_bucket,
        run=run,
        item_id=app["itemId"],
        kind="app",
        stored=stored,
        source={"appArn": response["appArn"], "appVersion": response["appVersion"]},
    )
