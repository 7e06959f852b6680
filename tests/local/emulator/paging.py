"""List calls' pages: ``MaxResults`` (or ``limit``) items at a time, and an opaque token for the next page.

A token names the last item of its page (by the list's sort key), not an offset, so an item added or
deleted between two pages neither repeats nor skips another; a token of another operation is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

SortKey = tuple[float, str]
# Most List calls of both services take 1 to 100 items a page (botocore checks only the minimum).
MAX_PAGE = 100


def page_size(value: Any, *, refuse: Callable[[str], Exception], wire_name: str) -> int:
    """The page size asked for (``MAX_PAGE`` when not given), refused as the service refuses it when out of range."""
    if value is None:
        return MAX_PAGE
    if not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise refuse(
            f"1 validation error detected: Value '{value}' at '{wire_name}' failed to satisfy constraint: "
            f"Member must have value between 1 and {MAX_PAGE}"
        )
    return value


def _token(operation: str, after: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps([operation, *after]).encode()).decode()


def _after(operation: str, token: str | None, refuse: Callable[[], Exception]) -> SortKey | None:
    if token is None:
        return None
    try:
        named, key, item = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, TypeError):
        named = None
    if named != operation:
        raise refuse()
    return float(key), str(item)


def page(
    operation: str,
    items: Iterable[tuple[SortKey, dict[str, Any]]],
    *,
    size: int,
    token: str | None,
    refuse_token: Callable[[], Exception],
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``items`` (each with its sort key), and the token of the next page (None on the last)."""
    after = _after(operation, token, refuse_token)
    ordered = sorted((item for item in items if after is None or item[0] > after), key=lambda item: item[0])
    chosen = ordered[:size]
    return [summary for _, summary in chosen], (_token(operation, chosen[-1][0]) if len(ordered) > size else None)
