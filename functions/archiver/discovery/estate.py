"""A run's discovery: what an account and an instance hold, filtered, closed over dependencies, planned.

1. Each requested type is listed (``listing``), and ``include`` / ``exclude`` decide which assets stay
   (``filters``; tags are read only when a filter names tags, and only for assets their ids and names kept).
   An analysis listed as ``DELETED`` (its recovery window) is no longer there to archive.
2. What the kept assets depend on comes with them, whatever its type and the filters: a dashboard's bundle
   restores only where its data sets, data sources and theme exist (``describing``). Dependencies are
   followed to the end, each asset described once, a few at a time.
3. What asset bundles cannot export is left out and recorded, with the reason (``UnsupportedAsset``): data
   sources of the developer guide's unsupported types, data sets QuickSight will not describe (uploaded
   files), any asset whose describe is refused. What depends on them is still archived.
4. The rest is grouped into bundles (``grouping``).

A List call that fails (refused, not busy) is a ``discovery`` failure in the manifest and the rest goes on;
a service still busy after the pacer's retries fails the step, for the state machine's Retry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from archiver.archive.models import (
    DiscoverRequest,
    DiscoveryCounts,
    DiscoveryOutcome,
    DiscoverySource,
    ManifestFailure,
    PlannedApp,
    PlannedBundle,
    RunPlan,
    UnsupportedAsset,
)
from archiver.core.documents import error_record, now
from archiver.core.errors import ArchiverError, ServiceBusyError
from archiver.core.wire import ErrorRecord
from archiver.discovery import filters
from archiver.discovery.describing import DESCRIBED_TYPES, describe, unsupported_type
from archiver.discovery.grouping import Found, plan_bundles
from archiver.discovery.listing import APP_LISTINGS, LISTINGS, Asset, list_app_ids, list_assets, tags_of
from archiver.discovery.pacing import Pacer

# Describe and tag calls in flight at once: a short listing's worth of latency hidden, without
# provoking the throttling QuickSight answers bursts with.
CONCURRENT_READS = 8


@dataclass
class QuickSightFound:
    """What discovery found in one account: the bundles to archive, what it left out, what it could not list."""

    bundles: list[PlannedBundle]
    found: dict[str, int]
    unsupported: list[UnsupportedAsset] = field(default_factory=list)
    failures: list[ManifestFailure] = field(default_factory=list)


@dataclass
class AppsFound:
    apps: list[PlannedApp]
    failures: list[ManifestFailure] = field(default_factory=list)


def _unlisted(error: ArchiverError, *, item_id: str, source: DiscoverySource) -> ManifestFailure:
    """A List call that failed, as the manifest records it: what was not listed and why."""
    if isinstance(error, ServiceBusyError):
        raise error  # the step is retried: a busy service is no reason to archive less
    return ManifestFailure(
        item_id=item_id,
        kind="discovery",
        error=ErrorRecord.model_validate(error_record(type(error).__name__, str(error))),
        source=source,
        at=now(),
    )


class _Account:
    """One account's listings, each made once and only when needed (a dependency's type may not be requested)."""

    def __init__(self, qs: Any, pacer: Pacer, account_id: str) -> None:
        self.qs, self.pacer, self.account_id = qs, pacer, account_id
        self._listed: dict[str, dict[str, Asset]] = {}
        self.failures: list[ManifestFailure] = []

    def of_type(self, asset_type: str) -> dict[str, Asset]:
        if asset_type not in self._listed:
            listing = LISTINGS[asset_type]  # type: ignore[index]  # callers pass listed types only
            try:
                assets = list_assets(self.qs, self.pacer, account_id=self.account_id, listing=listing)
            except ArchiverError as error:
                source = DiscoverySource(
                    service="quicksight", listing=listing.operation, aws_account_id=self.account_id
                )
                self.failures.append(_unlisted(error, item_id=f"discovery/quicksight/{asset_type}", source=source))
                assets = []
            self._listed[asset_type] = {asset.arn: asset for asset in assets}
        return self._listed[asset_type]

    def lookup(self, arn: str) -> Asset | None:
        """The listed asset an ARN names (None: a type discovery does not list, or no longer there)."""
        asset_type = arn.split(":", 5)[-1].split("/", 1)[0]
        return self.of_type(asset_type).get(arn) if asset_type in LISTINGS else None


def _parallel(work: Callable[[Asset], Any], assets: Iterable[Asset]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=CONCURRENT_READS) as pool:
        return list(pool.map(work, assets))


def _selected(account: _Account, request: DiscoverRequest) -> list[Asset]:
    """The listed assets of the requested types that the filters keep."""
    include, exclude = request.include, request.exclude
    named = [
        asset
        for asset_type in request.types
        for asset in account.of_type(asset_type).values()
        if asset.status != "DELETED" and filters.named_in(asset, include, exclude)
    ]
    if not filters.needs_tags(include, exclude):
        return named
    tags = _parallel(lambda asset: tags_of(account.qs, account.pacer, asset), named)
    return [asset for asset, tagged in zip(named, tags, strict=True) if filters.tagged_in(tagged, include, exclude)]


def _closed_over_dependencies(
    account: _Account, selected: list[Asset]
) -> tuple[dict[str, Found], dict[str, UnsupportedAsset]]:
    """The selected assets and everything they depend on, described level by level; what cannot be bundled apart."""
    found: dict[str, Found] = {}
    unsupported: dict[str, UnsupportedAsset] = {}
    level = list({asset.arn: asset for asset in selected}.values())
    while level:
        reasons = [unsupported_type(asset) for asset in level]
        for asset, reason in zip(level, reasons, strict=True):
            if reason:
                unsupported[asset.arn] = UnsupportedAsset(
                    arn=asset.arn, type=asset.type, name=asset.name, reason=reason
                )
        bundlable = [asset for asset, reason in zip(level, reasons, strict=True) if not reason]
        described = _parallel(
            lambda asset: (
                describe(account.qs, account.pacer, account_id=account.account_id, asset=asset)
                if asset.type in DESCRIBED_TYPES
                else None
            ),
            bundlable,
        )
        needed: dict[str, Asset] = {}
        for asset, answer in zip(bundlable, described, strict=True):
            if answer is not None and answer.refused:
                reason = f"QuickSight refused to describe it, so asset bundles cannot export it: {answer.refused}"
                unsupported[asset.arn] = UnsupportedAsset(
                    arn=asset.arn, type=asset.type, name=asset.name, reason=reason
                )
                continue
            if answer is None and asset.type in DESCRIBED_TYPES:
                continue  # deleted since it was listed: nothing left to archive
            dependencies = answer.dependencies if answer is not None else ()
            found[asset.arn] = Found(asset, dependencies)
            for arn in dependencies:
                dependency = account.lookup(arn)
                if dependency and arn not in found and arn not in unsupported:
                    needed[arn] = dependency
        level = [asset for arn, asset in needed.items() if arn not in found and arn not in unsupported]
    # A bundle's dependencies are what other bundles of the plan hold: restore those first.
    return {
        arn: Found(item.asset, tuple(d for d in item.dependencies if d in found)) for arn, item in found.items()
    }, unsupported


def discover_quicksight(
    qs: Any, pacer: Pacer, *, account_id: str, request: DiscoverRequest, run_id: str, taken: set[str]
) -> QuickSightFound:
    """Discover what ``request`` asks for in ``account_id`` and plan its bundles (named apart from ``taken``)."""
    account = _Account(qs, pacer, account_id)
    found, unsupported = _closed_over_dependencies(account, _selected(account, request))
    bundles = plan_bundles(list(found.values()), run_id=run_id, request=request, taken=taken)
    counts = Counter(item.asset.type for item in found.values())
    return QuickSightFound(
        bundles=bundles,
        found=dict(sorted(counts.items())),
        unsupported=sorted(unsupported.values(), key=lambda asset: asset.arn),
        failures=account.failures,
    )


def discover_apps(qapps: Any, pacer: Pacer, *, instance_id: str, listed: Iterable[str]) -> AppsFound:
    """The apps the archive user sees (its own: ListQApps; the library's: ListLibraryItems) but those ``listed``."""
    seen = dict.fromkeys(listed)
    apps: dict[str, None] = {}
    failures: list[ManifestFailure] = []
    for operation in APP_LISTINGS:
        try:
            ids = list_app_ids(qapps, pacer, instance_id=instance_id, operation=operation)
        except ArchiverError as error:
            source = DiscoverySource(service="qapps", listing=operation, instance_id=instance_id)
            failures.append(_unlisted(error, item_id=f"discovery/qapps/{operation}", source=source))
            continue
        apps.update(dict.fromkeys(app_id for app_id in ids if app_id not in seen))
    return AppsFound(apps=[PlannedApp(item_id=f"app/{app_id}", app_id=app_id) for app_id in apps], failures=failures)


def discover_run(
    plan: RunPlan, *, quicksight: Callable[[], Any], qapps: Callable[[], Any], pacer: Pacer
) -> tuple[RunPlan, DiscoveryOutcome]:
    """The plan with what its discovery found added after the items it lists, and what the manifest records of it.

    The clients are made only for the service the plan discovers in.
    """
    qs_plan, qa_plan = plan.quicksight, plan.qapps
    bundles, apps, found = list(qs_plan.bundles), list(qa_plan.apps), {}
    unsupported: list[UnsupportedAsset] = []
    failures: list[ManifestFailure] = []
    if qs_plan.discover is not None and qs_plan.aws_account_id is not None:
        estate = discover_quicksight(
            quicksight(),
            pacer,
            account_id=qs_plan.aws_account_id,
            request=qs_plan.discover,
            run_id=plan.run.run_id,
            taken={bundle.name for bundle in bundles},
        )
        bundles += estate.bundles
        found, unsupported, failures = estate.found, estate.unsupported, estate.failures
    added_apps = 0
    if qa_plan.discover_apps and qa_plan.instance_id is not None:
        visible = discover_apps(qapps(), pacer, instance_id=qa_plan.instance_id, listed=(a.app_id for a in apps))
        apps += visible.apps
        added_apps, failures = len(visible.apps), [*failures, *visible.failures]
    discovered = plan.model_copy(
        update={
            "quicksight": qs_plan.model_copy(update={"bundles": bundles}),
            "qapps": qa_plan.model_copy(update={"apps": apps}),
        }
    )
    outcome = DiscoveryOutcome(
        counts=DiscoveryCounts(found=found, bundles=len(bundles) - len(qs_plan.bundles), apps=added_apps),
        unsupported=unsupported,
        failures=failures,
        at=now(),
    )
    return discovered, outcome
