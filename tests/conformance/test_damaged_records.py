"""A damaged job record harms only itself: it fails alone with a reason that says what is
wrong, every healthy job queued around it runs, and reading it shows what can be read."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from conveyor import JobContext, Queue, Worker
from conveyor.backends.redis import RedisBackend

from .damage import KINDS, damage
from .helpers import FAST, until

HEALTHY = 12


def with_handlers(queue: Queue) -> Queue:
    @queue.job("work")
    async def work(job: JobContext[int]) -> int:
        return job.data * 2

    @queue.job("sync-work")
    def sync_work(job: JobContext[int]) -> int:
        return job.data + 1

    return queue


@pytest.mark.parametrize("kind", KINDS)
async def test_a_damaged_job_fails_alone_and_the_jobs_around_it_run(
    queue: Queue, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with_handlers(queue)
    before = [await queue.add("work", i) for i in range(HEALTHY // 2)]
    victim = await queue.add("work", 100)
    after = [await queue.add("sync-work", i) for i in range(HEALTHY // 2)]
    await damage(queue, victim.id, kind)

    async def settled() -> bool:
        counts = await queue.counts()
        return counts["completed"] + counts["failed"] == HEALTHY + 1

    async with Worker(queue, settings=FAST):
        await until(settled, within=20, what="every job to finish")
    counts = await queue.counts()
    assert (counts["completed"], counts["failed"], counts["active"]) == (HEALTHY, 1, 0)
    for job in before:
        assert await job.wait(1) == job.data * 2
    for job in after:
        assert await job.wait(1) == job.data + 1
    read = await queue.get_job(victim.id)
    assert read is not None
    assert read.state == "failed"
    assert read.failed_reason, "a damaged job fails with a reason"
    assert "damaged" in read.failed_reason, f"the reason says so: {read.failed_reason}"
    said = [
        r for r in caplog.records
        if r.name.startswith("conveyor") and r.levelno >= logging.WARNING
        and getattr(r, "job_id", None) == victim.id
    ]
    # A key of the wrong type on Redis is confined by the script itself, never fetched.
    confined_in_storage = kind == "wrong-type" and isinstance(queue.backend, RedisBackend)
    assert len(said) == (0 if confined_in_storage else 1), [r.message for r in said]


@pytest.mark.parametrize("kind", KINDS)
async def test_reading_a_damaged_job_shows_what_can_be_read(queue: Queue, kind: str) -> None:
    healthy = await queue.add("work", 1)
    victim = await queue.add("work", 2)
    await damage(queue, victim.id, kind)
    job = await queue.get_job(victim.id)
    assert job is not None
    assert job.id == victim.id
    assert job.state == "waiting"
    page = await queue.get_jobs("waiting")
    assert sorted(j.id for j in page) == sorted([healthy.id, victim.id])
    shown = next(j for j in page if j.id == victim.id)
    assert shown.damage == job.damage
    if kind in ("wrong-type", "missing-name", "missing-timestamp", "garbled-attempts",
                "not-utf8"):
        assert job.damage, f"{kind} is noted on the record"
    assert next(j for j in page if j.id == healthy.id).damage is None


async def test_a_damaged_record_in_a_batch_does_not_stall_the_batch(queue: Queue) -> None:
    """Several damaged jobs fetched in one batch with healthy ones: no stall, no retry."""
    with_handlers(queue)
    jobs = [await queue.add("work", i) for i in range(20)]
    victims = jobs[3::4]
    for job, kind in zip(victims, KINDS, strict=False):
        await damage(queue, job.id, kind)

    async def settled() -> bool:
        counts = await queue.counts()
        return counts["completed"] + counts["failed"] == len(jobs)

    async with Worker(queue, settings=dataclasses.replace(FAST, concurrency=20)):
        await until(settled, within=20, what="every job to finish")
    for job in jobs:
        await job.refresh()
        if job in victims:
            assert job.state == "failed"
            assert job.stalled_count == 0, "a damaged job is failed, not left to stall"
        else:
            assert job.state == "completed"
