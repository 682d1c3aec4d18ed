"""The blocking facade does what the async API does, from code without an event loop."""

from __future__ import annotations

import asyncio

import pytest

from conveyor import InvalidOptionsError, JobContext, JobNotFoundError, Queue, Worker
from conveyor.sync import SyncJob, SyncQueue
from tests.conformance.helpers import FAST


def test_sync_queue_adds_reads_and_administers(backend_url: str, queue_name: str) -> None:
    queue = SyncQueue(queue_name, url=backend_url)
    job = queue.add("resize", {"w": 100}, priority=4)
    assert isinstance(job, SyncJob)
    assert job.state == "prioritized"
    assert queue.counts()["prioritized"] == 1
    same = queue.add("resize", {"w": 1}, job_id="img-1")
    again = queue.add("resize", {"w": 2}, job_id="img-1")
    assert again.id == same.id == "img-1"
    assert again.data == {"w": 1}
    queue.pause()
    assert queue.is_paused()
    queue.resume()
    delayed = queue.add("resize", {}, delay=60)
    queue.promote(delayed.id)
    assert delayed.get_state() in ("waiting", "prioritized")
    with pytest.raises(JobNotFoundError):
        queue.remove("missing")
    with pytest.raises(InvalidOptionsError):
        queue.add("resize", {}, attempts=0)
    assert [j.id for j in queue.get_jobs("prioritized")] == [job.id]
    assert queue.drain() == 3
    queue.obliterate()
    queue.close()


async def test_sync_producer_wakes_an_async_worker(backend_url: str, queue_name: str) -> None:
    queue = Queue(queue_name, url=backend_url)

    @queue.job()
    async def echo(job: JobContext[str]) -> str:
        return job.data.upper()

    sync = SyncQueue.wrap(queue)
    async with Worker(queue, settings=FAST):
        handle = await asyncio.to_thread(sync.add, "echo", "hello")
        assert await queue.get_job(handle.id) is not None
        result = await asyncio.to_thread(handle.wait, 10)
    assert result == "HELLO"
    await asyncio.to_thread(sync.close)
    await queue.close()
