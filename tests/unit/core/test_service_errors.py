"""Every error the services can answer leaves a step under a name that says what to do about it."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from archiver.core import errors
from archiver.core.service_errors import naming_errors, service_error

RESOURCE = "session 7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11 of app 3f1c6a52 (instance a1b2)"


def client_error(code: str, status: int, *, operation: str = "ExportQAppSessionData", **members: Any) -> ClientError:
    headers = {"retry-after": str(members.pop("header"))} if "header" in members else {}
    response = {
        "Error": {"Code": code, "Message": f"{code} said the service"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
        **members,
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "status", "service", "expected", "says"),
    [
        ("ThrottlingException", 429, "Q Apps", errors.ServiceBusyError, "ThrottlingException"),
        ("InternalServerException", 500, "Q Apps", errors.ServiceBusyError, "InternalServerException"),
        ("SlowDown", 503, "S3", errors.ServiceBusyError, "SlowDown"),
        ("ResourceNotFoundException", 404, "Q Apps", errors.ResourceNotFoundError, "check that it exists"),
        ("ValidationException", 400, "Q Apps", errors.RequestRejectedError, "refused as invalid"),
        ("InvalidParameterValueException", 400, "QuickSight", errors.RequestRejectedError, "refused as invalid"),
        ("ConflictException", 409, "Q Apps", errors.ResourceConflictError, "in use or changed"),
        ("UnauthorizedException", 401, "Q Apps", errors.CredentialsRejectedError, "Identity Center"),
        ("AccessDeniedException", 403, "Q Apps", errors.PermissionDeniedError, "allow qapps:ExportQAppSessionData"),
        ("AccessDeniedException", 401, "QuickSight", errors.PermissionDeniedError, "allow quicksight:"),
        ("ResourceUnavailableException", 503, "QuickSight", errors.ServiceBusyError, "ResourceUnavailableException"),
        ("AccessDenied", 403, "S3", errors.PermissionDeniedError, "allow s3:ExportQAppSessionData"),
        ("UnsupportedUserEditionException", 403, "QuickSight", errors.UnsupportedEditionError, "Enterprise edition"),
        ("ServiceQuotaExceededException", 402, "Q Apps", errors.QuotaExceededError, "Service Quotas"),
        ("SomethingNew", 418, "Q Apps", errors.RequestRejectedError, "SomethingNew"),
        ("SomethingNew", 502, "Q Apps", errors.ServiceBusyError, "SomethingNew"),
    ],
)
def test_each_answer_is_named_by_what_to_do_and_names_the_resource(
    code: str, status: int, service: str, expected: type[Exception], says: str
) -> None:
    error = service_error(client_error(code, status), service=service, resource=RESOURCE)

    assert type(error) is expected
    assert RESOURCE in str(error) and says in str(error)
    assert f"{code} said the service" in str(error)


# The operations the archiver calls, and what each error their models declare must tell the operator.
CALLED = {
    ("quicksight", "QuickSight"): (
        "StartAssetBundleExportJob",
        "DescribeAssetBundleExportJob",
        "StartAssetBundleImportJob",
        "DescribeAssetBundleImportJob",
    ),
    ("qapps", "Q Apps"): ("ExportQAppSessionData", "GetQApp", "CreatePresignedUrl"),
}
NAMED_AS: dict[tuple[str, str], type[Exception]] = {
    ("QuickSight", "AccessDeniedException"): errors.PermissionDeniedError,
    ("QuickSight", "ConflictException"): errors.ResourceConflictError,
    ("QuickSight", "InvalidParameterValueException"): errors.RequestRejectedError,
    ("QuickSight", "LimitExceededException"): errors.ServiceBusyError,
    ("QuickSight", "ResourceNotFoundException"): errors.ResourceNotFoundError,
    ("QuickSight", "ThrottlingException"): errors.ServiceBusyError,
    ("QuickSight", "UnsupportedUserEditionException"): errors.UnsupportedEditionError,
    ("Q Apps", "AccessDeniedException"): errors.PermissionDeniedError,
    ("Q Apps", "ConflictException"): errors.ResourceConflictError,
    ("Q Apps", "InternalServerException"): errors.ServiceBusyError,
    ("Q Apps", "ResourceNotFoundException"): errors.ResourceNotFoundError,
    ("Q Apps", "ServiceQuotaExceededException"): errors.QuotaExceededError,
    ("Q Apps", "ThrottlingException"): errors.ServiceBusyError,
    ("Q Apps", "UnauthorizedException"): errors.CredentialsRejectedError,
    ("Q Apps", "ValidationException"): errors.RequestRejectedError,
}


def modeled_errors() -> dict[tuple[str, str], int]:
    """(service, code) -> HTTP status, for every error botocore's models declare for the calls above."""
    session = botocore.session.get_session()
    found = {}
    for (name, service), operations in CALLED.items():
        model = session.get_service_model(name)
        for operation in operations:
            for shape in model.operation_model(operation).error_shapes:
                found[(service, shape.name)] = int(shape.metadata["error"]["httpStatusCode"])
    return found


def test_every_error_the_called_operations_declare_is_named() -> None:
    assert set(modeled_errors()) == set(NAMED_AS)


@pytest.mark.parametrize(("service", "code", "status"), [(*key, status) for key, status in modeled_errors().items()])
def test_a_modeled_error_is_named_by_its_code_at_the_status_the_service_sends(
    service: str, code: str, status: int
) -> None:
    # Given the answer as the service sends it (QuickSight's AccessDeniedException is a 401)
    named = service_error(client_error(code, status), service=service, resource=RESOURCE)

    # Then it is named by its code: a missing permission is never read as rejected credentials
    assert type(named) is NAMED_AS[(service, code)], f"{code} ({status})"


def test_the_quota_named_by_the_service_is_the_one_to_raise() -> None:
    error = service_error(
        client_error("ServiceQuotaExceededException", 402, quotaCode="L-1234", serviceCode="qapps"),
        service="Q Apps",
        resource=RESOURCE,
    )
    assert "raise L-1234 of qapps in Service Quotas" in str(error)


def test_export_limit_on_start_waits_for_a_slot() -> None:
    error = service_error(
        client_error("LimitExceededException", 409, operation="StartAssetBundleExportJob"),
        service="QuickSight",
        resource="bundle finance",
    )
    assert type(error) is errors.ExportSlotsBusyError
    assert "five export jobs" in str(error)


@pytest.mark.parametrize(("asked", "waited"), [(0, 5), (1, 5), (5, 5), (5.2, 15), (16, 30), (61, 120), (899, 900)])
def test_a_retry_after_is_rounded_up_never_down(asked: float, waited: int) -> None:
    # Q Apps models it as retryAfterSeconds; other services send a Retry-After header
    for error in (
        client_error("ThrottlingException", 429, retryAfterSeconds=asked),
        client_error("ThrottlingException", 429, header=asked),
    ):
        named = service_error(error, service="Q Apps", resource=RESOURCE)
        assert type(named).__name__ == f"RetryAfter{waited}sError"
        assert isinstance(named, errors.RetryAfterError) and named.wait_seconds == waited >= asked


def test_a_retry_after_longer_than_a_run_waits_fails_the_item_saying_so() -> None:
    named = service_error(
        client_error("ThrottlingException", 429, retryAfterSeconds=3600), service="Q Apps", resource=RESOURCE
    )
    assert type(named) is errors.RetryAfterTooLongError
    assert "asked to retry after 3600 s" in str(named) and "later run" in str(named)


def test_an_unreadable_retry_after_backs_off_as_usual() -> None:
    named = service_error(
        client_error("ThrottlingException", 429, header="Wed, 21 Oct 2026 07:28:00 GMT"),
        service="Q Apps",
        resource=RESOURCE,
    )
    assert type(named) is errors.ServiceBusyError


@pytest.mark.parametrize(
    "raised",
    [EndpointConnectionError(endpoint_url="https://quicksight"), ReadTimeoutError(endpoint_url="https://quicksight")],
)
def test_an_unreachable_service_is_busy(raised: Exception) -> None:
    with (
        pytest.raises(errors.ServiceBusyError, match="could not be reached about bundle finance"),
        naming_errors("QuickSight", resource="bundle finance"),
    ):
        raise raised


def test_errors_of_the_archiver_pass_through_unchanged() -> None:
    with pytest.raises(errors.ArchiveConflictError), naming_errors("S3", resource="s3://b/k"):
        raise errors.ArchiveConflictError("already holds a different object")
