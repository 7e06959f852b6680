"""An export or import job is polled with a growing wait, and given up on at the deadline, the same way."""

from __future__ import annotations

import pytest

from archiver.core.errors import BundleExportTimedOutError, BundleImportTimedOutError
from archiver.core.job_polls import first_poll, next_poll
from archiver.core.settings import Settings

SETTINGS = Settings(
    archive_bucket="archive",
    default_account_id="123456789012",
    download_allowlist="https://*.amazonaws.com",
    part_size_bytes=8 * 1024 * 1024,
    max_parts_in_flight=2,
    max_link_refreshes=3,
    connect_timeout_seconds=10.0,
    read_timeout_seconds=60.0,
    poll_initial_seconds=5,
    poll_max_seconds=60,
    export_deadline_seconds=600,
    plans_prefix="plans/",
)


@pytest.mark.parametrize(
    ("kind", "timed_out"), [("export", BundleExportTimedOutError), ("import", BundleImportTimedOutError)]
)
def test_a_running_job_is_polled_ever_more_slowly_until_the_deadline(kind: str, timed_out: type[Exception]) -> None:
    # Given a job just started
    poll = first_poll(job_id="run-1-finance", job_arn="arn:job", settings=SETTINGS)
    assert (poll["status"], poll["waitSeconds"], poll["waitedSeconds"]) == ("STARTED", 5, 0)

    # When it stays running, poll after poll
    waits = []
    with pytest.raises(timed_out) as raised:
        while True:
            waits.append(poll["waitSeconds"])
            poll = next_poll(
                poll, status="IN_PROGRESS", running=True, settings=SETTINGS, timed_out=timed_out, job_kind=kind
            )

    # Then each wait doubles up to the cap, and the poll whose waits reach the deadline gives up, naming the job
    assert waits[:6] == [5, 10, 20, 40, 60, 60]
    assert sum(waits) >= SETTINGS.export_deadline_seconds > sum(waits[:-1])
    assert str(raised.value) == f"{kind} job run-1-finance still IN_PROGRESS after {sum(waits)} s (deadline 600 s)"


def test_a_job_that_ended_at_the_deadline_is_not_given_up_on() -> None:
    # Given a poll whose next wait reaches the deadline
    poll = {**first_poll(job_id="j", job_arn="arn:job", settings=SETTINGS), "waitedSeconds": 590, "waitSeconds": 60}

    # When that describe finds the job finished
    polled = next_poll(
        poll, status="SUCCESSFUL", running=False, settings=SETTINGS, timed_out=BundleExportTimedOutError, job_kind="x"
    )

    # Then it is reported as it is, with the time waited
    assert (polled["status"], polled["waitedSeconds"], polled["jobArn"]) == ("SUCCESSFUL", 650, "arn:job")
