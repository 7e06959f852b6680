"""Which listed assets a ``discover`` keeps: ``include`` narrows, ``exclude`` takes away.

An asset is included when it meets every criterion ``include`` gives (its id matches one of ``ids``, its
name one of ``names``, and it carries every tag of ``tags``); an empty ``include`` includes everything. It is
excluded when it meets any criterion ``exclude`` gives (an id glob, a name glob, or one of the tags). Ids and
names are matched as globs (``*``, ``?``, ``[...]``), case-sensitively; a tag's value is a glob too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from archiver.archive.models import AssetFilter
from archiver.discovery.listing import Asset


def _any(value: str, globs: Iterable[str]) -> bool:
    return any(fnmatchcase(value, glob) for glob in globs)


def _tagged(tags: Mapping[str, str], key: str, glob: str) -> bool:
    return key in tags and fnmatchcase(tags[key], glob)


def needs_tags(include: AssetFilter, exclude: AssetFilter) -> bool:
    """Whether deciding takes each asset's tags (a ListTagsForResource call per asset)."""
    return bool(include.tags or exclude.tags)


def named_in(asset: Asset, include: AssetFilter, exclude: AssetFilter) -> bool:
    """What ids and names decide alone: False when they leave the asset out, whatever its tags."""
    if include.ids and not _any(asset.id, include.ids):
        return False
    if include.names and not _any(asset.name, include.names):
        return False
    return not (_any(asset.id, exclude.ids) or _any(asset.name, exclude.names))


def tagged_in(tags: Mapping[str, str], include: AssetFilter, exclude: AssetFilter) -> bool:
    """What the tags decide, for an asset its ids and names kept."""
    if not all(_tagged(tags, key, glob) for key, glob in include.tags.items()):
        return False
    return not any(_tagged(tags, key, glob) for key, glob in exclude.tags.items())
