"""The event stream: every lifecycle event, readable by another process's Queue object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from conveyor import (
    Backoff,
    BulkJob,
    JobContext,
    JobFailedError,
    ManualClock,
    Queue,
    Worker,
)
from conveyor.backends.base import Backend, Event, Lease
from conveyor.serialization import loads
from conveyor.worker.outcomes import STALLED_REASON

from .helpers import FAST, collect, has, names_for, read_events, until_state


@pytest.fixture
async def observer(queue: Queue, backend_url: str) -> AsyncIterator[Queue]:
    """The same queue seen through its own connection, as another process would."""
    other = Queue(queue.name, url=backend_url)
    yield other
    await other.close()


def by_name(events: list[Event], name: str, job_id: str | None = None) -> list[Event]:
    return [e for e in events if e.name == name and (job_id is None or e.job_id == job_id)]


async def test_completed_job_events_in_order(queue: Queue, observer: Queue) -> None:
    @queue.job()
    async def work(job: JobContext[int]) -> dict[str, int]:
        await job.update_progress(50)
        return {"double": job.data * 2}

    async with observer.events() as stream:
        job = await queue.add("work", 21)
        async with Worker(queue, settings=FAST):
            events = await collect(stream, has("completed", job_id=job.id))
    assert names_for(events, job.id) == ["added", "active", "progress", "completed"]
    (added,) = by_name(events, "added")
    assert added.fields["name"] == "work"
    (progress,) = by_name(events, "progress")
    assert loads(progress.fields["data"]) == 50
    (completed,) = by_name(events, "completed")
    assert loads(completed.fields["returnvalue"]) == {"double": 42}
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids)


async def test_retry_and_failure_events(queue: Queue, observer: Queue) -> None:
    @queue.job()
    async def fail(job: JobContext[None]) -> None:
        raise RuntimeError(f"try {job.attempts_made + 1}")

    async with observer.events() as stream:
        job = await queue.add("fail", None, attempts=2)
        async with Worker(queue, settings=FAST):
            events = await collect(stream, has("failed", job_id=job.id))
    assert names_for(events, job.id) == ["added", "active", "retrying", "active", "failed"]
    (retrying,) = by_name(events, "retrying")
    assert "try 1" in retrying.fields["reason"]
    (failed,) = by_name(events, "failed")
    assert failed.fields["reason"] == "RuntimeError: try 2"


async def test_delayed_and_waiting_events(
    make_queue: Callable[..., Queue], backend_url: str
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    observer = Queue(queue.name, url=backend_url)

    @queue.job()
    async def flaky(job: JobContext[None]) -> str:
        if job.attempts_made == 0:
            raise RuntimeError("later")
        return "ok"

    try:
        async with observer.events() as stream:
            job = await queue.add("flaky", None, delay=5, attempts=2, backoff=Backoff.fixed(3))
            first = await collect(stream, has("delayed", job_id=job.id))
            (delayed,) = by_name(first, "delayed")
            assert delayed.fields["delay"] == "5000"
            async with Worker(queue, settings=FAST, clock=clock):
                clock.advance(5)
                second = await collect(stream, has("retrying", "delayed"))
                clock.advance(3)
                third = await collect(stream, has("completed", job_id=job.id))
    finally:
        await observer.close()
    assert names_for(first + second + third, job.id) == [
        "added",
        "delayed",
        "waiting",
        "active",
        "retrying",
        "delayed",
        "waiting",
        "active",
        "completed",
    ]
    assert by_name(second, "delayed")[0].fields["delay"] == "3000"


async def test_admin_events(queue: Queue, observer: Queue) -> None:
    async with observer.events() as stream:
        a = await queue.add("noop", 1)
        b = await queue.add("noop", 2, delay=60)
        await queue.pause()
        await queue.resume()
        await b.promote()
        await a.remove()
        await queue.drain()
        events = await collect(stream, has("drained"))
    names = [e.name for e in events]
    assert names == [
        "added",
        "added",
        "delayed",
        "paused",
        "resumed",
        "waiting",
        "removed",
        "removed",
        "drained",
    ]
    assert [e.job_id for e in by_name(events, "removed")] == [a.id, b.id]
    assert events[5].job_id == b.id


async def test_clean_and_retry_events(queue: Queue, observer: Queue) -> None:
    @queue.job()
    async def fail(job: JobContext[None]) -> None:
        raise RuntimeError("no")

    job = await queue.add("fail", None)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    async with observer.events() as stream:
        await queue.retry(job.id)
        await queue.clean("waiting")
        events = await collect(stream, has("removed"))
    assert names_for(events, job.id) == ["waiting", "removed"]


async def test_drained_when_a_worker_empties_the_queue(queue: Queue, observer: Queue) -> None:
    @queue.job()
    async def work(job: JobContext[None]) -> None:
        return None

    async with observer.events() as stream:
        for _ in range(3):
            await queue.add("work", None)
        async with Worker(queue, settings=FAST):
            events = await collect(stream, has("drained"))
    assert "drained" in [e.name for e in events]


async def test_stalled_event(queue: Queue, observer: Queue) -> None:
    job = await queue.add("noop", None)
    lease = Lease("dead-worker", 60_000)
    backend = queue.backend
    async with observer.events() as stream:
        fetched = await backend.finish_and_fetch(queue.name, lease, [], 1, 0)
        assert [j.job_id for j in fetched.jobs] == [job.id]
        await backend.release_lease(queue.name, lease)
        report = await backend.check_stalled(queue.name, 1, 1, 0, STALLED_REASON)
        assert report.recovered == [job.id]
        events = await collect(stream, has("stalled"))
    assert names_for(events, job.id) == ["active", "stalled"]


async def test_events_are_readable_from_the_start(queue: Queue, observer: Queue) -> None:
    job = await queue.add("noop", None)
    events = await read_events(observer, stop=has("added"), after="0")
    assert names_for(events, job.id) == ["added"]


async def test_new_events_only_by_default(queue: Queue, observer: Queue) -> None:
    await queue.add("noop", "before")
    async with observer.events() as stream:
        later = await queue.add("noop", "after")
        events = await collect(stream, has("added"))
    assert [e.job_id for e in events] == [later.id]


async def test_async_for_without_context(queue: Queue, observer: Queue) -> None:
    first = await queue.add("noop", 1)
    stream = observer.events(after="0", block=0.1)
    got: list[Any] = []
    async for event in stream:
        got.append(event.job_id)
        break
    assert got == [first.id]
    second = await queue.add("noop", 2)
    event = await asyncio.wait_for(anext(stream), 5)
    assert event.job_id == second.id, "the stream resumes where it stopped"


async def test_progress_events_from_a_sync_handler(queue: Queue, observer: Queue) -> None:
    @queue.job()
    def work(job: Any) -> None:
        for pct in (25, 75):
            job.update_progress(pct)

    async with observer.events() as stream:
        job = await queue.add("work", None)
        async with Worker(queue, settings=FAST):
            await until_state(job, "completed")
            events = await collect(stream, has("completed", job_id=job.id))
    assert [loads(e.fields["data"]) for e in by_name(events, "progress")] == [25, 75]


async def test_event_stream_is_capped(queue: Queue, backend: Backend) -> None:
    for start in range(0, 15_000, 5_000):
        await queue.add_bulk([BulkJob("noop", i) for i in range(start, start + 5_000)])
    kept: list[Event] = []
    cursor = "0"
    while batch := await backend.read_events(queue.name, cursor, 5_000, None):
        kept += batch
        cursor = batch[-1].event_id
    assert 10_000 <= len(kept) < 12_000, "about the newest 10,000 events are kept"
    assert kept[-1].job_id == str(15_000), "the newest are kept, the oldest dropped"
