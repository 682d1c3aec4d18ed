"""What happens to finished jobs: remove_on_complete / remove_on_fail and dead-letter queues."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from conveyor import (
    JobContext,
    JobFailedError,
    JobOptions,
    KeepJobs,
    ManualClock,
    Queue,
    Worker,
    WorkerSettings,
)
from conveyor.backends.base import Lease

from .helpers import FAST, until


def register(queue: Queue) -> None:
    @queue.job()
    async def ok(job: JobContext[Any]) -> Any:
        return job.data

    @queue.job()
    async def bad(job: JobContext[Any]) -> None:
        raise RuntimeError(f"bad {job.data}")


async def finish_one(queue: Queue, name: str, data: Any, **options: Any) -> str:
    """Add one job and await its end (completed or failed); return its id."""
    job = await queue.add(name, data, **options)
    with contextlib.suppress(JobFailedError):
        await job.wait(timeout=10)
    return job.id


async def ids_in(queue: Queue, state: str) -> list[str]:
    return [j.id for j in await queue.get_jobs(state, limit=100)]  # type: ignore[arg-type]


async def test_completed_jobs_are_kept_by_default(queue: Queue) -> None:
    register(queue)
    async with Worker(queue, settings=FAST):
        job_id = await finish_one(queue, "ok", 1)
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.result) == ("completed", 1)
    assert JobOptions().remove_on_complete == KeepJobs(count=1000, age=24 * 3600)
    assert JobOptions().remove_on_fail == KeepJobs(age=7 * 24 * 3600)


async def test_remove_on_complete_true_removes_at_once(queue: Queue) -> None:
    register(queue)
    async with Worker(queue, settings=FAST):
        job = await queue.add("ok", "result", remove_on_complete=True)
        assert await job.wait(timeout=10) == "result", "wait still gets the result"
    assert await queue.get_job(job.id) is None
    assert (await queue.counts())["completed"] == 0


async def test_remove_on_fail_true_removes_at_once(queue: Queue) -> None:
    register(queue)
    async with Worker(queue, settings=FAST):
        job = await queue.add("bad", 1, remove_on_fail=True)
        with pytest.raises(JobFailedError, match="bad 1"):
            await job.wait(timeout=10)
    assert await queue.get_job(job.id) is None
    assert (await queue.counts())["failed"] == 0


async def test_retention_does_not_remove_retried_jobs(queue: Queue) -> None:
    register(queue)
    async with Worker(queue, settings=FAST):
        job = await queue.add("bad", 1, remove_on_fail=True, attempts=3)
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    assert await queue.get_job(job.id) is None


@pytest.mark.parametrize(
    ("name", "option", "state"),
    [
        ("ok", "remove_on_complete", "completed"),
        ("bad", "remove_on_fail", "failed"),
    ],
)
async def test_keep_last_n(
    make_queue: Callable[..., Queue], name: str, option: str, state: str
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    register(queue)
    finished = []
    async with Worker(queue, settings=FAST, clock=clock):
        for i in range(5):
            finished.append(await finish_one(queue, name, i, **{option: 2}))
            clock.advance(1)
    assert await ids_in(queue, state) == finished[:-3:-1], "the newest two are kept"
    assert (await queue.counts())[state] == 2  # type: ignore[index]
    for gone in finished[:3]:
        assert await queue.get_job(gone) is None


@pytest.mark.parametrize(
    ("name", "option", "state"),
    [
        ("ok", "remove_on_complete", "completed"),
        ("bad", "remove_on_fail", "failed"),
    ],
)
async def test_keep_by_age(
    make_queue: Callable[..., Queue], name: str, option: str, state: str
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    register(queue)
    keep = KeepJobs(age=60)
    async with Worker(queue, settings=FAST, clock=clock):
        old = await finish_one(queue, name, "old", **{option: keep})
        clock.advance(30)
        middle = await finish_one(queue, name, "middle", **{option: keep})
        clock.advance(31)
        new = await finish_one(queue, name, "new", **{option: keep})
    assert await queue.get_job(old) is None, "finished 61 s ago: removed"
    assert await ids_in(queue, state) == [new, middle]


async def test_keep_by_age_and_count(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    register(queue)
    keep = KeepJobs(count=2, age=100)
    async with Worker(queue, settings=FAST, clock=clock):
        ids = [await finish_one(queue, "ok", i, remove_on_complete=keep) for i in range(3)]
        assert await ids_in(queue, "completed") == ids[:0:-1]
        clock.advance(101)
        newest = await finish_one(queue, "ok", 3, remove_on_complete=keep)
    assert await ids_in(queue, "completed") == [newest]


async def test_keep_forever(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    register(queue)
    async with Worker(queue, settings=FAST, clock=clock):
        first = await finish_one(queue, "ok", 0, remove_on_complete=False)
        clock.advance(400 * 24 * 3600)
        await finish_one(queue, "ok", 1, remove_on_complete=False)
    assert await queue.get_job(first) is not None


async def test_queue_default_retention(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(defaults=JobOptions(remove_on_complete=True))
    register(queue)
    async with Worker(queue, settings=FAST):
        removed = await finish_one(queue, "ok", 1)
        kept = await finish_one(queue, "ok", 2, remove_on_complete=False)
    assert await queue.get_job(removed) is None
    assert await queue.get_job(kept) is not None


# -- dead letters ---------------------------------------------------------------------
async def test_exhausted_job_is_copied_to_the_dead_letter_queue(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue()
    dlq = make_queue()
    register(queue)
    async with Worker(queue, settings=FAST):
        job = await queue.add("bad", {"order": 7}, attempts=2, dead_letter=dlq.name)
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)

        async def arrived() -> bool:
            return (await dlq.counts())["waiting"] == 1

        await until(arrived, what="the dead letter")
    (letter,) = await dlq.get_jobs("waiting")
    assert letter.name == "bad"
    assert letter.data == {"order": 7}
    assert letter.attempts_made == 0
    source = await queue.get_job(job.id)
    assert source is not None
    assert source.state == "failed", "the original stays failed, with its reason"
    assert source.failed_reason == "RuntimeError: bad {'order': 7}"


async def test_dead_letter_only_when_exhausted(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue()
    dlq = make_queue()

    @queue.job()
    async def second_time_lucky(job: JobContext[None]) -> str:
        if job.attempts_made == 0:
            raise RuntimeError("first")
        return "ok"

    async with Worker(queue, settings=FAST):
        job = await queue.add("second_time_lucky", None, attempts=2, dead_letter=dlq.name)
        assert await job.wait(timeout=10) == "ok"
    counts = await dlq.counts()
    assert sum(counts.values()) == 0


async def test_dead_letter_for_unrecoverable_and_removed_failures(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue()
    dlq = make_queue()
    register(queue)
    queue.declare("missing-handler")
    async with Worker(queue, settings=FAST):
        job = await queue.add(
            "missing-handler", "x", attempts=5, dead_letter=dlq.name, remove_on_fail=True
        )
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)

        async def arrived() -> bool:
            return (await dlq.counts())["waiting"] == 1

        await until(arrived, what="the dead letter")
    assert await queue.get_job(job.id) is None
    (letter,) = await dlq.get_jobs("waiting")
    assert (letter.name, letter.data) == ("missing-handler", "x")


async def test_job_failed_by_stalling_goes_to_the_dead_letter_queue(
    make_queue: Callable[..., Queue],
) -> None:
    """A poison pill that kills its worker every time is exactly what a DLQ is for."""
    queue = make_queue()
    dlq = make_queue()
    register(queue)
    job = await queue.add("ok", {"poison": True}, dead_letter=dlq.name)
    dead = Lease("dead-worker", 60_000)
    fetched = await queue.backend.finish_and_fetch(queue.name, dead, [], 1, 0)
    assert [j.job_id for j in fetched.jobs] == [job.id]
    await queue.backend.release_lease(queue.name, dead)
    settings = WorkerSettings(
        concurrency=1, lease=1.0, stalled_interval=0.3, block_timeout=0.5, max_stalled=0
    )
    async with Worker(queue, settings=settings):
        with pytest.raises(JobFailedError, match="stalled"):
            await job.wait(timeout=10)

        async def arrived() -> bool:
            return (await dlq.counts())["waiting"] == 1

        await until(arrived, what="the dead letter")
    (letter,) = await dlq.get_jobs("waiting")
    assert (letter.name, letter.data) == ("ok", {"poison": True})
