"""Where handlers run: async on the loop, plain def in a thread (blocking progress and log
calls), cpu_bound in a child process (stopped when given up, progress and logs carried)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from conveyor import (
    JobContext,
    JobFailedError,
    ProcessJob,
    Queue,
    SyncJobContext,
    UnrecoverableError,
    Worker,
    WorkerSettings,
)

from . import cpu_handlers
from .helpers import FAST


async def test_sync_handler_runs_in_a_thread(queue: Queue) -> None:
    seen: dict[str, Any] = {}

    @queue.job()
    def blocking(job: SyncJobContext[dict[str, int]]) -> int:
        seen["thread"] = threading.current_thread()
        job.log("starting")
        job.update_progress({"step": 1})
        job.log("done")
        return job.data["a"] + job.data["b"]

    job = await queue.add("blocking", {"a": 2, "b": 3})
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 5
    assert seen["thread"] is not threading.main_thread()
    await job.refresh()
    assert job.progress == {"step": 1}
    assert await job.logs() == ["starting", "done"]


async def test_sync_handler_failures_retry_and_fail(queue: Queue) -> None:
    calls = 0

    @queue.job()
    def flaky(job: SyncJobContext[None]) -> None:
        nonlocal calls
        calls += 1
        if job.attempts_made == 0:
            raise OSError("disk busy")
        raise UnrecoverableError("give up")

    job = await queue.add("flaky", None, attempts=5)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="give up"):
            await job.wait(timeout=10)
    assert calls == 2
    await job.refresh()
    assert [e.type for e in job.errors] == ["OSError", "UnrecoverableError"]


async def test_sync_handlers_run_concurrently(queue: Queue) -> None:
    both = threading.Barrier(2, timeout=5)

    @queue.job()
    def meet(job: SyncJobContext[None]) -> str:
        both.wait()  # only returns when two handlers run at once
        return "met"

    a = await queue.add("meet", None)
    b = await queue.add("meet", None)
    async with Worker(queue, settings=FAST):
        assert await a.wait(timeout=10) == "met"
        assert await b.wait(timeout=10) == "met"


async def test_async_handler_concurrency_is_bounded(queue: Queue) -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    @queue.job()
    async def hold(job: JobContext[None]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            release.set()
        await release.wait()
        running -= 1

    jobs = [await queue.add("hold", None) for _ in range(7)]
    settings = WorkerSettings(concurrency=3, lease=1.0, block_timeout=0.5)
    async with Worker(queue, settings=settings):
        for job in jobs:
            await job.wait(timeout=10)
    assert peak == 3


async def test_cpu_bound_handler_runs_in_another_process(queue: Queue) -> None:
    queue.job(cpu_bound=True)(cpu_handlers.checksum)
    job = await queue.add("checksum", {"n": 20_000})
    settings = WorkerSettings(concurrency=2, lease=2.0, block_timeout=0.5, processes=1)
    async with Worker(queue, settings=settings):
        result = await job.wait(timeout=30)
    expected = 0
    for i in range(20_000):
        expected = (expected * 31 + i) % 1_000_003
    assert result["total"] == expected
    assert result["pid"] != os.getpid()
    assert (result["attempt"], result["id"]) == (0, job.id)


async def test_cpu_bound_handler_failure(queue: Queue) -> None:
    queue.job(cpu_bound=True)(cpu_handlers.explode)
    job = await queue.add("explode", [1, 2], attempts=2)
    settings = WorkerSettings(concurrency=1, lease=2.0, block_timeout=0.5, processes=1)
    async with Worker(queue, settings=settings):
        with pytest.raises(JobFailedError, match=r"bad input \[1, 2\]"):
            await job.wait(timeout=30)
    await job.refresh()
    assert job.attempts_made == 2
    assert job.errors[0].type == "ValueError"


async def test_a_cpu_bound_handler_past_its_timeout_is_stopped(
    queue: Queue, tmp_path: Path
) -> None:
    queue.job(cpu_bound=True)(cpu_handlers.spin_until_stopped)
    queue.job(cpu_bound=True)(cpu_handlers.checksum)
    pid_file = tmp_path / "pid"
    job = await queue.add("spin_until_stopped", {"pid_file": str(pid_file)}, timeout=0.5)
    after = await queue.add("checksum", {"n": 10})
    settings = WorkerSettings(concurrency=1, lease=2.0, block_timeout=0.5, processes=1)
    async with Worker(queue, settings=settings):
        with pytest.raises(JobFailedError, match="TimeoutError"):
            await job.wait(timeout=30)
        spinner = int(pid_file.read_text())
        # The process is killed and reaped before the failure is stored.
        assert not psutil.pid_exists(spinner), "the timed-out handler's process is gone"
        result = await after.wait(timeout=30)
    assert result["pid"] != spinner, "the next job ran in a fresh process"


async def test_a_cpu_bound_handler_reports_progress_and_logs(queue: Queue) -> None:
    queue.job(cpu_bound=True)(cpu_handlers.report_steps)
    job = await queue.add("report_steps", 3)
    settings = WorkerSettings(concurrency=1, lease=2.0, block_timeout=0.5, processes=1)
    async with queue.events() as stream, Worker(queue, settings=settings):
        assert await job.wait(timeout=30) == "reported"
        progress = []
        async for event in stream:
            if event.job_id == job.id and event.name == "progress":
                progress.append(event.fields)
            if event.job_id == job.id and event.name == "completed":
                break
    await job.refresh()
    assert job.progress == {"step": 3, "total": 3}
    assert await job.logs() == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    assert len(progress) == 3, "each call was stored before the handler went on"


async def test_a_cpu_bound_handler_whose_process_dies_fails_with_a_reason(queue: Queue) -> None:
    queue.job(cpu_bound=True)(cpu_handlers.die)
    queue.job(cpu_bound=True)(cpu_handlers.checksum)
    job = await queue.add("die", 3)
    after = await queue.add("checksum", {"n": 10})
    settings = WorkerSettings(concurrency=1, lease=2.0, block_timeout=0.5, processes=1)
    async with Worker(queue, settings=settings):
        with pytest.raises(JobFailedError, match=r"process .* died \(exit code 3\)"):
            await job.wait(timeout=30)
        assert (await after.wait(timeout=30))["id"] == after.id, "the next job still runs"


def test_a_process_job_built_by_hand_has_nowhere_to_report(queue: Queue) -> None:
    job = ProcessJob(queue.name, "1", "report_steps", 2, 0)
    assert cpu_handlers.report_steps(job) == "reported"


def test_cpu_bound_handler_must_be_plain_def(queue: Queue) -> None:
    async def not_allowed(job: Any) -> None:
        return None

    with pytest.raises(TypeError):
        queue.job(cpu_bound=True)(not_allowed)
