"""Graceful stop: running jobs finish within the grace period and nothing new starts;
jobs still running after it are left, with their lease released, for prompt recovery."""

from __future__ import annotations

import asyncio

from conveyor import JobContext, Queue, Worker

from .helpers import FAST, until_state


async def test_stop_lets_a_running_job_finish_and_takes_no_more(queue: Queue) -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    @queue.job()
    async def work(job: JobContext[str]) -> str:
        ran.append(job.data)
        if job.data == "running":
            await gate.wait()
        return job.data

    running = await queue.add("work", "running")
    worker = Worker(queue, settings=FAST)
    await worker.start()
    await until_state(running, "active")
    stopping = asyncio.ensure_future(worker.stop(grace=10))
    await asyncio.sleep(0)  # let stop() begin: it stops fetching before its first await
    later = await queue.add("work", "later")
    gate.set()
    await asyncio.wait_for(stopping, 15)
    assert await running.get_state() == "completed"
    assert running.result == "running"
    assert await later.get_state() == "waiting", "a stopping worker starts nothing new"
    assert ran == ["running"]


async def test_stop_after_grace_leaves_the_job_for_prompt_recovery(queue: Queue) -> None:
    attempts: list[int] = []
    cancelled = asyncio.Event()

    @queue.job()
    async def stubborn(job: JobContext[None]) -> str:
        attempts.append(job.attempts_made)
        if len(attempts) == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return "second worker"

    job = await queue.add("stubborn", None)
    first = Worker(queue, settings=FAST)
    await first.start()
    await until_state(job, "active")
    await asyncio.wait_for(first.stop(grace=0.1), 10)
    assert cancelled.is_set(), "the handler was cancelled when the grace period ran out"
    assert await job.get_state() == "active", "no outcome was stored for the abandoned attempt"
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == "second worker"
    await job.refresh()
    assert job.stalled_count == 1
    assert job.attempts_made == 1, "an abandoned attempt is not counted as a failure"


async def test_stop_flushes_finished_outcomes(queue: Queue) -> None:
    @queue.job()
    async def quick(job: JobContext[int]) -> int:
        return job.data

    jobs = [await queue.add("quick", i) for i in range(20)]
    async with Worker(queue, settings=FAST):
        await until_state(jobs[0], "completed", "active")
    finished = [await j.get_state() for j in jobs]
    assert "active" not in finished, "every job the worker took ended before it stopped"


async def test_stop_is_idempotent(queue: Queue) -> None:
    worker = Worker(queue, settings=FAST)
    await worker.start()
    await worker.stop(grace=1)
    await worker.stop(grace=1)
