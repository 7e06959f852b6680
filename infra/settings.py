"""The archiver's deployment settings, read once from CDK context and validated.

Every setting lives in the ``archiver`` object of ``cdk.json``'s context. Keys, with their defaults:

``coldStorageAfterDays`` (90)
    Days after which archived objects (and noncurrent versions) move to S3 Glacier Instant Retrieval.
``downloadAllowlist`` ("https://*.amazonaws.com,https://*.amazonaws.com.cn")
    Comma-separated ``https://`` host patterns the functions may download presigned links from.
``runTimeoutHours`` (12)
    Longest a run (one state machine execution) may take before Step Functions times it out.
``exportDeadlineMinutes`` (120)
    Longest one QuickSight bundle export may stay unfinished before the run gives up on it.
``scheduleExpression`` ("cron(0 3 * * ? *)")
    EventBridge ``cron(...)`` or ``rate(...)`` expression of the scheduled run (UTC).
``schedulePlan`` (null)
    The run input document the schedule sends. ``null`` means no schedule is created at all.
``drillScheduleExpression`` ("cron(0 5 * * ? *)")
    EventBridge expression of the scheduled restore drill (UTC), after the night's run.
``drillPlan`` (null)
    The restore input document the drill schedule sends (mode ``drill`` or ``validate`` only: a schedule
    never restores over the originals). ``null`` means no drill schedule.
``notificationEmail`` (null)
    An address subscribed to the failure notifications topic (it must confirm the subscription).
``logRetentionDays`` (90)
    How long each function's log group keeps its events; one of CloudWatch Logs' retention periods.

Override one key for one synth with ``cdk synth -c 'archiver={"schedulePlan": {...}}'``: keys the override
leaves out keep their defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from archiver.restore_input import input_problems as restore_input_problems
from archiver.run_input import schema_problems

CONTEXT_KEY = "archiver"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"

# The same values as cdk.json's "archiver" object (a test keeps the two equal), so a context override
# that names only some keys still gets a complete configuration.
DEFAULTS: Mapping[str, Any] = {
    "coldStorageAfterDays": 90,
    "downloadAllowlist": "https://*.amazonaws.com,https://*.amazonaws.com.cn",
    "runTimeoutHours": 12,
    "exportDeadlineMinutes": 120,
    "scheduleExpression": "cron(0 3 * * ? *)",
    "schedulePlan": None,
    "drillScheduleExpression": "cron(0 5 * * ? *)",
    "drillPlan": None,
    "notificationEmail": None,
    "logRetentionDays": 90,
}

# CloudWatch Logs accepts only these periods.
_RETENTION: Mapping[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

_SCHEDULE = re.compile(r"^(cron\(\S+( \S+){5}\)|rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\))$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ALLOWED_HOST = re.compile(r"^https://[A-Za-z0-9*.-]+(:\d+)?$")
# EventBridge caps a target's constant input at 8192 characters.
_MAX_PLAN_CHARS = 8192
# Standard workflows run for at most a year.
_MAX_RUN_HOURS = 365 * 24


class SettingsError(ValueError):
    """A context value is missing or invalid; the message names the key and what it expects."""


def load_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` object of ``cdk.json``: feature flags and the archiver's settings.

    The CDK CLI passes this context to the app itself; ``python app.py`` and the tests build their App
    with it so they synthesize exactly what ``cdk synth`` would.
    """
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise SettingsError(f"{path}: 'context' must be a JSON object")
    return context


@dataclass(frozen=True)
class ArchiverSettings:
    """What one deployment of the archiver is configured with (see the module docstring)."""

    cold_storage_after_days: int = DEFAULTS["coldStorageAfterDays"]
    download_allowlist: str = DEFAULTS["downloadAllowlist"]
    run_timeout_hours: int = DEFAULTS["runTimeoutHours"]
    export_deadline_minutes: int = DEFAULTS["exportDeadlineMinutes"]
    schedule_expression: str = DEFAULTS["scheduleExpression"]
    # A JSON object; excluded from hashing because dicts are unhashable.
    schedule_plan: dict[str, Any] | None = field(default=None, hash=False)
    notification_email: str | None = None
    log_retention_days: int = DEFAULTS["logRetentionDays"]
    drill_schedule_expression: str = DEFAULTS["drillScheduleExpression"]
    drill_plan: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION[self.log_retention_days]

    @classmethod
    def from_context(cls, scope: Construct | Node) -> ArchiverSettings:
        """Read the ``archiver`` context object (a JSON object, or a JSON string from ``-c``)."""
        node = scope.node if isinstance(scope, Construct) else scope
        raw = node.try_get_context(CONTEXT_KEY)
        if raw is None:
            raw = {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as error:
                raise SettingsError(f"context '{CONTEXT_KEY}' is not valid JSON: {error}") from None
        if not isinstance(raw, Mapping):
            raise SettingsError(f"context '{CONTEXT_KEY}' must be a JSON object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(DEFAULTS))
        if unknown:
            raise SettingsError(
                f"context '{CONTEXT_KEY}' has unknown keys {unknown}; the known keys are {sorted(DEFAULTS)}"
            )
        return cls.from_mapping({**DEFAULTS, **raw})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ArchiverSettings:
        """Validate every key of a complete settings object (camelCase keys, as in ``cdk.json``)."""
        run_timeout_hours = _int(values, "runTimeoutHours", minimum=1, maximum=_MAX_RUN_HOURS)
        export_deadline_minutes = _int(
            values, "exportDeadlineMinutes", minimum=1, maximum=min(24 * 60, run_timeout_hours * 60)
        )
        retention = _int(values, "logRetentionDays", minimum=1, maximum=max(_RETENTION))
        if retention not in _RETENTION:
            raise SettingsError(
                f"{_key('logRetentionDays')} must be one of CloudWatch Logs' retention periods "
                f"{sorted(_RETENTION)}, got {retention}"
            )
        return cls(
            cold_storage_after_days=_int(values, "coldStorageAfterDays", minimum=1, maximum=36500),
            download_allowlist=_allowlist(values, "downloadAllowlist"),
            run_timeout_hours=run_timeout_hours,
            export_deadline_minutes=export_deadline_minutes,
            schedule_expression=_schedule(values, "scheduleExpression"),
            schedule_plan=_plan(values, "schedulePlan"),
            notification_email=_email(values, "notificationEmail"),
            log_retention_days=retention,
            drill_schedule_expression=_schedule(values, "drillScheduleExpression"),
            drill_plan=_plan(values, "drillPlan", problems_of=_drill_problems, what="restore drill input"),
        )


def _key(name: str) -> str:
    return f"context '{CONTEXT_KEY}.{name}'"


def _int(values: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> int:
    value = values[name]
    # bool is an int in Python; true/false in cdk.json is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{_key(name)} must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        raise SettingsError(f"{_key(name)} must be between {minimum} and {maximum}, got {value}")
    return value


def _allowlist(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{_key(name)} must be a non-empty comma-separated list of https:// hosts")
    entries = [entry.strip() for entry in value.split(",")]
    bad = [entry for entry in entries if not _ALLOWED_HOST.match(entry)]
    if bad:
        raise SettingsError(f"{_key(name)} entries must look like 'https://host' or 'https://*.domain', got {bad}")
    return ",".join(entries)


def _schedule(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not _SCHEDULE.match(value.strip()):
        raise SettingsError(
            f"{_key(name)} must be an EventBridge 'cron(min hour day month weekday year)' or "
            f"'rate(N minutes|hours|days)' expression, got {value!r}"
        )
    return value.strip()


def _drill_problems(document: Any) -> list[str]:
    problems = restore_input_problems(document)
    if not problems and document.get("mode", "restore") not in ("drill", "validate"):
        problems.append('mode: expected "drill" or "validate" (a schedule never restores over the originals)')
    return problems


def _plan(
    values: Mapping[str, Any],
    name: str,
    *,
    problems_of: Callable[[Any], list[str]] = schema_problems,
    what: str = "run input",
) -> dict[str, Any] | None:
    value = values[name]
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise SettingsError(f"{_key(name)} is a string but not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SettingsError(
            f"{_key(name)} must be null (no schedule) or the {what} JSON object, got {type(value).__name__}"
        )
    problems = problems_of(value)
    if problems:
        raise SettingsError(f"{_key(name)} is not a valid {what} document: " + "; ".join(problems))
    size = len(json.dumps(value, separators=(",", ":")))
    if size > _MAX_PLAN_CHARS:
        raise SettingsError(f"{_key(name)} is {size} characters of JSON; EventBridge sends at most {_MAX_PLAN_CHARS}")
    return value


def _email(values: Mapping[str, Any], name: str) -> str | None:
    value = values[name]
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise SettingsError(f"{_key(name)} must be null or an e-mail address, got {value!r}")
    return value
