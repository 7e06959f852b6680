"""Plans given by reference: a run input that names its plan, or a section's list, as an object in the bucket.

An inline document is capped by Step Functions' 256 KiB execution input; a plan of 2,000 bundles or 10,000
sessions is not. So a run's input may be ``{"planUri": "s3://<archive bucket>/<plans prefix>estate.json"}``
(the whole document), and a ``qapps`` section may name its sessions (``sessionsUri``) or its apps
(``appsUri``) as a JSON Lines or CSV object. Only objects under the archive bucket's plans prefix (cdk.json's
``plansPrefix``) are read: ValidateRun may read nothing else (``infra/archive/grants.py``).

What such an object holds is checked as the inline document would be, each bad field named where it is
(``qapps.sessionsUri[line 7].sessionId: expected a lower-case version 4 or 5 UUID, got "x"``), every bad line
at once, before anything is written. Lists are read line by line: memory holds the rows, never the object.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from archiver.core.service_errors import naming_errors

# A document at every cap (2,000 bundles of 100 long ARNs, 10,000 sessions and apps) is about 25 MiB of JSON.
MAX_PLAN_OBJECT_BYTES = 32 * 1024 * 1024
# A line holds one session (about 90 bytes) or one app id; anything far longer is not one.
MAX_LINE_BYTES = 4096
# What a CSV's header line parses to: no row.
_HEADER = object()
_MISSING = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "AllAccessDisabled")


class ReferenceProblem(Exception):
    """A reference that cannot be read, with the field-naming problem to report."""


@dataclass(frozen=True)
class Row:
    """One entry of a list: where it is (``qapps.sessions[3]``, ``qapps.sessionsUri[line 4]``) and what it holds."""

    field: str
    short: str
    value: Any
    line: int = 0


@dataclass(frozen=True)
class PlanStore:
    """Where plans given by reference may be read: the archive bucket's plans prefix, through ``s3``."""

    s3: Any
    bucket: str
    prefix: str

    def key_of(self, field: str, uri: str) -> str:
        """The key ``uri`` names, if it is under the plans prefix of the archive bucket.

        Raises
        ------
        ReferenceProblem
            Naming ``field`` and where plans may be.
        """
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or bucket != self.bucket or not key.startswith(self.prefix) or ".." in key:
            raise ReferenceProblem(
                f"{field}: expected an object under s3://{self.bucket}/{self.prefix} (the archive bucket's "
                f"plans prefix, the only place a plan is read from), got {uri}"
            )
        return key

    def open(self, field: str, uri: str, *, limit: int) -> Any:
        """The body of the object ``uri`` names (a stream), refusing a missing one or one over ``limit`` bytes."""
        key = self.key_of(field, uri)
        try:
            with naming_errors("S3", resource=uri):
                response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            code = _client_error_code(error)
            if code in _MISSING:
                raise ReferenceProblem(f"{field}: expected an existing object, {uri} does not exist") from None
            if code in _DENIED:
                raise ReferenceProblem(f"{field}: expected an object the archiver may read, {uri} is denied") from None
            raise  # throttling, a 5xx: ValidateRun's retries handle it, it is not the input's fault
        size = response.get("ContentLength", 0)
        if size > limit:
            response["Body"].close()
            raise ReferenceProblem(f"{field}: expected an object of at most {limit:,} bytes, {uri} has {size:,}")
        return response["Body"]


def _client_error_code(error: BaseException) -> str:
    """The S3 error code behind ``error`` (a named error from ``naming_errors``, or the ClientError itself)."""
    cause = error if isinstance(error, ClientError) else error.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


def read_document(store: PlanStore, uri: str) -> Any:
    """The run input document ``planUri`` names: one JSON object (not itself another reference).

    Raises
    ------
    ReferenceProblem
        The object is missing, denied, too big, not JSON or names another plan.
    """
    body = store.open("planUri", uri, limit=MAX_PLAN_OBJECT_BYTES)
    try:
        document = json.loads(body.read())
    except (UnicodeDecodeError, ValueError) as error:
        raise ReferenceProblem(f"planUri: expected a JSON document in {uri}, got a syntax error ({error})") from None
    finally:
        body.close()
    if isinstance(document, dict) and "planUri" in document:
        raise ReferenceProblem(f"planUri: expected the run input document itself in {uri}, got another planUri")
    return document


@dataclass(frozen=True)
class ListRead:
    """What a list by reference held: its rows that parse (at most ``limit``), its bad lines', its count."""

    rows: list[Row]
    problems: list[tuple[int, str]]
    count: int


def read_list(store: PlanStore, field: str, uri: str, *, columns: tuple[str, ...], limit: int) -> ListRead:
    """The rows of a JSON Lines (one object a line) or CSV (a header naming ``columns``) object, line by line.

    A row is an object of ``columns``' values, as text; checking it against the schema is the caller's.
    Rows past ``limit`` are counted, not kept. Blank lines are skipped; lines are numbered as an editor
    numbers them (a CSV's header is line 1).

    Raises
    ------
    ReferenceProblem
        The object is missing, denied or too big.
    """
    body = store.open(field, uri, limit=MAX_PLAN_OBJECT_BYTES)
    try:
        parse = _csv_rows(field, columns) if uri.endswith(".csv") else _jsonl_rows(field)
        rows: list[Row] = []
        bad_lines: list[tuple[int, str]] = []
        count = 0
        for number, line in enumerate(body.iter_lines(chunk_size=64 * 1024), start=1):
            if not line.strip():
                continue
            problem, value = _decoded(line, field, number)
            if problem is None:
                problem, value = parse(number, value)
            if problem is not None:
                bad_lines.append((number, problem))
                continue
            if value is _HEADER:
                continue
            count += 1
            if count <= limit:
                rows.append(Row(field=f"{field}[line {number}]", short=f"line {number}", value=value, line=number))
    finally:
        body.close()
    return ListRead(rows=rows, problems=bad_lines, count=count)


def _decoded(line: bytes, field: str, number: int) -> tuple[str | None, str]:
    if len(line) > MAX_LINE_BYTES:
        return f"{field}[line {number}]: expected a line of at most {MAX_LINE_BYTES:,} bytes, got {len(line):,}", ""
    try:
        # A BOM (a spreadsheet's CSV export) is not part of the first column's name.
        return None, line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        return f"{field}[line {number}]: expected UTF-8 text", ""


Parse = Callable[[int, str], tuple[str | None, Any]]


def _jsonl_rows(field: str) -> Parse:
    """One JSON value a line; a row is the value as given (the schema names what is wrong with it)."""

    def parse(number: int, text: str) -> tuple[str | None, Any]:
        try:
            return None, json.loads(text)
        except ValueError as error:
            return f"{field}[line {number}]: expected a JSON object, got a syntax error ({error})", None

    return parse


def _csv_rows(field: str, columns: tuple[str, ...]) -> Parse:
    """A header line naming ``columns`` (in any order), then one row a line; the header itself is no row."""
    header: list[str] = []

    def parse(number: int, text: str) -> tuple[str | None, Any]:
        cells = [cell.strip() for cell in next(csv.reader([text]))]
        if not header:
            # A bad header is named once; the rows after it are read in the columns' own order.
            header.extend(cells if sorted(cells) == sorted(columns) else columns)
            if header == cells:
                return None, _HEADER
            return (
                f"{field}[line {number}]: expected a CSV header naming {', '.join(columns)}, got {','.join(cells)}"
            ), _HEADER
        if len(cells) != len(header):
            return (
                f"{field}[line {number}]: expected {len(header)} columns ({', '.join(header)}), got {len(cells)}",
                None,
            )
        return None, dict(zip(header, cells, strict=True))

    return parse


def inline_rows(section: Any, key: str) -> Iterator[Row]:
    """The entries of an inline list (``qapps.sessions``), named as the schema names them."""
    listed = section.get(key) if isinstance(section, dict) else None
    for index, value in enumerate(listed if isinstance(listed, list) else []):
        yield Row(field=f"qapps.{key}[{index}]", short=f"{key}[{index}]", value=value)
