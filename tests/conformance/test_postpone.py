"""``Postpone``: a handler's "not now" runs the job again later without spending an
attempt, and ``job.stopping`` lets a long handler checkpoint and step aside at shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conveyor import JobContext, ManualClock, Postpone, Queue, SyncJobContext, Worker

from .helpers import FAST, until, until_state


async def test_postpone_waits_without_spending_an_attempt(
    make_queue: Callable[..., Queue],
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    runs: list[int] = []

    @queue.job()
    async def upstream(job: JobContext[None]) -> str:
        runs.append(job.attempts_made)
        if len(runs) < 3:
            raise Postpone(timedelta(seconds=30))  # a 429 with Retry-After: 30
        return "fetched"

    job = await queue.add("upstream", None, attempts=1)  # a Retry would fail it
    names: list[str] = []
    async with queue.events() as stream, Worker(queue, settings=FAST, clock=clock):
        for run in (1, 2):

            async def ran(run: int = run) -> bool:
                return len(runs) == run

            await until(ran, what=f"run {run}")
            await until_state(job, "delayed")
            await job.refresh()
            assert (job.attempts_made, job.failed_reason, job.errors) == (0, None, [])
            clock.advance(30)
        assert await job.wait(timeout=10) == "fetched"
        async for event in stream:
            names.append(event.name)
            if event.name == "completed":
                break
    assert runs == [0, 0, 0]
    await job.refresh()
    assert (job.attempts_made, job.errors) == (1, [])
    assert names.count("delayed") == 2
    assert "retrying" not in names
    assert "failed" not in names


async def test_postpone_with_data_starts_the_next_run_from_the_checkpoint(
    queue: Queue,
) -> None:
    seen: list[dict[str, Any]] = []

    @queue.job()
    async def walk(job: JobContext[dict[str, Any]]) -> int:
        seen.append(job.data)
        if job.data["page"] < 3:
            raise Postpone(data={"page": job.data["page"] + 1})
        return int(job.data["page"])

    job = await queue.add("walk", {"page": 1}, attempts=1)
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 3
    assert seen == [{"page": 1}, {"page": 2}, {"page": 3}]
    assert (await queue.get_job(job.id)).data == {"page": 3}  # type: ignore[union-attr]


async def test_a_handler_that_sees_the_stop_checkpoints_and_steps_aside(queue: Queue) -> None:
    started = asyncio.Event()

    @queue.job()
    async def sync_catalog(job: JobContext[dict[str, int]]) -> int:
        cursor = job.data["cursor"]
        started.set()
        while not job.stopping:
            cursor += 1
            await asyncio.sleep(0.01)
        raise Postpone(data={"cursor": cursor})

    job = await queue.add("sync_catalog", {"cursor": 0})
    worker = Worker(queue, settings=dataclasses.replace(FAST, max_stalled=0))
    await worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(worker.stop(grace=10), 15)
    await job.refresh()
    assert (job.state, job.attempts_made, job.stalled_count) == ("waiting", 0, 0)
    assert job.data["cursor"] > 0, "the checkpoint was stored"


async def test_a_thread_handler_sees_the_stop_and_postpones_too(queue: Queue) -> None:
    started = threading.Event()

    @queue.job()
    def export(job: SyncJobContext[dict[str, int]]) -> None:
        rows = job.data["rows"]
        started.set()
        while not job.stopping:
            rows += 1
            time.sleep(0.005)  # the handler's own work, in its thread
        raise Postpone(data={"rows": rows})

    job = await queue.add("export", {"rows": 0})
    worker = Worker(queue, settings=FAST)
    await worker.start()
    await asyncio.to_thread(started.wait, 10)
    await asyncio.wait_for(worker.stop(grace=10), 15)
    await job.refresh()
    assert (job.state, job.attempts_made) == ("waiting", 0)
    assert job.data["rows"] > 0
