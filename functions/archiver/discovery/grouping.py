"""Discovered assets into bundles: each dashboard and analysis alone, what they share in small stable groups.

- A dashboard or an analysis is a bundle of its own, without ``IncludeAllDependencies``: it restores from
  that bundle alone, and the data sets, data sources and theme it shares with others are not exported
  again with each of them.
- Data sources, data sets, themes and folders are bundled by type, in groups of about
  :data:`AVERAGE_GROUP_SIZE` (never more than :data:`MAX_BUNDLE_ARNS`, a job's limit). A group ends at each
  asset whose ARN hashes to a boundary (one in ``AVERAGE_GROUP_SIZE``), in id order, the last group
  wrapping round to the first boundary: an asset added or removed changes only the group it falls in
  (a new boundary splits one group in two), so when one data set changes, one small group is exported
  again, not all of them. A group is named after the asset that ends it.
- Each bundle carries its assets' fingerprints (``assets``) and what they need from other bundles
  (``dependencies``): restore those bundles first (data sources, then data sets, themes, then dashboards
  and analyses, then folders: the order the plan lists them in).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archiver.archive.models import DiscoverRequest, PlannedBundle
from archiver.archive.run_input import export_job_id, readable_bundle_name
from archiver.discovery.listing import Asset

# About 32 assets a group: a first run of 2,000 data sets takes some 60 export jobs (QuickSight runs 5 at a
# time, each some minutes whatever its size), and a changed data set later costs one job all the same.
AVERAGE_GROUP_SIZE = 32
MAX_BUNDLE_ARNS = 100
OWN_BUNDLE_TYPES = ("dashboard", "analysis")
# Shared groups by type, in the order a restore needs them (folders last: their members come first).
GROUPS_BEFORE = ("datasource", "dataset", "theme")
GROUPS_AFTER = ("folder",)


@dataclass(frozen=True)
class Found:
    """A discovered asset to archive, and what it depends on (ARNs of its account)."""

    asset: Asset
    dependencies: tuple[str, ...] = ()


def _ends_a_group(arn: str) -> bool:
    return int(hashlib.sha256(arn.encode()).hexdigest()[:8], 16) % AVERAGE_GROUP_SIZE == 0


def groups(found: Sequence[Found]) -> list[list[Found]]:
    """``found`` (of one type) cut into stable groups of about AVERAGE_GROUP_SIZE, none over MAX_BUNDLE_ARNS."""
    ordered = sorted(found, key=lambda item: item.asset.id)
    ends = [index for index, item in enumerate(ordered) if _ends_a_group(item.asset.arn)]
    if not ends:
        cut = [ordered] if ordered else []
    else:
        # The assets after the last boundary wrap round into the first group: every group ends at a boundary.
        cut = [ordered[ends[-1] + 1 :] + ordered[: ends[0] + 1]]
        cut += [ordered[start + 1 : end + 1] for start, end in itertools.pairwise(ends)]
    return [group[i : i + MAX_BUNDLE_ARNS] for group in cut for i in range(0, len(group), MAX_BUNDLE_ARNS)]


def _planned(name: str, members: Sequence[Found], *, run_id: str, request: DiscoverRequest) -> PlannedBundle:
    arns = [member.asset.arn for member in members]
    needed = {arn for member in members for arn in member.dependencies} - set(arns)
    return PlannedBundle(
        item_id=f"bundle/{name}",
        name=name,
        job_id=export_job_id(run_id, name),
        resource_arns=arns,
        export_format=request.export_format,
        include_all_dependencies=False,
        include_permissions=request.include_permissions,
        include_tags=request.include_tags,
        strict_validation=request.strict_validation,
        assets=[member.asset.fingerprint() for member in members],
        dependencies=sorted(needed),
    )


def _unique(name: str, arns: Iterable[str], taken: set[str]) -> str:
    """``name``, or (taken already, by a bundle of the input) one made distinct by what the bundle holds."""
    while name in taken:
        name = readable_bundle_name(name, "\n".join([name, *arns]))
    taken.add(name)
    return name


def plan_bundles(
    found: Sequence[Found], *, run_id: str, request: DiscoverRequest, taken: set[str]
) -> list[PlannedBundle]:
    """The bundles that archive ``found``, named apart from ``taken`` (the names already in the plan)."""
    by_type: dict[str, list[Found]] = {}
    for item in found:
        by_type.setdefault(item.asset.type, []).append(item)
    planned: list[PlannedBundle] = []

    def add(readable: str, members: Sequence[Found]) -> None:
        arns = [member.asset.arn for member in members]
        name = _unique(readable_bundle_name(readable, members[-1].asset.arn), arns, taken)
        planned.append(_planned(name, members, run_id=run_id, request=request))

    for kind in GROUPS_BEFORE:
        for group in groups(by_type.get(kind, [])):
            add(f"{kind}-group-{group[-1].asset.id}", group)
    for kind in OWN_BUNDLE_TYPES:
        for item in sorted(by_type.get(kind, []), key=lambda item: item.asset.id):
            add(f"{kind}-{item.asset.id}", [item])
    for kind in GROUPS_AFTER:
        for group in groups(by_type.get(kind, [])):
            add(f"{kind}-group-{group[-1].asset.id}", group)
    return planned
