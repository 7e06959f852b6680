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
from archiver.core import input_problems, layout
from archiver.core.errors import InvalidRunInputError
from archiver.core.input_problems import listed_items

SCHEMA_PATH = Path(__file__).parents[1] / "schema" / "run-input.schema.json"

# Step Functions keeps at most 25,000 events in an execution's history, and every inline Map
# iteration lands in it: a plan that would overflow it must be split before it starts, not die
# halfway without a manifest. Costs measured on the synthesized workflow (a workflow test keeps
# them honest); polls assume exports that finish within ten minutes, and the budget leaves the
# rest of the 25,000 for retries and slower exports.
HISTORY_EVENT_BUDGET = 20_000
EVENTS_PER_RUN = 60
EVENTS_PER_QAPPS_ITEM = 12
# A bundle: its Map iteration (2 events), the start and the archive steps (5 each), the Choice on the
# start's status (2); each poll a Wait (2), a check (5) and that Choice again (2). A bundle the run
# already archived ends after the start and the Choice (11 events): within the estimate.
EVENTS_PER_BUNDLE_POLL = 9
EVENTS_PER_BUNDLE = 14 + EVENTS_PER_BUNDLE_POLL * 13
BUNDLE_NAME_MAX = 64
# Step Functions refuses an execution input over 256 KiB (UTF-8) at StartExecution, so a bigger
# document never reaches ValidateRun; the local runner and plan_run check it themselves.
MAX_INPUT_BYTES = 256 * 1024
# The same limit holds for every state's input and output, and the plan is bigger than the
# document (defaults, item and job ids) and carried whole until the manifest is written: a plan
# over it would die with States.DataLimitExceeded, which no Catch can handle, and leave no manifest.
MAX_STATE_BYTES = 256 * 1024
# What WriteManifest's state adds to the plan, at most: a Catch's {Error, Cause} (Step Functions
# keeps a cause up to 32,768 characters; a Lambda error's cause is JSON, whose quotes are escaped
# again in the state, so up to 2 bytes each) and the run's summary (a run id of up to 80 characters,
# a bucket name of up to 63, counts).
RUN_ADDITIONS_BYTES = 2 * 32_768 + 2_048
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
        "split it into several runs"
    )


def parse_run_input(text: str) -> Any:
    """Read a run input document from JSON text, refusing empty, non-JSON and oversized text.

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
    if problem := input_size_problem(document):
        raise InvalidRunInputError([problem])
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


def _plan_qapps(section: Any) -> tuple[QAppsPlan, list[str]]:
    """Plan the sessions and apps that are well-formed, and check sessions for duplicates wherever they are."""
    problems: list[str] = []
    sessions: list[PlannedSession] = []
    seen: dict[str, int] = {}
    for index, session in listed_items(section, "sessions"):
        if not part_conforms(session, "#/$defs/session"):
            continue
        session_id = session["sessionId"]
        if session_id in seen:
            problems.append(
                f"qapps.sessions[{index}].sessionId: expected a unique session, "
                f"{session_id} is also sessions[{seen[session_id]}]"
            )
            continue
        seen[session_id] = index
        sessions.append(PlannedSession(item_id=f"session/{session_id}", app_id=session["appId"], session_id=session_id))
    listed = [app_id for _, app_id in listed_items(section, "apps") if part_conforms(app_id, "#/$defs/appId")]
    # The definition of every app that a listed session belongs to is kept beside its data.
    app_ids = list(dict.fromkeys([*listed, *(s.app_id for s in sessions)]))
    apps = [PlannedApp(item_id=f"app/{app_id}", app_id=app_id) for app_id in app_ids]
    instance_id = section.get("instanceId") if isinstance(section, dict) else None
    # A malformed instance is the schema's problem, already named: the plan of the rest leaves it out.
    if not part_conforms(instance_id, "#/$defs/qapps/properties/instanceId"):
        instance_id = None
    discover_apps = isinstance(section, dict) and section.get("discoverApps") is True
    return QAppsPlan(instance_id=instance_id, sessions=sessions, apps=apps, discover_apps=discover_apps), problems


def plan_run(document: Any, run: RunContext, *, default_account: str) -> dict[str, Any]:
    """Validate a run's input document and return the plan the workflow carries out.

    The schema's problems, the cross-field ones (an ARN of another account, a name used twice) and
    the plan's limits are all reported in one refusal: the checks beyond the schema run on every
    part that is well-formed, and the limits on the plan of those parts (what the whole document
    would plan is at least that big).

    Raises
    ------
    InvalidRunInputError
        With every problem found, each naming its field and what was expected.
    """
    if size_problem := input_size_problem(document):
        raise InvalidRunInputError([size_problem])
    problems = schema_problems(document)
    sections = document if isinstance(document, dict) else {}
    quicksight = QuickSightPlan(aws_account_id=default_account, bundles=[])
    qapps = QAppsPlan(instance_id=None, sessions=[], apps=[])
    if "quicksight" in sections:
        quicksight, found = _plan_quicksight(sections["quicksight"], run, default_account)
        problems.extend(found)
    if "qapps" in sections:
        qapps, found = _plan_qapps(sections["qapps"])
        problems.extend(found)
    # The plan's limits are measured on the JSON the state machine carries: that is what plan_run returns.
    plan = RunPlan(run=run, quicksight=quicksight, qapps=qapps).wire()
    problems.extend(plan_limit_problems(plan))
    if problems:
        raise InvalidRunInputError(problems)
    return plan


def plan_limit_problems(plan: dict[str, Any]) -> list[str]:
    """What makes a plan too big for one execution: its history, or the state the workflow carries."""
    problems = []
    estimate = estimated_history_events(plan["quicksight"], plan["qapps"])
    if estimate > HISTORY_EVENT_BUDGET:
        problems.append(
            f"(document): expected a plan one run can hold (about {HISTORY_EVENT_BUDGET:,} history events), "
            f"this one needs about {estimate:,}: split it into several runs"
        )
    carried = largest_state_bytes(plan)
    if carried > MAX_STATE_BYTES:
        problems.append(
            f"(document): expected a plan whose largest state fits Step Functions' {MAX_STATE_BYTES:,}-byte "
            f"limit, this one carries {carried:,} bytes (a plan of {_serialized_size(plan):,} and what the "
            "run adds to it): split it into several runs, with fewer or smaller bundles, sessions or apps each"
        )
    return problems


def _serialized_size(value: Any) -> int:
    """How many bytes Step Functions counts for ``value``: its compact JSON, UTF-8 encoded."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def largest_state_bytes(plan: dict[str, Any]) -> int:
    """The largest state payload an archive run of ``plan`` carries (see ``infra/archive/workflow.py``).

    ValidateRun's result is the plan, every branch and Map of ArchiveItems gets it whole, and
    WriteManifest's state is the plan plus ``summary`` and, when a branch failed as a whole,
    ``runError``. The item iterations carry one item each, far less.
    """
    return _serialized_size(plan) + RUN_ADDITIONS_BYTES


def estimated_history_events(quicksight: dict[str, Any], qapps: dict[str, Any]) -> int:
    """How many execution history events a plan is expected to use."""
    return (
        EVENTS_PER_RUN
        + EVENTS_PER_BUNDLE * len(quicksight["bundles"])
        + EVENTS_PER_QAPPS_ITEM * (len(qapps["sessions"]) + len(qapps["apps"]))
    )


def run_items(plan: RunPlan) -> list[tuple[str, PlannedItem]]:
    """Every item a plan archives, each with its kind."""
    return [
        *(("bundle", bundle) for bundle in plan.quicksight.bundles),
        *(("session", session) for session in plan.qapps.sessions),
        *(("app", app) for app in plan.qapps.apps),
    ]
