"""EventBridge's pattern matching, for the operators the stack's rules use (and no others).

moto's events engine does not know ``prefix`` with ``equals-ignore-case``; this matcher refuses any
operator it does not implement, so a rule that grows one fails its test rather than passing it unread.
"""

from __future__ import annotations

from typing import Any


def _matches_value(condition: Any, value: Any) -> bool:
    if isinstance(condition, str | int | float | bool) or condition is None:
        return bool(condition == value)
    if isinstance(condition, dict) and set(condition) == {"prefix"}:
        prefix = condition["prefix"]
        if isinstance(prefix, str):
            return isinstance(value, str) and value.startswith(prefix)
        if isinstance(prefix, dict) and set(prefix) == {"equals-ignore-case"}:
            return isinstance(value, str) and value.lower().startswith(prefix["equals-ignore-case"].lower())
    raise ValueError(f"operator not implemented here: {condition!r}")


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern``: each field has a condition its value (or one of its items) meets."""
    for field, condition in pattern.items():
        if isinstance(condition, dict):
            if not isinstance(event.get(field), dict) or not matches(condition, event[field]):
                return False
            continue
        value = event.get(field)
        values = value if isinstance(value, list) else [value]
        if not any(_matches_value(c, v) for c in condition for v in values):
            return False
    return True
