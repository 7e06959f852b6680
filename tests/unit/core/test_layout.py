"""Job ids and archive keys: one (run, item) pair, one job and one key, never another run's."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.archive.run_input import export_job_id
from archiver.core import layout
from archiver.restore.request import import_job_id

ACCOUNT = "123456789012"
INSTANCE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
APP = "3f1c6a52-8d4e-4b7a-9c2d-1e5f7a9b0c31"
SESSION = "7a2b9c4d-1e3f-4a5b-8c6d-2e4f6a8b0c11"
# QuickSight's own constraint on export job ids, from botocore's model.
JOB_ID_SHAPE = (
    botocore.session.get_session()
    .get_service_model("quicksight")
    .operation_model("StartAssetBundleExportJob")
    .input_shape.members["AssetBundleExportJobId"]
    .metadata
)
# Its \w is ASCII: a job id with other letters is refused.
ASCII_PATTERN = JOB_ID_SHAPE["pattern"].replace(r"\w", "A-Za-z0-9_")
JOB_ID = re.compile(f"^(?:{ASCII_PATTERN})$")

# Step Functions execution names (the run id): 1 to 80 characters, none of whitespace, brackets,
# wildcards, the special characters below or control characters; other Unicode is allowed.
run_ids = st.text(
    alphabet=st.characters(
        blacklist_categories=["Cc", "Cs", "Zs", "Zl", "Zp"], blacklist_characters=' <>{}[]?*"#%\\^|~`$&,;:/'
    ),
    min_size=1,
    max_size=80,
)
bundle_names = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


def bundle_key(run_id: str, name: str) -> str:
    job_id = export_job_id(run_id, name)
    return layout.bundle_key(
        account_id=ACCOUNT, bundle_name=name, run_date="2026-11-22", job_id=job_id, export_format="QUICKSIGHT_JSON"
    )


def run_keys(run_id: str) -> set[str]:
    """Every key that names the run: its manifest, an item's outcome, a session's data."""
    return {
        layout.manifest_key(run_id),
        layout.outcome_key(run_id, f"session/{SESSION}"),
        layout.session_key(instance_id=INSTANCE, app_id=APP, session_id=SESSION, run_date="2026-11-22", run_id=run_id),
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [(("daily", "eu-finance"), ("daily-eu", "finance")), (("nightly.7", "finance"), ("nightly-7", "finance"))],
    ids=["split-differently", "sanitized-alike"],
)
def test_runs_whose_ids_and_names_read_alike_get_their_own_jobs_and_keys(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert export_job_id(*first) != export_job_id(*second)
    assert bundle_key(*first) != bundle_key(*second)
    # And the id still reads as the run and the bundle
    assert export_job_id(*first).startswith("daily-eu-finance-" if first[0] == "daily" else "nightly-7-finance-")


def test_restores_whose_ids_read_alike_get_their_own_import_jobs() -> None:
    assert import_job_id("drill.1", 0) != import_job_id("drill-1", 0)


@settings(max_examples=500, deadline=None)
@given(first=st.tuples(run_ids, bundle_names), second=st.tuples(run_ids, bundle_names))
def test_distinct_runs_and_bundles_never_share_a_job_id_or_a_key(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    for run_id, name in (first, second):
        job_id = export_job_id(run_id, name)
        assert JOB_ID.match(job_id), job_id
        assert JOB_ID_SHAPE["min"] <= len(job_id) <= JOB_ID_SHAPE["max"]
        assert export_job_id(run_id, name) == job_id  # a retried start asks for the same job
    if first != second:
        assert export_job_id(*first) != export_job_id(*second)
        assert bundle_key(*first) != bundle_key(*second)
    if first[0] != second[0]:
        assert not run_keys(first[0]) & run_keys(second[0])
