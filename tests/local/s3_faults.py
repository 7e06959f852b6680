"""Fault injection for the archive bucket (moto's S3): failed calls, and a step cut short mid-copy.

moto has no fault injection of its own, so this hooks the archiver's S3 client: a botocore
``before-call`` handler answers a chosen operation with an S3-style error (the client raises it
exactly as it would a real answer, without botocore's own retries) or raises an exception, as a
Lambda timeout would end the function in the middle of a call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse


class LambdaTimedOut(Exception):
    """Ends a handler as a Lambda timeout would; Step Functions reports it as ``Sandbox.Timedout``."""


# Lambda reports its own errors under names no Python class can have.
LambdaTimedOut.__name__ = "Sandbox.Timedout"


@dataclass
class _Fault:
    remaining: int
    code: str
    status: int
    raises: type[BaseException] | None
    key_contains: str | None = None


class S3Faults:
    """Fail the next calls of chosen S3 operations made through ``client``.

    Parameters
    ----------
    client
        The S3 client the handlers use (``archiver.core.clients.s3()`` inside a local run).
    """

    def __init__(self, client: Any) -> None:
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()
        self.failed: list[str] = []
        client.meta.events.register("before-call.s3", self._before_call)

    def fail(
        self,
        operation: str,
        *,
        times: int = 1,
        code: str = "InternalError",
        status: int = 500,
        raises: type[BaseException] | None = None,
        key_contains: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (e.g. ``"UploadPart"``) with an error.

        ``raises`` raises that exception instead of answering (a function ended mid-call);
        ``key_contains`` limits the fault to calls whose ``Key`` holds that text.
        """
        with self._lock:
            self._faults.setdefault(operation, []).append(_Fault(times, code, status, raises, key_contains))

    def _before_call(self, model: Any, params: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            queue = self._faults.get(model.name)
            if not queue:
                return None
            fault = queue[0]
            # ``params`` is the serialized request: the object's key is in its URL path.
            if fault.key_contains is not None and fault.key_contains not in str(params.get("url_path", "")):
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            self.failed.append(model.name)
        if fault.raises is not None:
            raise fault.raises(f"injected while calling S3 {model.name}")
        parsed = {
            "Error": {"Code": fault.code, "Message": f"injected {fault.code}"},
            "ResponseMetadata": {"HTTPStatusCode": fault.status, "HTTPHeaders": {}},
        }
        return AWSResponse("https://s3.local.invalid", fault.status, {}, None), parsed
