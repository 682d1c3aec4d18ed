"""Graceful stop: running jobs finish within the grace period and nothing new starts;
jobs still running after it go back to the front of waiting at once, untouched."""

from __future__ import annotations

import asyncio
import dataclasses

from conveyor import JobContext, Queue, Worker

from .by_hand import complete, fetch, finish, lease
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


async def test_stop_after_grace_puts_the_job_back_in_line_untouched(queue: Queue) -> None:
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
    first = Worker(queue, settings=dataclasses.replace(FAST, max_stalled=0))
    await first.start()
    await until_state(job, "active")
    await asyncio.wait_for(first.stop(grace=0.1), 10)
    assert cancelled.is_set(), "the handler was cancelled when the grace period ran out"
    await job.refresh()
    assert (job.state, job.stalled_count, job.attempts_made) == ("waiting", 0, 0), (
        "a stop is not a stall and not a failed attempt"
    )
    async with Worker(queue, settings=dataclasses.replace(FAST, max_stalled=0)):
        assert await job.wait(timeout=10) == "second worker"
    await job.refresh()
    assert (job.stalled_count, job.attempts_made) == (0, 1)
    assert attempts == [0, 0]


async def test_requeue_is_fenced_by_the_token(queue: Queue) -> None:
    jobs = [await queue.add("work", i) for i in range(3)]
    holder = lease("w")
    fetched = await fetch(queue, holder, 3)
    tokens = {j.job_id: j.token for j in fetched}
    moved = await queue.backend.requeue(
        queue.name,
        [(jobs[0].id, tokens[jobs[0].id]), (jobs[1].id, "someone-else:1"), ("nope", "x:1")],
        0,
    )
    assert moved == [jobs[0].id]
    assert [await j.get_state() for j in jobs] == ["waiting", "active", "active"]
    assert await finish(queue, holder, complete(fetched[0])) == [-2], "its old token is void"
    (again,) = await fetch(queue, lease("v"), 1)
    assert again.job_id == jobs[0].id, "a requeued job is next in line"


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
