"""The archiver's deployment settings, read once from CDK context and validated.

Every setting lives in the ``archiver`` object of ``cdk.json``'s context. Keys, with their defaults:

``coldStorageAfterDays`` (90)
    Days after which archived objects (and noncurrent versions) move to S3 Glacier Instant Retrieval.
``downloadAllowlist`` ("https://*.amazonaws.com,https://*.amazonaws.com.cn")
    Comma-separated origins the functions may download presigned links from (and post Q Apps uploads
    to), in the grammar of ``archiver.links.parse_allowlist``, the parser the copy steps use.
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
``qappsCredentials`` ({"mode": "role"})
    How the Q Apps steps sign their calls. ``{"mode": "role"}``: the functions' own roles.
    ``{"mode": "identity-center", "secretArn": ..., "applicationArn": ..., "secretKeyArn": null,
    "identityCenterRegion": null}``: as the archive user, through IAM Identity Center trusted identity
    propagation (see the README's Security section): ``secretArn`` is the full ARN of the secret holding
    the user's JWT or client-credentials grant, ``applicationArn`` the customer-managed Identity Center
    application, ``secretKeyArn`` the secret's customer-managed KMS key (if any), ``identityCenterRegion``
    Identity Center's region when it is not the stack's.
``qappsInstanceIds`` (null)
    The Amazon Q Business application ids (Q Apps instances) the archiver may read; ``null``: any in the
    stack's account and region.
``breakGlassRoleArn`` (null)
    The one role that may delete archived objects or their versions. ``null``: nobody may.
``objectLock`` (null)
    ``{"mode": "GOVERNANCE" | "COMPLIANCE", "retentionDays": N}``: S3 Object Lock with a default retention
    on every archived object. Only takes effect on a new bucket: Object Lock is enabled at creation.
``maxHoursWithoutSuccessfulRun`` (null)
    Alarm when no run has succeeded for this many hours (1 to 168). ``null`` with a schedule: the schedule's
    interval (a day for ``cron``) plus ``runTimeoutHours``; ``null`` without a schedule: no such alarm.

The deploy pipeline has its own top-level context key, ``archiverPipeline`` (see ``infra/pipeline.py``).

Override one key for one synth with ``cdk synth -c 'archiver={"schedulePlan": {...}}'``: keys the override
leaves out keep their defaults.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from archiver.archive.run_input import instance_id_pattern, schema_problems
from archiver.core.links import InvalidAllowlistError, parse_allowlist
from archiver.core.settings import (
    APPLICATION_ARN_EXPECTED,
    APPLICATION_ARN_PATTERN,
    IDENTITY_CENTER_MODE,
    QAPPS_CREDENTIALS_MODES,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    ROLE_MODE,
    SECRET_ARN_PATTERN,
)
from archiver.restore.request import input_problems as restore_input_problems

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
    "qappsCredentials": {"mode": ROLE_MODE},
    "qappsInstanceIds": None,
    "breakGlassRoleArn": None,
    "objectLock": None,
    "maxHoursWithoutSuccessfulRun": None,
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
# EventBridge caps a target's constant input at 8192 characters.
_MAX_PLAN_CHARS = 8192
# Standard workflows run for at most a year.
_MAX_RUN_HOURS = 365 * 24
# IAM matches a secret's full ARN, whose name Secrets Manager ends with "-" and six random characters.
_FULL_SECRET_ARN = re.compile(SECRET_ARN_PATTERN.pattern + r"(?<=-[A-Za-z0-9]{6})")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
_IDENTITY_CENTER_KEYS = {"mode", "secretArn", "applicationArn", "secretKeyArn", "identityCenterRegion"}
# A CloudWatch alarm looks back at most seven days (Period x EvaluationPeriods <= 604,800 s).
_MAX_QUIET_HOURS = 7 * 24
_RATE_HOURS = {"minute": 1 / 60, "minutes": 1 / 60, "hour": 1, "hours": 1, "day": 24, "days": 24}


class SettingsError(ValueError):
    """A context value is missing or invalid; the message names the key and what it expects."""


@dataclass(frozen=True)
class QAppsIdentityCenter:
    """Where the Q Apps steps get the archive user's identity (``qappsCredentials`` in identity-center mode)."""

    secret_arn: str
    application_arn: str
    secret_key_arn: str | None = None
    identity_center_region: str | None = None


@dataclass(frozen=True)
class ObjectLock:
    """S3 Object Lock's default retention for every archived object."""

    mode: str
    retention_days: int


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
    # None: the Q Apps steps sign with their own roles.
    qapps_identity_center: QAppsIdentityCenter | None = None
    # None: any Q Apps instance of the account and region.
    qapps_instance_ids: tuple[str, ...] | None = None
    break_glass_role_arn: str | None = None
    object_lock: ObjectLock | None = None
    max_hours_without_successful_run: int | None = None
    drill_schedule_expression: str = DEFAULTS["drillScheduleExpression"]
    drill_plan: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION[self.log_retention_days]

    @property
    def successful_run_expected_within_hours(self) -> int | None:
        """How long without a successful run means something is wrong; ``None``: nobody expects runs.

        Without the setting, a schedule implies the answer: one interval (a ``cron`` is taken as daily)
        plus the time a run may take. Set the key for a ``cron`` that runs less often than daily.
        """
        if self.max_hours_without_successful_run is not None:
            return self.max_hours_without_successful_run
        if self.schedule_plan is None:
            return None
        rate = re.match(r"^rate\((\d+) (\w+)\)$", self.schedule_expression)
        interval = int(rate.group(1)) * _RATE_HOURS[rate.group(2)] if rate else 24
        return min(_MAX_QUIET_HOURS, math.ceil(interval) + self.run_timeout_hours)

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
        settings = cls(
            cold_storage_after_days=_int(values, "coldStorageAfterDays", minimum=1, maximum=36500),
            download_allowlist=_allowlist(values, "downloadAllowlist"),
            run_timeout_hours=run_timeout_hours,
            export_deadline_minutes=export_deadline_minutes,
            schedule_expression=_schedule(values, "scheduleExpression"),
            schedule_plan=_plan(values, "schedulePlan"),
            notification_email=_email(values, "notificationEmail"),
            log_retention_days=retention,
            qapps_identity_center=_qapps_credentials(values, "qappsCredentials"),
            qapps_instance_ids=_instance_ids(values, "qappsInstanceIds"),
            break_glass_role_arn=_optional_match(values, "breakGlassRoleArn", ROLE_ARN_PATTERN, "an IAM role ARN"),
            object_lock=_object_lock(values, "objectLock"),
            max_hours_without_successful_run=_optional_int(
                values, "maxHoursWithoutSuccessfulRun", minimum=1, maximum=_MAX_QUIET_HOURS
            ),
            drill_schedule_expression=_schedule(values, "drillScheduleExpression"),
            drill_plan=_plan(values, "drillPlan", problems_of=_drill_problems, what="restore drill input"),
        )
        _refuse_scheduled_qapps_without_identity(settings)
        return settings


def _refuse_scheduled_qapps_without_identity(settings: ArchiverSettings) -> None:
    """A schedule that calls Q Apps with role credentials would fail every Q Apps item, every night.

    Q Apps acts as a signed-in user and answers plain role credentials with ``UnauthorizedException``;
    only ``identity-center`` mode signs as one. A run started by hand is the operator's choice; a
    schedule that can never archive (or drill) Q Apps is a deployment mistake, refused here.
    """
    if settings.qapps_identity_center is not None:
        return
    for name, plan in (("schedulePlan", settings.schedule_plan), ("drillPlan", settings.drill_plan)):
        if plan is not None and plan.get("qapps") is not None:
            raise SettingsError(
                f"{_key(name)} calls Q Apps (its 'qapps' section), but {_key('qappsCredentials')} is in mode "
                f"{ROLE_MODE!r}, and Q Apps refuses plain role credentials (UnauthorizedException): every Q Apps "
                f"item would fail each time the schedule starts it. Set {_key('qappsCredentials')} to "
                f'{{"mode": "{IDENTITY_CENTER_MODE}", "secretArn": <full ARN of the secret holding the archive '
                'user\'s JWT or client-credentials grant>, "applicationArn": <the Identity Center application '
                "ARN>} (README, \"Q Apps as the archive user\"), or remove 'qapps' from the plan"
            )


def _key(name: str) -> str:
    return f"context '{CONTEXT_KEY}.{name}'"


def _int(values: Mapping[str, Any], name: str, *, minimum: int, maximum: int, prefix: str = "") -> int:
    value = values[name]
    key = _key(f"{prefix}.{name}" if prefix else name)
    # bool is an int in Python; true/false in cdk.json is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{key} must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        raise SettingsError(f"{key} must be between {minimum} and {maximum}, got {value}")
    return value


def _optional_int(values: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> int | None:
    return None if values[name] is None else _int(values, name, minimum=minimum, maximum=maximum)


def _allowlist(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str):
        raise SettingsError(f"{_key(name)} must be a comma-separated list of origins, got {value!r}")
    # The copy steps' own parser: an allowlist that synthesizes is one they accept.
    try:
        origins = parse_allowlist(value)
    except InvalidAllowlistError as error:
        raise SettingsError(f"{_key(name)} {error}") from None
    return ",".join(str(origin) for origin in origins)


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


def _optional_match(values: Mapping[str, Any], name: str, pattern: re.Pattern[str], expected: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingsError(f"{_key(name)} must be null or {expected}, got {value!r}")
    return value


def _qapps_credentials(values: Mapping[str, Any], name: str) -> QAppsIdentityCenter | None:
    value = values[name]
    modes = " or ".join(repr(mode) for mode in QAPPS_CREDENTIALS_MODES)
    if not isinstance(value, Mapping) or value.get("mode") not in QAPPS_CREDENTIALS_MODES:
        raise SettingsError(f"{_key(name)} must be an object whose 'mode' is {modes}, got {value!r}")
    if value["mode"] == ROLE_MODE:
        if set(value) != {"mode"}:
            raise SettingsError(f"{_key(name)} in mode 'role' takes no other keys, got {sorted(set(value) - {'mode'})}")
        return None
    unknown = sorted(set(value) - _IDENTITY_CENTER_KEYS)
    if unknown:
        raise SettingsError(
            f"{_key(name)} has unknown keys {unknown}; "
            f"mode {IDENTITY_CENTER_MODE!r} takes {sorted(_IDENTITY_CENTER_KEYS)}"
        )

    def required(key: str, pattern: re.Pattern[str], expected: str) -> str:
        found = value.get(key)
        if not isinstance(found, str) or not pattern.fullmatch(found):
            raise SettingsError(f"{_key(f'{name}.{key}')} must be {expected}, got {found!r}")
        return found

    def optional(key: str, pattern: re.Pattern[str], expected: str) -> str | None:
        return None if value.get(key) is None else required(key, pattern, expected)

    return QAppsIdentityCenter(
        secret_arn=required(
            "secretArn",
            _FULL_SECRET_ARN,
            "the full ARN of a Secrets Manager secret (ending in its six-character suffix)",
        ),
        application_arn=required("applicationArn", APPLICATION_ARN_PATTERN, APPLICATION_ARN_EXPECTED),
        secret_key_arn=optional("secretKeyArn", _KMS_KEY_ARN, "null or a KMS key ARN"),
        identity_center_region=optional("identityCenterRegion", REGION_PATTERN, "null or an AWS region"),
    )


def _instance_ids(values: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = values[name]
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        # Exactly the ids the run input schema accepts: a scheduled plan's instance must be one the grants allow.
        or not all(isinstance(v, str) and instance_id_pattern().fullmatch(v) for v in value)
    ):
        raise SettingsError(
            f"{_key(name)} must be null (any instance) or a non-empty list of Q Business application ids "
            f"(lower-case UUIDs), got {value!r}"
        )
    plan = values.get("schedulePlan")
    planned = plan.get("qapps", {}).get("instanceId") if isinstance(plan, dict) else None
    if planned is not None and planned not in value:
        raise SettingsError(f"{_key(name)} does not include {planned!r}, the instance the scheduled plan archives")
    return tuple(value)


def _object_lock(values: Mapping[str, Any], name: str) -> ObjectLock | None:
    value = values[name]
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"mode", "retentionDays"}:
        raise SettingsError(
            f'{_key(name)} must be null or {{"mode": "GOVERNANCE" | "COMPLIANCE", "retentionDays": N}}, got {value!r}'
        )
    if value["mode"] not in OBJECT_LOCK_MODES:
        raise SettingsError(
            f"{_key(name + '.mode')} must be one of {', '.join(OBJECT_LOCK_MODES)}, got {value['mode']!r}"
        )
    return ObjectLock(
        mode=value["mode"], retention_days=_int(value, "retentionDays", minimum=1, maximum=36500, prefix=name)
    )
