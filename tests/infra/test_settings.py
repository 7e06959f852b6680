"""The archiver's context settings: defaults, overrides, and the errors a bad value gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from archiver.core.errors import ConfigurationError
from archiver.core.links import DownloadLinkPolicy
from infra.settings import (
    DEFAULTS,
    ArchiverSettings,
    ObjectLock,
    QAppsIdentityCenter,
    SettingsError,
    load_cdk_json_context,
)


def settings_from(archiver_context: Any) -> ArchiverSettings:
    return ArchiverSettings.from_context(cdk.App(context={"archiver": archiver_context}))


def test_cdk_json_documents_every_default() -> None:
    # Given the archiver object in cdk.json / Then it holds every key with the code's default
    assert load_cdk_json_context()["archiver"] == dict(DEFAULTS)


def test_defaults_apply_when_context_names_nothing() -> None:
    settings = ArchiverSettings.from_context(cdk.App())

    assert settings == ArchiverSettings()
    assert settings.schedule_plan is None
    assert settings.cold_storage_after_days == 90
    assert settings.run_timeout_hours == 12


def test_a_partial_override_keeps_the_other_defaults() -> None:
    settings = settings_from({"coldStorageAfterDays": 30})

    assert settings.cold_storage_after_days == 30
    assert settings.export_deadline_minutes == DEFAULTS["exportDeadlineMinutes"]


DASHBOARD = "arn:aws:quicksight:us-east-1:123456789012:dashboard/d-1"


def test_an_override_given_as_json_text_is_parsed() -> None:
    # Given what `cdk synth -c archiver='{...}'` passes: a string
    plan: dict[str, Any] = {"quicksight": {"bundles": [{"resourceArns": [DASHBOARD]}]}}
    settings = settings_from(json.dumps({"schedulePlan": plan, "notificationEmail": "ops@example.com"}))

    assert settings.schedule_plan == plan
    assert settings.notification_email == "ops@example.com"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("coldStorageAfterDays", "90", "coldStorageAfterDays' must be a whole number"),
        ("coldStorageAfterDays", True, "coldStorageAfterDays' must be a whole number"),
        ("coldStorageAfterDays", 0, "coldStorageAfterDays' must be between 1 and"),
        ("runTimeoutHours", 9000, "runTimeoutHours' must be between 1 and 8760"),
        ("exportDeadlineMinutes", 24 * 60 + 1, "exportDeadlineMinutes' must be between 1 and 720"),
        ("downloadAllowlist", "", "downloadAllowlist' is empty"),
        ("downloadAllowlist", "http://example.com", "downloadAllowlist' entry 'http://example.com' is not one of"),
        ("scheduleExpression", "every day", "scheduleExpression' must be an EventBridge"),
        ("scheduleExpression", "cron(0 3 * * *)", "scheduleExpression' must be an EventBridge"),
        ("schedulePlan", ["not", "an", "object"], "schedulePlan' must be null (no schedule) or"),
        ("schedulePlan", "{not json", "schedulePlan' is a string but not valid JSON"),
        ("schedulePlan", {"qapps": {"instanceId": "x", "sesions": []}}, "qapps.sesions: unknown key"),
        (
            "schedulePlan",
            {"quicksight": {"bundles": [{"resourceArns": [f"{DASHBOARD}-{i:03}-{'x' * 60}" for i in range(100)]}]}},
            "EventBridge sends at most 8192",
        ),
        ("notificationEmail", "not-an-address", "notificationEmail' must be null or an e-mail"),
        ("logRetentionDays", 100, "logRetentionDays' must be one of CloudWatch Logs' retention periods"),
    ],
)
def test_a_bad_value_is_rejected_naming_its_key(key: str, value: Any, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from({key: value})

    assert f"context 'archiver.{key}" in str(raised.value)
    assert expected in str(raised.value)


def test_every_bad_value_is_named_at_once() -> None:
    # Given three bad values and a misspelt key
    with pytest.raises(SettingsError) as raised:
        settings_from(
            {"coldStorageAfterDays": 0, "scheduleExpression": "daily", "notificationEmail": "ops", "logRetention": 1}
        )

    # Then one error names all four, each with what it expects
    message = str(raised.value)
    assert message.startswith("4 problems:")
    assert "coldStorageAfterDays' must be between 1 and" in message
    assert "scheduleExpression' must be an EventBridge" in message
    assert "notificationEmail' must be null or an e-mail" in message
    assert "unknown keys ['logRetention']" in message


def test_a_key_missing_from_cdk_json_is_named() -> None:
    # Given settings without runTimeoutHours (cdk.json's archiver object is the one home of every default)
    without = {name: value for name, value in DEFAULTS.items() if name != "runTimeoutHours"}

    with pytest.raises(SettingsError, match=r"context 'archiver\.runTimeoutHours' is missing"):
        ArchiverSettings.from_mapping(without)


def test_a_misspelt_key_is_rejected_rather_than_ignored() -> None:
    with pytest.raises(SettingsError, match=r"unknown keys \['coldStorageAfterDay'\]"):
        settings_from({"coldStorageAfterDay": 30})


def test_context_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(SettingsError, match="context 'archiver' must be a JSON object"):
        settings_from(42)


def test_rate_and_cron_expressions_are_accepted() -> None:
    assert settings_from({"scheduleExpression": "rate(6 hours)"}).schedule_expression == "rate(6 hours)"
    assert settings_from({"scheduleExpression": "cron(15 2 ? * MON *)"}).schedule_expression == ("cron(15 2 ? * MON *)")


# -- security settings -------------------------------------------------------------------------------------

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:archiver/qapps-user-AbCdEf"
APPLICATION_ARN = "arn:aws:sso::123456789012:application/ssoins-1111222233334444/apl-5555666677778888"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def identity_center(**overrides: Any) -> dict[str, Any]:
    return {"mode": "identity-center", "secretArn": SECRET_ARN, "applicationArn": APPLICATION_ARN, **overrides}


def test_security_settings_default_to_role_credentials_no_break_glass_and_no_object_lock() -> None:
    settings = ArchiverSettings.from_context(cdk.App())

    assert settings.qapps_identity_center is None
    assert settings.qapps_instance_ids is None
    assert settings.break_glass_role_arn is None
    assert settings.object_lock is None


def test_identity_center_credentials_object_lock_and_break_glass_are_read() -> None:
    settings = settings_from(
        {
            "qappsCredentials": identity_center(identityCenterRegion="eu-west-1"),
            "qappsInstanceIds": [INSTANCE],
            "breakGlassRoleArn": "arn:aws:iam::123456789012:role/break-glass",
            "objectLock": {"mode": "GOVERNANCE", "retentionDays": 365},
        }
    )

    assert settings.qapps_identity_center == QAppsIdentityCenter(
        secret_arn=SECRET_ARN, application_arn=APPLICATION_ARN, identity_center_region="eu-west-1"
    )
    assert settings.qapps_instance_ids == (INSTANCE,)
    assert settings.break_glass_role_arn == "arn:aws:iam::123456789012:role/break-glass"
    assert settings.object_lock == ObjectLock(mode="GOVERNANCE", retention_days=365)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("qappsCredentials", {"mode": "iam"}, "qappsCredentials' must be an object whose 'mode' is 'role' or"),
        ("qappsCredentials", "role", "qappsCredentials' must be an object whose 'mode'"),
        ("qappsCredentials", {"mode": "role", "secretArn": SECRET_ARN}, "in mode 'role' takes no other keys"),
        ("qappsCredentials", identity_center(secretArn=None), "qappsCredentials.secretArn' must be the full ARN"),
        ("qappsCredentials", identity_center(secretArn="archiver/user"), "qappsCredentials.secretArn' must be"),
        (
            "qappsCredentials",
            identity_center(secretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:archiver/qapps-user"),
            "ending in its six-character suffix",
        ),
        ("qappsCredentials", identity_center(applicationArn="apl-1"), "qappsCredentials.applicationArn' must be"),
        ("qappsCredentials", identity_center(secretKeyArn="alias/x"), "qappsCredentials.secretKeyArn' must be"),
        ("qappsCredentials", identity_center(identityCenterRegion="EU"), "identityCenterRegion' must be null or"),
        ("qappsCredentials", identity_center(roleArn="arn:aws:iam::1:role/x"), "has unknown keys ['roleArn']"),
        ("qappsInstanceIds", [], "qappsInstanceIds' must be null (any instance) or a non-empty list"),
        ("qappsInstanceIds", ["NOT-A-UUID"], "qappsInstanceIds' must be null (any instance) or a non-empty list"),
        ("breakGlassRoleArn", "break-glass", "breakGlassRoleArn' must be null or an IAM role ARN"),
        ("breakGlassRoleArn", "arn:aws:iam::123456789012:user/me", "breakGlassRoleArn' must be null or an IAM role"),
        ("objectLock", {"mode": "GOVERNANCE"}, "objectLock' must be null or"),
        ("objectLock", {"mode": "LEGAL", "retentionDays": 1}, "objectLock.mode' must be one of GOVERNANCE, COMPLIANCE"),
        ("objectLock", {"mode": "COMPLIANCE", "retentionDays": 0}, "objectLock.retentionDays' must be between 1"),
        ("objectLock", {"mode": "COMPLIANCE", "retentionDays": "7y"}, "objectLock.retentionDays' must be a whole"),
    ],
)
def test_a_bad_security_setting_is_rejected_naming_its_key(key: str, value: Any, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from({key: value})

    assert f"context 'archiver.{key}" in str(raised.value)
    assert expected in str(raised.value)


def test_the_scheduled_plans_instance_must_be_one_the_archiver_may_read() -> None:
    plan = {"qapps": {"instanceId": INSTANCE, "apps": ["3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"]}}
    other = "00000000-0000-4000-8000-000000000000"

    with pytest.raises(SettingsError, match="does not include 'a1b2c3d4"):
        settings_from({"schedulePlan": plan, "qappsInstanceIds": [other], "qappsCredentials": identity_center()})
    assert settings_from(
        {"schedulePlan": plan, "qappsInstanceIds": [other, INSTANCE], "qappsCredentials": identity_center()}
    ).qapps_instance_ids


@pytest.mark.parametrize("hours", [0, 169, "24", True])
def test_a_quiet_period_outside_one_hour_to_seven_days_is_refused_by_name(hours: Any) -> None:
    with pytest.raises(SettingsError, match=r"archiver\.maxHoursWithoutSuccessfulRun"):
        settings_from({"maxHoursWithoutSuccessfulRun": hours})


@pytest.mark.parametrize(
    ("schedule", "override", "expected"),
    [
        ("cron(0 3 * * ? *)", None, 24 + 12),  # a cron is taken as daily
        ("rate(6 hours)", None, 6 + 12),
        ("rate(7 days)", None, 168),  # capped at what one alarm can look back on
        ("rate(1 day)", 4, 4),  # the setting wins
    ],
)
def test_a_schedule_implies_how_long_runs_may_stay_unsuccessful(schedule: str, override: Any, expected: int) -> None:
    plan = {"quicksight": {"bundles": [{"resourceArns": [DASHBOARD]}]}}
    settings = settings_from(
        {"schedulePlan": plan, "scheduleExpression": schedule, "maxHoursWithoutSuccessfulRun": override}
    )

    assert settings.successful_run_expected_within_hours == expected


# -- Q Apps on a schedule needs the archive user's identity --------------------------------------------

QAPPS_RUN = {"qapps": {"instanceId": INSTANCE, "apps": ["3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"]}}
# The documented nightly drill (docs/restore.md, "Drills and validation"): it uploads a session's answers to Q Apps.
QAPPS_DRILL = json.loads(
    (Path(__file__).parents[2] / "functions/archiver/schema/examples/restore/drill-latest.json").read_text()
)


@pytest.mark.parametrize(("key", "plan"), [("schedulePlan", QAPPS_RUN), ("drillPlan", QAPPS_DRILL)])
def test_a_schedule_calling_q_apps_with_role_credentials_is_refused_saying_what_to_set(
    key: str, plan: dict[str, Any]
) -> None:
    # Given a schedule whose plan calls Q Apps, and the default qappsCredentials (mode role), which Q Apps
    # answers with UnauthorizedException on every call
    # When the settings are read / Then the synth stops, naming the plan, the key and what to set it to
    with pytest.raises(SettingsError) as refused:
        settings_from({key: plan})

    message = str(refused.value)
    assert f"context 'archiver.{key}' calls Q Apps" in message
    assert "context 'archiver.qappsCredentials' is in mode 'role'" in message
    assert '"mode": "identity-center", "secretArn"' in message and '"applicationArn"' in message


@pytest.mark.parametrize(("key", "plan"), [("schedulePlan", QAPPS_RUN), ("drillPlan", QAPPS_DRILL)])
def test_a_schedule_calling_q_apps_as_the_archive_user_is_accepted(key: str, plan: dict[str, Any]) -> None:
    settings = settings_from({key: plan, "qappsCredentials": identity_center()})

    assert settings.qapps_identity_center is not None


def test_a_quicksight_only_schedule_needs_no_identity_center() -> None:
    plan = {"quicksight": {"bundles": [{"resourceArns": [DASHBOARD]}]}}

    assert settings_from({"schedulePlan": plan}).schedule_plan == plan


# -- one allowlist grammar, at synth and in the copy steps -------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "accepted"),
    [
        ("https://example.com:8443", False),  # ports are not matched, so an entry may not name one
        ("https://*.com", False),  # a wildcard over a public suffix trusts everyone
        ("http://127.0.0.1", True),  # plain http on loopback: the local runner's emulator
        ("http://[::1]", True),
        ("http://example.com", False),  # a presigned link is never sent in clear text over a network
        ("http://10.0.0.1", False),
        ("https://*.amazonaws.com", True),
        ("https://downloads.example.com", True),
        ("https://[::1]", True),
        ("https://*.amazonaws.com/path", False),
    ],
)
def test_an_allowlist_entry_synthesizes_exactly_when_the_copy_steps_accept_it(entry: str, accepted: bool) -> None:
    # Given one allowlist entry, read once by the synth (context) and once by a copy step (its environment)
    def synth() -> str:
        return settings_from({"downloadAllowlist": entry}).download_allowlist

    def run_time() -> DownloadLinkPolicy:
        return DownloadLinkPolicy.from_setting(entry)

    # Then both accept it, or both refuse it, each naming the setting it read
    if accepted:
        assert DownloadLinkPolicy.from_setting(synth()) == run_time()
    else:
        with pytest.raises(SettingsError, match=r"context 'archiver\.downloadAllowlist' entry"):
            synth()
        with pytest.raises(ConfigurationError, match="DOWNLOAD_ALLOWLIST entry"):
            run_time()


def test_plans_by_reference_are_read_under_cdk_jsons_plans_prefix() -> None:
    assert settings_from({}).plans_prefix == "plans/"
    assert settings_from({"plansPrefix": "operators/plans/"}).plans_prefix == "operators/plans/"


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        ("plans", "must be a key prefix of path segments ending in '/'"),
        ("", "must be a key prefix of path segments ending in '/'"),
        ("../plans/", "must be a key prefix of path segments ending in '/'"),
        (7, "must be a key prefix of path segments ending in '/'"),
        ("manifests/plans/", "must be apart from the archive's own prefixes, 'manifests/plans/' overlaps manifests/"),
        ("qapps/", "overlaps qapps/"),
    ],
)
def test_a_plans_prefix_that_could_expose_the_archive_is_refused(prefix: Any, says: str) -> None:
    # ValidateRun may read everything under it: never the artifacts, manifests or restore reports
    with pytest.raises(SettingsError, match=r"archiver\.plansPrefix") as refused:
        settings_from({"plansPrefix": prefix})
    assert says in str(refused.value)
