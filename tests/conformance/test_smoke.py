from __future__ import annotations

from conveyor import JobContext, Queue, Worker

from .helpers import FAST


async def test_job_added_then_completed_with_result(queue: Queue) -> None:
    @queue.job()
    async def double(job: JobContext[int]) -> int:
        return job.data * 2

    job = await queue.add("double", 21)
    assert job.state == "waiting"
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 42
    await job.refresh()
    assert job.state == "completed"
    assert job.attempts_made == 1
    assert job.result == 42
