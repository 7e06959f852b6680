"""Subject ids: which thing an entry is a version of, key-safe (``archiver.core.layout.subject_part``)."""

from __future__ import annotations

from archiver.core.layout import subject_part

ASSET_PREFIX = "quicksight/"


def asset_type_and_id(arn: str) -> tuple[str, str]:
    """A QuickSight ARN's resource type and id (``arn:…:dashboard/sales`` -> ``dashboard``, ``sales``)."""
    resource = arn.split(":", 5)[-1]
    resource_type, _, resource_id = resource.partition("/")
    if not resource_id:
        raise ValueError(f"not a QuickSight resource ARN: {arn!r}")
    return resource_type, resource_id


def subject_of_asset(account_id: str, arn: str) -> str:
    """``quicksight/{account}/{type}/{asset id}``."""
    resource_type, resource_id = asset_type_and_id(arn)
    return f"{ASSET_PREFIX}{subject_part(account_id)}/{subject_part(resource_type)}/{subject_part(resource_id)}"


def subject_of_bundle(name: str) -> str:
    """``bundle/{bundle name}``."""
    return f"bundle/{subject_part(name)}"


def subject_of_session(session_id: str) -> str:
    """``session/{session id}``."""
    return f"session/{subject_part(session_id)}"


def subject_of_app(app_id: str) -> str:
    """``app/{app id}``."""
    return f"app/{subject_part(app_id)}"
