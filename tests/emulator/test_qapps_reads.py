"""Contract tests of the emulator's Q Apps reads: session exports and app definitions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3
from botocore.client import BaseClient

from tests.emulator.exports import ACCOUNT, APP_ID, CSV, INSTANCE, SESSION_ID, error_of, fetch
from tests.local.emulator import DEFAULT_EPOCH, ServiceEmulator


@pytest.fixture
def emulator() -> Iterator[ServiceEmulator]:
    with ServiceEmulator() as running:
        yield running


# ---------------------------------------------------------------------------------------------
# Q Apps
# ---------------------------------------------------------------------------------------------


def test_session_export_serves_the_registered_csv(
    emulator: ServiceEmulator, qapps: BaseClient, http: urllib3.PoolManager
) -> None:
    # Given a data-collection session
    emulator.add_session(instance_id=INSTANCE, app_id=APP_ID, session_id=SESSION_ID, csv=CSV)
    # When its data is exported
    exported = qapps.export_q_app_session_data(instanceId=INSTANCE, sessionId=SESSION_ID)
    # Then the link expires in 300 s and serves the CSV
    assert exported["expiresAt"].timestamp() == DEFAULT_EPOCH + 300
    assert exported["sessionArn"].endswith(f"qapp/{APP_ID}/session/{SESSION_ID}")
    fetched = fetch(http, exported["csvFileLink"])
    assert (fetched.status, fetched.body) == (200, emulator.session_csv(INSTANCE, SESSION_ID))
    assert fetched.headers["Content-Type"] == "text/csv"
    assert emulator.downloads()[-1]["kind"] == "qapps-session-csv"
    assert emulator.requests_for("ExportQAppSessionData")[0]["params"] == {
        "instanceId": INSTANCE,
        "sessionId": SESSION_ID,
    }
    # And after 301 s it has expired
    emulator.clock.advance(301)
    assert fetch(http, exported["csvFileLink"]).status == 403


@pytest.mark.parametrize(
    ("instance", "resource_id", "resource_type"),
    [(INSTANCE, SESSION_ID, "QAppSession"), ("other-instance", "other-instance", "Instance")],
)
def test_exporting_an_unknown_session_is_not_found(
    emulator: ServiceEmulator, qapps: BaseClient, instance: str, resource_id: str, resource_type: str
) -> None:
    # Given an instance that knows another session (or an unknown instance)
    other = "00000000-0000-4000-8000-000000000000"
    emulator.add_session(instance_id=INSTANCE, app_id=APP_ID, session_id=other, csv=CSV)
    # When an unknown session is exported, Then Q Apps answers ResourceNotFoundException naming it
    with pytest.raises(qapps.exceptions.ResourceNotFoundException) as excinfo:
        qapps.export_q_app_session_data(instanceId=instance, sessionId=SESSION_ID)
    error = error_of(excinfo)
    assert (error["resourceId"], error["resourceType"]) == (resource_id, resource_type)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_get_qapp_returns_the_definition(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    # Given two versions of an app
    emulator.add_qapp(instance_id=INSTANCE, app_id=APP_ID, title="Survey", app_version=1)
    emulator.add_qapp(instance_id=INSTANCE, app_id=APP_ID, title="Survey v2", app_version=2, description="Asks")
    # When it is fetched with and without a version
    latest = qapps.get_q_app(instanceId=INSTANCE, appId=APP_ID)
    first = qapps.get_q_app(instanceId=INSTANCE, appId=APP_ID, appVersion=1)
    # Then the shape is GetQApp's, and the version picks the definition
    assert (latest["appVersion"], latest["title"], latest["description"]) == (2, "Survey v2", "Asks")
    assert (first["appVersion"], first["title"]) == (1, "Survey")
    assert latest["appArn"] == f"arn:aws:qapps:us-east-1:{ACCOUNT}:application/{INSTANCE}/qapp/{APP_ID}"
    assert latest["status"] == "PUBLISHED"
    assert latest["createdAt"].timestamp() == DEFAULT_EPOCH
    assert {"createdBy", "updatedAt", "updatedBy"} <= set(latest)
    definition = latest["appDefinition"]
    assert definition["canEdit"] is True
    assert definition["appDefinitionVersion"] == "1"
    assert [next(iter(card)) for card in definition["cards"]] == ["textInput", "qQuery"]
    assert emulator.requests_for("GetQApp")[1]["params"]["appVersion"] == 1


def test_get_unknown_qapp_is_not_found(emulator: ServiceEmulator, qapps: BaseClient) -> None:
    # Given one version of an app, When a missing version or app is fetched, Then it is a 404
    emulator.add_qapp(instance_id=INSTANCE, app_id=APP_ID, title="Survey")
    with pytest.raises(qapps.exceptions.ResourceNotFoundException):
        qapps.get_q_app(instanceId=INSTANCE, appId=APP_ID, appVersion=9)
    with pytest.raises(qapps.exceptions.ResourceNotFoundException) as excinfo:
        qapps.get_q_app(instanceId=INSTANCE, appId=SESSION_ID)
    assert error_of(excinfo)["resourceType"] == "QApp"
