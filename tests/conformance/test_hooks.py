"""Lifecycle hooks run around every attempt and around the worker's life."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import (
    JobContext,
    JobFailedError,
    JobReport,
    Queue,
    SerializationError,
    Worker,
    WorkerHooks,
)

from .helpers import FAST


class Recorder(WorkerHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def on_worker_start(self, worker: Worker) -> None:
        self.calls.append(("start", None))

    async def on_worker_stop(self, worker: Worker) -> None:
        self.calls.append(("stop", None))

    async def before_job(self, job: JobContext[Any]) -> None:
        self.calls.append(("before", job.id))

    async def after_job(self, job: JobContext[Any], report: JobReport) -> None:
        self.calls.append(("after", (job.id, report.status, report.result, type(report.error))))


class Broken(WorkerHooks):
    async def before_job(self, job: JobContext[Any]) -> None:
        raise RuntimeError("hook bug")


async def test_hooks_see_every_attempt_and_a_broken_hook_is_ignored(queue: Queue) -> None:
    @queue.job()
    async def flaky(job: JobContext[int]) -> int:
        if job.attempts_made == 0:
            raise ValueError("first try fails")
        return job.data

    recorder = Recorder()
    job = await queue.add("flaky", 5, attempts=2)
    async with Worker(queue, settings=FAST, hooks=[Broken(), recorder]):
        assert await job.wait(10) == 5
    assert recorder.calls[0] == ("start", None)
    assert recorder.calls[-1] == ("stop", None)
    middle = recorder.calls[1:-1]
    assert middle == [
        ("before", job.id),
        ("after", (job.id, "retrying", None, ValueError)),
        ("before", job.id),
        ("after", (job.id, "completed", 5, type(None))),
    ]


async def test_a_result_that_cannot_be_stored_is_reported_as_a_failure(queue: Queue) -> None:
    @queue.job()
    async def nan(job: JobContext[None]) -> float:
        return float("nan")

    recorder = Recorder()
    job = await queue.add("nan", None, attempts=3)
    async with Worker(queue, settings=FAST, hooks=[recorder]):
        with pytest.raises(JobFailedError, match="cannot be stored as JSON"):
            await job.wait(10)
    assert ("after", (job.id, "failed", None, SerializationError)) in recorder.calls
    await job.refresh()
    assert job.errors[0].at > 0, "the failure's record is dated"
