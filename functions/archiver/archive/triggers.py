"""Runs started by a change: a QuickSight create, update or publish event becomes a run for that asset.

The run is an ordinary run input (the same state machine, the same checks): one bundle of the changed
asset alone (no ``IncludeAllDependencies``: its dependencies have events and bundles of their own), named as
ValidateRun names a bundle given none, which is also the name discovery gives a dashboard's or analysis's
own bundle, so the catalogue compares the two; ``onlyChanged`` true.

A burst of events for one asset costs at most one export per window: the execution is named after the
asset and the window (``windowMinutes``) the event's time falls in, and Step Functions starts one execution
per name (a second start of a name answers with the first, or ``ExecutionAlreadyExists``). The window's run
exports once; a later window's run whose export holds the same bytes stores nothing (``onlyChanged``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from archiver.catalogue import asset_type_and_id
from archiver.catalogue.store import moment_of

# Step Functions execution names: 1 to 80 of letters, digits, - and _.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_NAME_MAX = 80
_DIGEST_CHARS = 12
# Detail-types that say an asset is gone: no run can export it (the scheduled discovery records it).
_GONE = re.compile(r"delet", re.IGNORECASE)


class ChangeEvent(BaseModel):
    """What the archiver reads of an EventBridge event from ``aws.quicksight`` (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: str
    resources: list[str] = []


def execution_name(arn: str, window_start: datetime) -> str:
    """``change-{window}-{type}-{id}-{digest}``: one name per asset per window, within Step Functions' 80 characters."""
    resource_type, resource_id = asset_type_and_id(arn)
    stamp = window_start.strftime("%Y%m%dT%H%MZ")
    digest = hashlib.sha256(f"{arn}\n{stamp}".encode()).hexdigest()[:_DIGEST_CHARS]
    readable = _NAME_UNSAFE.sub("-", f"change-{stamp}-{resource_type}-{resource_id}").strip("-")
    return f"{readable[: _NAME_MAX - _DIGEST_CHARS - 1]}-{digest}"


def window_of(moment: datetime, minutes: int) -> datetime:
    """The start of the ``minutes``-long window (counted from midnight UTC) that ``moment`` falls in."""
    moment = moment.astimezone(UTC)
    minute_of_day = moment.hour * 60 + moment.minute
    start = minute_of_day - minute_of_day % minutes
    return moment.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)


def run_for_change(
    event: ChangeEvent, *, types: frozenset[str], window_minutes: int
) -> tuple[str, dict[str, Any]] | None:
    """The execution name and run input for ``event``, or ``None`` when it asks for no run (and why not is logged).

    No run for an event of another source, of a deletion, without a QuickSight ARN, or of a type not
    configured.
    """
    if event.source != "aws.quicksight" or _GONE.search(event.detail_type):
        return None
    arns = [arn for arn in event.resources if ":quicksight:" in arn]
    if len(arns) != 1:
        return None
    arn = arns[0]
    resource_type, _ = asset_type_and_id(arn)
    if resource_type not in types:
        return None
    document = {
        "quicksight": {
            "awsAccountId": arn.split(":")[4],
            "bundles": [{"resourceArns": [arn], "includeAllDependencies": False}],
        },
        "onlyChanged": True,
    }
    return execution_name(arn, window_of(moment_of(event.time), window_minutes)), document
