"""The archiver's context settings: defaults, overrides, and the errors a bad value gets."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from infra.settings import DEFAULTS, ArchiverSettings, SettingsError, load_cdk_json_context


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
        ("downloadAllowlist", "", "downloadAllowlist' must be a non-empty"),
        ("downloadAllowlist", "http://example.com", "downloadAllowlist' entries must look like"),
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


def test_a_misspelt_key_is_rejected_rather_than_ignored() -> None:
    with pytest.raises(SettingsError, match=r"unknown keys \['coldStorageAfterDay'\]"):
        settings_from({"coldStorageAfterDay": 30})


def test_context_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(SettingsError, match="context 'archiver' must be a JSON object"):
        settings_from(42)


def test_rate_and_cron_expressions_are_accepted() -> None:
    assert settings_from({"scheduleExpression": "rate(6 hours)"}).schedule_expression == "rate(6 hours)"
    assert settings_from({"scheduleExpression": "cron(15 2 ? * MON *)"}).schedule_expression == ("cron(15 2 ? * MON *)")


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
    plan = {
        "qapps": {
            "instanceId": "11111111-2222-3333-4444-555555555555",
            "apps": ["3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"],
        }
    }
    settings = settings_from(
        {"schedulePlan": plan, "scheduleExpression": schedule, "maxHoursWithoutSuccessfulRun": override}
    )

    assert settings.successful_run_expected_within_hours == expected
