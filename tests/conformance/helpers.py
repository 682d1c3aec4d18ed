"""Shared pieces of the conformance suite: quick worker settings and awaited conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from conveyor import Job, JobState, Queue, WorkerSettings
from conveyor.backends.base import Event
from conveyor.events import EventStream
from tests.support.waiting import until  # the shared one; the suite imports it from here

FAST = WorkerSettings(concurrency=5, lease=1.0, stalled_interval=0.3, block_timeout=0.5, grace=5)


async def until_state(job: Job[object], *states: JobState, within: float = 10.0) -> None:
    """Await a job reaching one of ``states`` (re-read from the backend)."""

    async def reached() -> bool:
        return await job.get_state() in states

    await until(reached, within, f"job {job.id} to be {'/'.join(states)}")


async def read_events(
    queue: Queue,
    *,
    stop: Callable[[list[Event]], bool],
    after: str = "0",
    within: float = 10.0,
) -> list[Event]:
    """Read ``queue``'s event stream from ``after`` until ``stop(events so far)`` holds."""
    async with queue.events(after=after, block=0.2) as stream:
        return await collect(stream, stop, within)


async def collect(
    stream: EventStream, stop: Callable[[list[Event]], bool], within: float = 10.0
) -> list[Event]:
    """Read events from ``stream`` until ``stop(events so far)`` holds."""
    events: list[Event] = []
    try:
        async with asyncio.timeout(within):
            async for event in stream:
                events.append(event)
                if stop(events):
                    return events
    except TimeoutError:
        pass
    raise AssertionError(f"expected events did not come; got {[e.name for e in events]}")


def has(*names: str, job_id: str | None = None) -> Callable[[list[Event]], bool]:
    """A ``stop`` condition: every name in ``names`` seen (for ``job_id`` when given)."""

    def seen(events: list[Event]) -> bool:
        got = {e.name for e in events if job_id is None or e.job_id == job_id}
        return set(names) <= got

    return seen


def names_for(events: list[Event], job_id: str) -> list[str]:
    return [e.name for e in events if e.job_id == job_id]


def total(counts: dict[JobState, int], states: Collection[JobState] | None = None) -> int:
    return sum(v for k, v in counts.items() if states is None or k in states)


SENTINEL = "conformance.sentinel"


def with_sentinel(queue: Queue) -> Queue:
    """Register a no-op job name used by :func:`checkpoint`."""

    @queue.job(SENTINEL)
    async def sentinel(job: object) -> None:
        return None

    return queue


async def checkpoint(queue: Queue, within: float = 10.0) -> None:
    """Prove the worker has looked at the queue since now: add a no-op job, await it.

    Lets a test assert that something did *not* happen (a delayed job still waits, a
    paused queue still holds its jobs) without sleeping. ``with_sentinel`` first.
    """
    job = await queue.add(SENTINEL, None)
    await job.wait(timeout=within)
