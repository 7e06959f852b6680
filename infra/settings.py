"""The archiver's deployment settings, read once from CDK context and validated.

Every setting lives in the ``archiver`` object of ``cdk.json``'s context, and that object is the one home of
every default: this module holds none of its own (``DEFAULTS`` is that object, read from the file). Keys:

``coldStorageAfterDays``
    Days after which archived objects (and noncurrent versions) move to S3 Glacier Instant Retrieval.
``downloadAllowlist``
    Comma-separated origins the functions may download presigned links from (and post Q Apps uploads
    to), in the grammar of ``archiver.core.links.parse_allowlist``, the parser the copy steps use.
``runTimeoutHours``
    Longest a run (one state machine execution) may take before Step Functions times it out.
``exportDeadlineMinutes``
    Longest one QuickSight bundle export may stay unfinished before the run gives up on it.
``scheduleExpression``
    EventBridge ``cron(...)`` or ``rate(...)`` expression of the scheduled run (UTC).
``schedulePlan``
    The run input document the schedule sends. ``null`` means no schedule is created at all.
``drillScheduleExpression``
    EventBridge expression of the scheduled restore drill (UTC), after the night's run.
``drillPlan``
    The restore input document the drill schedule sends (mode ``drill`` or ``validate`` only: a schedule
    never restores over the originals). ``null`` means no drill schedule.
``notificationEmail``
    An address subscribed to the failure notifications topic (it must confirm the subscription).
``logRetentionDays``
    How long each function's log group keeps its events; one of CloudWatch Logs' retention periods.
``qappsCredentials``
    How the Q Apps steps sign their calls. ``{"mode": "role"}``: the functions' own roles.
    ``{"mode": "identity-center", "secretArn": ..., "applicationArn": ..., "secretKeyArn": null,
    "identityCenterRegion": null}``: as the archive user, through IAM Identity Center trusted identity
    propagation (see the README's Security section): ``secretArn`` is the full ARN of the secret holding
    the user's JWT or client-credentials grant, ``applicationArn`` the customer-managed Identity Center
    application, ``secretKeyArn`` the secret's customer-managed KMS key (if any), ``identityCenterRegion``
    Identity Center's region when it is not the stack's.
``qappsInstanceIds``
    The Amazon Q Business application ids (Q Apps instances) the archiver may read; ``null``: any in the
    stack's account and region.
``breakGlassRoleArn``
    The one role that may delete archived objects or their versions. ``null``: nobody may.
``objectLock``
    ``{"mode": "GOVERNANCE" | "COMPLIANCE", "retentionDays": N}``: S3 Object Lock with a default retention
    on every archived object. Only takes effect on a new bucket: Object Lock is enabled at creation.
``maxHoursWithoutSuccessfulRun``
    Alarm when no run has succeeded for this many hours (1 to 168). ``null`` with a schedule: the schedule's
    interval (a day for ``cron``) plus ``runTimeoutHours``; ``null`` without a schedule: no such alarm.
``plansPrefix``
    Where in the archive bucket plans given by reference live (``{"planUri": "s3://<bucket>/plans/..."}``, a
    section's ``sessionsUri`` or ``appsUri``): the only objects a run's ValidateRun may read. One or more path
    segments ending in ``/``, apart from the archive's own prefixes.
``changeTriggers``
    ``null``: off. ``{"types": [...], "windowMinutes": N}``: QuickSight's create, update and publish events
    for assets of those types (``dashboard``, ``analysis``, ``dataset``, ``datasource``, ``theme``,
    ``folder``) start a run for the changed asset; at most one run per asset per window of N minutes
    (1 to 1440). Both keys are required: this object is their one home.

The deploy pipeline has its own top-level context key, ``archiverPipeline`` (see ``infra/pipeline.py``).

Override one key for one synth with ``cdk synth -c 'archiver={"schedulePlan": {...}}'``: keys the override
leaves out keep cdk.json's values. Every key is checked, and every problem is reported at once, each naming
its key and what it expects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from archiver.archive.run_input import instance_id_pattern, schema_problems
from archiver.core import layout
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

T = TypeVar("T")

CONTEXT_KEY = "archiver"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"

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


class Problems:
    """Every problem of one settings object, so that all are reported at once (the archiver's and the pipeline's)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, parse: Callable[[], T]) -> T | None:
        """``parse()``, or ``None`` with its problem kept when it raises SettingsError."""
        try:
            return parse()
        except SettingsError as error:
            self.found.append(str(error))
            return None

    def raise_any(self) -> None:
        """Raise one SettingsError naming every problem found, if any."""
        if len(self.found) == 1:
            raise SettingsError(self.found[0])
        if self.found:
            raise SettingsError("\n  ".join([f"{len(self.found)} problems:", *self.found]))


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


def from_json_text(value: Any, error_says: str) -> Any:
    """``value``, parsed when it is JSON text (what ``cdk synth -c key='{...}'`` passes); else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{error_says}: {error}") from None


def load_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` object of ``cdk.json``: feature flags and the archiver's settings.

    The CDK CLI passes this context to the app itself; ``python app.py`` and the tests build their App
    with it so they synthesize exactly what ``cdk synth`` would.
    """
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise SettingsError(f"{path}: 'context' must be a JSON object")
    return context


DEFAULTS: Mapping[str, Any] = MappingProxyType(dict(load_cdk_json_context().get(CONTEXT_KEY) or {}))


@lru_cache(maxsize=1)
def _cdk_json_settings() -> ArchiverSettings:
    """cdk.json's settings, parsed once: what a field of ArchiverSettings left out takes."""
    return ArchiverSettings.from_mapping(DEFAULTS)


@dataclass(frozen=True)
class ArchiverSettings:
    """What one deployment of the archiver is configured with (see the module docstring).

    A field left out takes what cdk.json's value for it parses to: ``ArchiverSettings()`` is cdk.json's.
    """

    cold_storage_after_days: int = field(default_factory=lambda: _cdk_json_settings().cold_storage_after_days)
    download_allowlist: str = field(default_factory=lambda: _cdk_json_settings().download_allowlist)
    run_timeout_hours: int = field(default_factory=lambda: _cdk_json_settings().run_timeout_hours)
    export_deadline_minutes: int = field(default_factory=lambda: _cdk_json_settings().export_deadline_minutes)
    schedule_expression: str = field(default_factory=lambda: _cdk_json_settings().schedule_expression)
    # A JSON object; excluded from hashing because dicts are unhashable.
    schedule_plan: dict[str, Any] | None = field(default_factory=lambda: _cdk_json_settings().schedule_plan, hash=False)
    notification_email: str | None = field(default_factory=lambda: _cdk_json_settings().notification_email)
    log_retention_days: int = field(default_factory=lambda: _cdk_json_settings().log_retention_days)
    # None: the Q Apps steps sign with their own roles.
    qapps_identity_center: QAppsIdentityCenter | None = field(
        default_factory=lambda: _cdk_json_settings().qapps_identity_center
    )
    # None: any Q Apps instance of the account and region.
    qapps_instance_ids: tuple[str, ...] | None = field(default_factory=lambda: _cdk_json_settings().qapps_instance_ids)
    break_glass_role_arn: str | None = field(default_factory=lambda: _cdk_json_settings().break_glass_role_arn)
    object_lock: ObjectLock | None = field(default_factory=lambda: _cdk_json_settings().object_lock)
    max_hours_without_successful_run: int | None = field(
        default_factory=lambda: _cdk_json_settings().max_hours_without_successful_run
    )
    drill_schedule_expression: str = field(default_factory=lambda: _cdk_json_settings().drill_schedule_expression)
    drill_plan: dict[str, Any] | None = field(default_factory=lambda: _cdk_json_settings().drill_plan, hash=False)
    plans_prefix: str = field(default_factory=lambda: _cdk_json_settings().plans_prefix)
    change_triggers: ChangeTriggers | None = field(default_factory=lambda: _cdk_json_settings().change_triggers)

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
        """Read the ``archiver`` context object (a JSON object, or a JSON string from ``-c``) over cdk.json's."""
        node = scope.node if isinstance(scope, Construct) else scope
        raw = node.try_get_context(CONTEXT_KEY)
        if raw is None:
            raw = {}
        raw = from_json_text(raw, f"context '{CONTEXT_KEY}' is not valid JSON")
        if not isinstance(raw, Mapping):
            raise SettingsError(f"context '{CONTEXT_KEY}' must be a JSON object, got {type(raw).__name__}")
        return cls.from_mapping({**DEFAULTS, **raw})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ArchiverSettings:
        """Validate every key of a complete settings object (camelCase keys, as in ``cdk.json``).

        Raises
        ------
        SettingsError
            Naming every key that is unknown, missing or invalid, and what each expects: all at once.
        """
        problems = Problems()
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            problems.found.append(
                f"context '{CONTEXT_KEY}' has unknown keys {unknown}; the known keys are {sorted(_KEYS)}"
            )
        parsed: dict[str, Any] = {}
        for name, (attribute, parse) in _KEYS.items():
            if name not in values:
                problems.found.append(f"{_key(name)} is missing: cdk.json's '{CONTEXT_KEY}' object holds every setting")
            else:
                parsed[attribute] = problems.check(partial(parse, values, name))
        if not problems.found:
            problems.check(partial(_refuse_scheduled_qapps_without_identity, parsed))
        problems.raise_any()
        return cls(**parsed)


def _refuse_scheduled_qapps_without_identity(parsed: Mapping[str, Any]) -> None:
    """A schedule that calls Q Apps with role credentials would fail every Q Apps item, every night.

    Q Apps acts as a signed-in user and answers plain role credentials with ``UnauthorizedException``;
    only ``identity-center`` mode signs as one. A run started by hand is the operator's choice; a
    schedule that can never archive (or drill) Q Apps is a deployment mistake, refused here.
    """
    if parsed["qapps_identity_center"] is not None:
        return
    for name, plan in (("schedulePlan", parsed["schedule_plan"]), ("drillPlan", parsed["drill_plan"])):
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
    value = from_json_text(value, f"{_key(name)} is a string but not valid JSON")
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


def _export_deadline(values: Mapping[str, Any], name: str) -> int:
    # An export may not outlast the run it belongs to (nor a day); a bad runTimeoutHours is reported on its own.
    hours = values.get("runTimeoutHours")
    run_minutes = hours * 60 if isinstance(hours, int) and not isinstance(hours, bool) and hours >= 1 else 24 * 60
    return _int(values, name, minimum=1, maximum=min(24 * 60, run_minutes))


def _log_retention(values: Mapping[str, Any], name: str) -> int:
    retention = _int(values, name, minimum=1, maximum=max(_RETENTION))
    if retention not in _RETENTION:
        raise SettingsError(
            f"{_key(name)} must be one of CloudWatch Logs' retention periods {sorted(_RETENTION)}, got {retention}"
        )
    return retention


# The archive's own prefixes: a plans prefix among them would let ValidateRun read artifacts or manifests.
_ARCHIVE_PREFIXES = (layout.QUICKSIGHT_PREFIX, layout.QAPPS_PREFIX, layout.MANIFESTS_PREFIX, layout.RESTORES_PREFIX)
_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+/)+$")


def _plans_prefix(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not _PREFIX.match(value) or any(part in (".", "..") for part in value.split("/")):
        raise SettingsError(
            f"{_key(name)} must be a key prefix of path segments ending in '/' (such as 'plans/'), got {value!r}"
        )
    overlapping = [prefix for prefix in _ARCHIVE_PREFIXES if value.startswith(prefix) or prefix.startswith(value)]
    if overlapping:
        raise SettingsError(
            f"{_key(name)} must be apart from the archive's own prefixes, {value!r} overlaps {', '.join(overlapping)}"
        )
    return value


@dataclass(frozen=True)
class ChangeTriggers:
    """Runs started by QuickSight's change events: for which asset types, at most one per asset per window."""

    types: tuple[str, ...]
    window_minutes: int


CHANGE_TRIGGER_TYPES = ("dashboard", "analysis", "dataset", "datasource", "theme", "folder")


def _change_triggers(values: Mapping[str, Any], name: str) -> ChangeTriggers | None:
    value = values.get(name)
    if value is None:
        return None
    expected = (
        f'null (off) or {{"types": a non-empty list of {list(CHANGE_TRIGGER_TYPES)}, "windowMinutes": 1 to 1440}}'
    )
    if not isinstance(value, Mapping) or set(value) != {"types", "windowMinutes"}:
        raise SettingsError(f"{_key(name)} must be {expected}, got {value!r}")
    types = value["types"]
    if not isinstance(types, list) or not types or not all(t in CHANGE_TRIGGER_TYPES for t in types):
        raise SettingsError(
            f"{_key(name + '.types')} must be a non-empty list of {list(CHANGE_TRIGGER_TYPES)}, got {types!r}"
        )
    window = _int(value, "windowMinutes", minimum=1, maximum=24 * 60, prefix=name)
    return ChangeTriggers(types=tuple(dict.fromkeys(types)), window_minutes=window)


def _drill_plan(values: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return _plan(values, name, problems_of=_drill_problems, what="restore drill input")


# Every key of the ``archiver`` object: the ArchiverSettings field it sets, and how it is checked. The values,
# defaults included, are cdk.json's.
_KEYS: Mapping[str, tuple[str, Callable[[Mapping[str, Any], str], Any]]] = {
    "coldStorageAfterDays": ("cold_storage_after_days", partial(_int, minimum=1, maximum=36500)),
    "downloadAllowlist": ("download_allowlist", _allowlist),
    "runTimeoutHours": ("run_timeout_hours", partial(_int, minimum=1, maximum=_MAX_RUN_HOURS)),
    "exportDeadlineMinutes": ("export_deadline_minutes", _export_deadline),
    "scheduleExpression": ("schedule_expression", _schedule),
    "schedulePlan": ("schedule_plan", _plan),
    "drillScheduleExpression": ("drill_schedule_expression", _schedule),
    "drillPlan": ("drill_plan", _drill_plan),
    "notificationEmail": ("notification_email", _email),
    "logRetentionDays": ("log_retention_days", _log_retention),
    "qappsCredentials": ("qapps_identity_center", _qapps_credentials),
    "qappsInstanceIds": ("qapps_instance_ids", _instance_ids),
    "breakGlassRoleArn": (
        "break_glass_role_arn",
        partial(_optional_match, pattern=ROLE_ARN_PATTERN, expected="an IAM role ARN"),
    ),
    "objectLock": ("object_lock", _object_lock),
    "maxHoursWithoutSuccessfulRun": (
        "max_hours_without_successful_run",
        partial(_optional_int, minimum=1, maximum=_MAX_QUIET_HOURS),
    ),
    "plansPrefix": ("plans_prefix", _plans_prefix),
    "changeTriggers": ("change_triggers", _change_triggers),
}
