"""The local engine's workarounds for moto: a Map Run of any size, each item evaluated and closed once."""

from __future__ import annotations

import sys
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as distributed_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool

from tests.local.engine import flat_cost_per_item


class Frame:
    """An environment frame: counts what is opened and deleted."""

    def __init__(self, opened: list[Frame]) -> None:
        self._opened = opened
        self.deleted: list[Frame] = []

    def open_inner_frame(self) -> Frame:
        frame = Frame(self._opened)
        self._opened.append(frame)
        return frame

    def delete_frame(self, frame: Frame) -> None:
        self.deleted.append(frame)


class Worker:
    """What moto's Distributed Map worker's ``_eval_pool`` uses of itself."""

    def __init__(self, pool: JobPool) -> None:
        self._job_pool = pool
        self.opened: list[Frame] = []
        self._env = Frame(self.opened)
        self.evaluated: list[int] = []

    def _eval_job(self, env: Frame, job: Any) -> None:
        self.evaluated.append(job.job_index)
        job.job_output = {"index": job.job_index}

    def stopped(self) -> bool:
        return False

    def _eval_pool(self, job: Any, worker_frame: Frame) -> None:
        # moto's worker calls itself for its next item: the class's method, whichever is in place.
        distributed_worker.DistributedItemProcessorWorker._eval_pool(self, job, worker_frame)  # type: ignore[arg-type]


def test_a_worker_runs_more_items_than_pythons_recursion_limit_each_once() -> None:
    items = 3 * sys.getrecursionlimit()  # 10,000 sessions, 10 at a time, are 1,000 items a worker
    pool = JobPool(job_program=None, job_inputs=list(range(items)))  # type: ignore[arg-type]
    worker = Worker(pool)

    with flat_cost_per_item():
        worker._eval_pool(pool.next_job(), worker._env)

    assert worker.evaluated == list(range(items))
    assert [job.job_index for job in pool.get_closed_jobs()] == list(range(items))
    assert worker._env.deleted[-1] is worker._env  # the worker's own frame closes once, after its last item
    assert worker._env.deleted.count(worker._env) == 1
    assert len(worker.opened) == items
    assert {id(frame) for frame in worker.opened} <= {id(frame) for frame in worker._env.deleted}
