"""A QuickSight estate for discovery runs: data sources, data sets shared by dashboards and analyses, themes.

One shape at any size (:class:`EstateShape`): each data set reads one data source (round-robin), each
dashboard shows two data sets and a theme, each analysis one data set; optionally a data source of a type
asset bundles cannot export (Salesforce) with a data set on it, and a data set made from an uploaded file,
used by the first dashboard. Used by the demo, the discovery tests and the 2,000-asset run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.local.emulator import ServiceEmulator

ACCOUNT = "123456789012"
REGION = "us-east-1"


def arn(resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:quicksight:{REGION}:{account}:{resource}"


@dataclass(frozen=True)
class EstateShape:
    sources: int = 4
    data_sets: int = 12
    themes: int = 2
    dashboards: int = 12
    analyses: int = 8
    # A Salesforce data source (and a data set on it), and an uploaded file's data set: both unsupported.
    unsupported: bool = True


@dataclass
class Estate:
    """What was seeded: every ARN by type, and those asset bundles cannot export."""

    by_type: dict[str, list[str]] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)

    @property
    def arns(self) -> list[str]:
        return sorted(a for arns in self.by_type.values() for a in arns)

    @property
    def exportable(self) -> list[str]:
        return sorted(set(self.arns) - set(self.unsupported))

    def add(self, emulator: ServiceEmulator, asset_type: str, asset_id: str, **options: object) -> str:
        resource = arn(f"{asset_type}/{asset_id}")
        emulator.add_quicksight_resource(resource, **options)  # type: ignore[arg-type]
        self.by_type.setdefault(asset_type, []).append(resource)
        return resource


def seed_estate(emulator: ServiceEmulator, shape: EstateShape = EstateShape()) -> Estate:
    """Register an estate of ``shape`` in the emulator's account; return what it holds."""
    estate = Estate()
    sources = [estate.add(emulator, "datasource", f"src-{n:04d}", name=f"Warehouse {n}") for n in range(shape.sources)]
    data_sets = [
        estate.add(emulator, "dataset", f"ds-{n:04d}", name=f"Data set {n}", dependencies=[sources[n % len(sources)]])
        for n in range(shape.data_sets)
    ]
    themes = [estate.add(emulator, "theme", f"theme-{n:02d}", name=f"Theme {n}") for n in range(shape.themes)]
    if shape.unsupported:
        crm = estate.add(emulator, "datasource", "crm", name="CRM", data_source_type="SALESFORCE")
        upload = estate.add(emulator, "dataset", "uploaded-sheet", name="Uploaded sheet", file_upload=True)
        on_crm = estate.add(emulator, "dataset", "crm-accounts", name="CRM accounts", dependencies=[crm])
        estate.unsupported += [crm, upload]
        data_sets = [on_crm, upload, *data_sets]
    for n in range(shape.dashboards):
        uses = [data_sets[n % len(data_sets)], data_sets[(n + 1) % len(data_sets)], themes[n % len(themes)]]
        estate.add(emulator, "dashboard", f"dash-{n:04d}", name=f"Dashboard {n}", dependencies=uses)
    for n in range(shape.analyses):
        estate.add(
            emulator,
            "analysis",
            f"analysis-{n:04d}",
            name=f"Analysis {n}",
            dependencies=[data_sets[-1 - n % len(data_sets)]],
        )
    return estate
