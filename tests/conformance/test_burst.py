"""Burst workers: process until the queues have no job left to run, then return."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from conveyor import Backoff, JobContext, Queue, Worker

from .helpers import FAST, total


async def test_a_burst_worker_runs_everything_then_returns(
    make_queue: Callable[..., Queue],
) -> None:
    queue, other = make_queue(), make_queue()
    tries: dict[int, int] = {}

    @queue.job()
    async def flaky(job: JobContext[int]) -> int:
        tries[job.data] = tries.get(job.data, 0) + 1
        if job.data % 5 == 0 and tries[job.data] == 1:
            raise RuntimeError("first try fails")  # its retry waits out a backoff
        return job.data

    @other.job()
    async def noop(job: JobContext[None]) -> None:
        return None

    for n in range(20):
        await queue.add("flaky", n, attempts=2, backoff=Backoff.fixed(0.2))
    await other.add("noop", None, delay=0.3)
    worker = Worker([queue, other], settings=FAST)
    await asyncio.wait_for(worker.run_burst(handle_signals=False), 30)
    counts, other_counts = await queue.counts(), await other.counts()
    assert (counts["completed"], total(counts)) == (20, 20), "retries were part of the batch"
    assert (other_counts["completed"], total(other_counts)) == (1, 1), "so was a delayed job"
    assert sum(tries.values()) == 24


async def test_a_burst_worker_on_empty_queues_returns_at_once(queue: Queue) -> None:
    worker = Worker(queue, settings=dataclasses.replace(FAST, block_timeout=30))
    await asyncio.wait_for(worker.run_burst(handle_signals=False), 10)
    assert total(await queue.counts()) == 0
