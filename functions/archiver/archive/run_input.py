"""The run's input document: validated against the published schema, then turned into a plan.

The schema (``schema/run-input.schema.json``) is the contract that schedules and manual
executions use. Everything the schema cannot say (an ARN of another account, two bundles
with one name) is checked here, and every problem is reported at once, each naming its
field, before anything is exported or written.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from archiver.archive.models import (
    BundleRequest,
    DiscoverRequest,
    PlannedApp,
    PlannedBundle,
    PlannedItem,
    PlannedSession,
    QAppsPlan,
    QuickSightPlan,
    RunContext,
    RunPlan,
)
from archiver.archive.plan_references import (
    PlanStore,
    ReferenceProblem,
    Row,
    inline_rows,
    read_document,
    read_list,
)
from archiver.core import input_problems, layout
from archiver.core.errors import InvalidRunInputError
from archiver.core.input_problems import listed_items

SCHEMA_PATH = Path(__file__).parents[1] / "schema" / "run-input.schema.json"

BUNDLE_NAME_MAX = 64
# Step Functions refuses an execution input over 256 KiB (UTF-8) at StartExecution, so a bigger inline
# document never reaches ValidateRun: a bigger plan is given by reference (archiver.archive.plan_references).
# The local runner stages such a plan itself; plan_run checks inline documents too.
MAX_INPUT_BYTES = 256 * 1024
# A refusal names at most this many problems and counts the rest: it stays readable, and within the 32,768
# characters Step Functions keeps of an error's cause (a plan of 10,000 bad lines has 10,000 problems).
MAX_LISTED_PROBLEMS = 100
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def instance_id_pattern() -> re.Pattern[str]:
    """The pattern a Q Apps ``instanceId`` must match, as the published schema has it (one source of truth)."""
    return re.compile(_validator().schema["$defs"]["qapps"]["properties"]["instanceId"]["pattern"])


def input_size_problem(document: Any) -> str | None:
    """The problem with a document too big for a state machine's input, if it is."""
    size = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    if size <= MAX_INPUT_BYTES:
        return None
    return (
        f"(document): expected at most {MAX_INPUT_BYTES:,} bytes (a state machine's input limit), got {size:,}: "
        'give the plan by reference instead, {"planUri": "s3://<archive bucket>/plans/<name>.json"}'
    )


def parse_run_input(text: str) -> Any:
    """Read a run input document from JSON text, refusing empty and non-JSON text (of any size).

    Raises
    ------
    InvalidRunInputError
        Naming the document and what was expected.
    """
    if not text.strip():
        raise InvalidRunInputError(["(document): expected a JSON object, got an empty document"])
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InvalidRunInputError([f"(document): expected JSON, got a syntax error ({error})"]) from None
    return document


def schema_problems(document: Any) -> list[str]:
    """Every way ``document`` breaks the run input's schema, one field-naming line each."""
    return input_problems.schema_problems(document, _validator())


def part_conforms(value: Any, pointer: str) -> bool:
    """Whether ``value`` is valid against the part of the run input's schema at ``pointer`` (``#/$defs/bundle``)."""
    return input_problems.part_conforms(value, pointer, _validator())


def readable_bundle_name(readable: str, distinct_by: str) -> str:
    """A bundle name: ``readable`` made name-safe and short enough, then a hash of ``distinct_by``."""
    safe = _NAME_UNSAFE.sub("-", readable).strip("-")
    digest = hashlib.sha256(distinct_by.encode()).hexdigest()[:8]
    return f"{safe[: BUNDLE_NAME_MAX - 9]}-{digest}"


def _derived_bundle_name(arns: list[str]) -> str:
    """A stable, readable name for a bundle that was given none: its first resource, plus a hash of all."""
    return readable_bundle_name(arns[0].split(":", 5)[-1], "\n".join(sorted(arns)))  # e.g. "dashboard/d-1"


def export_job_id(run_id: str, bundle_name: str) -> str:
    """The QuickSight export job id for a bundle in a run.

    Derived from the run, so a retried start asks for the same job instead of a second one, and
    distinct for every (run, bundle) pair, so no other run ever asks for it (``layout.job_id``).
    """
    return layout.job_id(run_id, bundle_name)


def _bundle_name(bundle: dict[str, Any], arns: list[str]) -> str | None:
    """The bundle's name, given or derived, if the parts it comes from are well-formed."""
    if "name" in bundle:
        return bundle["name"] if part_conforms(bundle["name"], "#/$defs/bundle/properties/name") else None
    if arns and part_conforms(arns, "#/$defs/bundle/properties/resourceArns"):
        return _derived_bundle_name(arns)
    return None


def _plan_quicksight(section: Any, run: RunContext, default_account: str) -> tuple[QuickSightPlan, list[str]]:
    """Plan the bundles that are well-formed, and check names and accounts wherever they are."""
    problems: list[str] = []
    given_account = section.get("awsAccountId") if isinstance(section, dict) else None
    if given_account is None and not default_account:
        problems.append("quicksight.awsAccountId: required (no default account is configured)")
    # A malformed account is the schema's problem: comparing ARNs with it would only add noise.
    account_ok = given_account is None or part_conforms(given_account, "#/$defs/quicksight/properties/awsAccountId")
    account = (given_account or default_account) if account_ok else None
    bundles: list[PlannedBundle] = []
    seen: dict[str, int] = {}
    for index, bundle in listed_items(section, "bundles"):
        if not isinstance(bundle, dict):
            continue
        arns = [arn for _, arn in listed_items(bundle, "resourceArns")]
        for arn_index, arn in enumerate(arns):
            if (
                account
                and part_conforms(arn, "#/$defs/bundle/properties/resourceArns/items")
                and arn.split(":")[4] != account
            ):
                problems.append(
                    f"quicksight.bundles[{index}].resourceArns[{arn_index}]: expected a resource of "
                    f"account {account}, got one of account {arn.split(':')[4]}"
                )
        for asset_index, asset in listed_items(bundle, "assets"):
            if isinstance(asset, dict) and asset.get("arn") not in arns:
                problems.append(
                    f"quicksight.bundles[{index}].assets[{asset_index}].arn: expected one of the bundle's "
                    f"resourceArns, got {asset.get('arn')!r}"
                )
        name = _bundle_name(bundle, arns)
        if name is None:
            continue
        if name in seen:
            problems.append(
                f"quicksight.bundles[{index}].name: expected a unique name, {name!r} is also bundles[{seen[name]}]"
            )
        seen.setdefault(name, index)
        if not part_conforms(bundle, "#/$defs/bundle"):
            continue
        # The schema has passed this bundle: the model fills in its omitted options (the schema's defaults).
        request = BundleRequest.model_validate(bundle)
        bundles.append(
            PlannedBundle(
                **request.model_dump(exclude={"name"}),
                item_id=f"bundle/{name}",
                name=name,
                job_id=export_job_id(run.run_id, name),
            )
        )
    discover = section.get("discover") if isinstance(section, dict) else None
    # What to discover is carried to DiscoverAssets as given, its omitted options filled in (the schema's defaults).
    wanted = DiscoverRequest.model_validate(discover) if part_conforms(discover, "#/$defs/discover") else None
    return QuickSightPlan(aws_account_id=account, bundles=bundles, discover=wanted), problems


def cap(listed: str) -> int:
    """The most entries one run takes in ``listed`` (``bundles``, ``sessions``, ``apps``): the schema's ``maxItems``."""
    section = "quicksight" if listed == "bundles" else "qapps"
    limit: int = _validator().schema["$defs"][section]["properties"][listed]["maxItems"]
    return limit


def _rows(section: Any, listed: str, plans: PlanStore | None, *, pointer: str) -> tuple[list[Row], list[str]]:
    """The well-formed entries of ``qapps.<listed>``, inline (the schema named the bad ones) or by reference.

    A list by reference is read line by line, each line checked against the schema's ``pointer`` and named
    by its line; past the cap it is refused, naming its count.
    """
    reference = section.get(f"{listed}Uri") if isinstance(section, dict) else None
    if reference is None:
        return [row for row in inline_rows(section, listed) if part_conforms(row.value, pointer)], []
    field = f"qapps.{listed}Uri"
    if listed in section or not part_conforms(reference, f"#/$defs/qapps/properties/{listed}Uri"):
        return [], []  # the schema's problem (both forms, or a malformed URI), already named: nothing is read
    if plans is None:
        return [], [f"{field}: expected the {listed} inline (lists by reference are read when a run starts)"]
    columns = ("appId", "sessionId") if listed == "sessions" else ("appId",)
    try:
        read = read_list(plans, field, reference, columns=columns, limit=cap(listed))
    except ReferenceProblem as problem:
        return [], [str(problem)]
    lines = list(read.problems)
    rows: list[Row] = []
    for row in read.rows:
        found = input_problems.part_problems(row.value, pointer, _validator(), root=row.field)
        lines.extend((row.line, problem) for problem in found)
        if not found:
            rows.append(row)
    problems = [problem for _, problem in sorted(lines, key=lambda line: line[0])]
    if read.count > cap(listed):
        problems.append(f"{field}: expected at most {cap(listed):,} {listed} per run, got {read.count:,}")
    elif read.count == 0 and not problems:
        problems.append(f"{field}: expected at least one entry, {reference} has none")
    return rows, problems


def _plan_qapps(section: Any, plans: PlanStore | None) -> tuple[QAppsPlan, list[str]]:
    """Plan the sessions and apps that are well-formed, and check them for duplicates wherever they are."""
    session_rows, problems = _rows(section, "sessions", plans, pointer="#/$defs/session")
    sessions: list[PlannedSession] = []
    seen: dict[str, Row] = {}
    for row in session_rows:
        session_id = row.value["sessionId"]
        if session_id in seen:
            problems.append(
                f"{row.field}.sessionId: expected a unique session, {session_id} is also {seen[session_id].short}"
            )
            continue
        seen[session_id] = row
        sessions.append(
            PlannedSession(item_id=f"session/{session_id}", app_id=row.value["appId"], session_id=session_id)
        )
    app_rows, found = _rows(
        section, "apps", plans, pointer="#/$defs/appEntry" if _by_reference(section, "apps") else "#/$defs/appId"
    )
    problems.extend(found)
    listed: dict[str, Row] = {}
    for row in app_rows:
        app_id = row.value["appId"] if isinstance(row.value, dict) else row.value
        if app_id in listed:
            # An inline list's duplicates are the schema's (uniqueItems); a referenced one's are named here.
            problems.append(f"{row.field}.appId: expected a unique app, {app_id} is also {listed[app_id].short}")
        listed.setdefault(app_id, row)
    # The definition of every app that a listed session belongs to is kept beside its data.
    app_ids = list(dict.fromkeys([*listed, *(s.app_id for s in sessions)]))
    if len(app_ids) > cap("apps"):
        problems.append(
            f"qapps: expected at most {cap('apps'):,} app definitions per run (the apps listed and those of the "
            f"sessions), got {len(app_ids):,}"
        )
    apps = [PlannedApp(item_id=f"app/{app_id}", app_id=app_id) for app_id in app_ids]
    instance_id = section.get("instanceId") if isinstance(section, dict) else None
    # A malformed instance is the schema's problem, already named: the plan of the rest leaves it out.
    if not part_conforms(instance_id, "#/$defs/qapps/properties/instanceId"):
        instance_id = None
    discover_apps = isinstance(section, dict) and section.get("discoverApps") is True
    return QAppsPlan(instance_id=instance_id, sessions=sessions, apps=apps, discover_apps=discover_apps), problems


def listed_at_most(problems: list[str]) -> list[str]:
    """The first ``MAX_LISTED_PROBLEMS`` of ``problems``, and how many more there are."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return problems
    rest = len(problems) - MAX_LISTED_PROBLEMS
    return [*problems[:MAX_LISTED_PROBLEMS], f"(document): {rest:,} more problems like these, not listed"]


def _by_reference(section: Any, listed: str) -> bool:
    return isinstance(section, dict) and f"{listed}Uri" in section


def _referenced_document(uri: str, plans: PlanStore | None) -> Any:
    """The document ``planUri`` names, or the refusal naming why it cannot be read."""
    if plans is None:
        raise InvalidRunInputError(
            ["planUri: expected the document inline (plans by reference are read when a run starts)"]
        )
    try:
        return read_document(plans, uri)
    except ReferenceProblem as problem:
        raise InvalidRunInputError([str(problem)]) from None


def plan_run(document: Any, run: RunContext, *, default_account: str, plans: PlanStore | None = None) -> dict[str, Any]:
    """Validate a run's input document and return the plan the workflow carries out.

    A document that names its plan (``planUri``) is replaced by the one it names, and a list by reference
    (``qapps.sessionsUri``, ``qapps.appsUri``) read, both from ``plans`` only. The schema's problems, the
    cross-field ones (an ARN of another account, a name used twice, a bad line of a list) and the caps are
    all reported in one refusal: the checks beyond the schema run on every part that is well-formed.

    Raises
    ------
    InvalidRunInputError
        With every problem found, each naming its field and what was expected.
    """
    if size_problem := input_size_problem(document):
        raise InvalidRunInputError([size_problem])
    problems = schema_problems(document)
    if not problems and "planUri" in document:
        document = _referenced_document(document["planUri"], plans)
        problems = schema_problems(document)
    sections = document if isinstance(document, dict) else {}
    if isinstance(only_changed := sections.get("onlyChanged", True), bool):
        run = run.model_copy(update={"only_changed": only_changed})
    quicksight = QuickSightPlan(aws_account_id=default_account, bundles=[])
    qapps = QAppsPlan(instance_id=None, sessions=[], apps=[])
    if "quicksight" in sections:
        quicksight, found = _plan_quicksight(sections["quicksight"], run, default_account)
        problems.extend(found)
    if "qapps" in sections:
        qapps, found = _plan_qapps(sections["qapps"], plans)
        problems.extend(found)
    if problems:
        raise InvalidRunInputError(listed_at_most(problems))
    return RunPlan(run=run, quicksight=quicksight, qapps=qapps).wire()


def run_items(plan: RunPlan) -> list[tuple[str, PlannedItem]]:
    """Every item a plan archives, each with its kind."""
    return [
        *(("bundle", bundle) for bundle in plan.quicksight.bundles),
        *(("session", session) for session in plan.qapps.sessions),
        *(("app", app) for app in plan.qapps.apps),
    ]
