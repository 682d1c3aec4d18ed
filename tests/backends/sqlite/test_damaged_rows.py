"""SQLite's columns take a value of any type: the state changes read numbers with CAST, so
a garbled number in one row is read as 0 rather than failing (or, for a priority, being
multiplied as text into a giant string) in the middle of another job's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest

from conveyor import ManualClock, Queue
from conveyor.backends.sqlite import SQLiteBackend
from tests.conformance.by_hand import fetch, finish, lease, recover, retry


@pytest.fixture
async def queue(sqlite_url: str, queue_name: str) -> AsyncIterator[Queue]:
    queue = Queue(queue_name, url=sqlite_url, clock=ManualClock())
    yield queue
    await queue.close()


def garble(queue: Queue, job_id: str, column: str) -> None:
    assert isinstance(queue.backend, SQLiteBackend)
    conn = sqlite3.connect(queue.backend.path, isolation_level=None)
    conn.execute(f"UPDATE jobs SET {column} = 'garbled' WHERE queue = ? AND id = ?",
                 (queue.name, job_id))
    conn.close()


async def test_a_retried_job_with_a_garbled_priority_waits_again(queue: Queue) -> None:
    job = await queue.add("work", 1, attempts=2)
    holder = lease("w")
    (fetched,) = await fetch(queue, holder)
    garble(queue, job.id, "priority")
    assert await finish(queue, holder, retry(fetched)) == [0]
    assert await job.get_state() == "waiting"


async def test_a_delayed_job_with_a_garbled_priority_is_promoted(queue: Queue) -> None:
    job = await queue.add("work", 1, delay=1)
    garble(queue, job.id, "priority")
    await queue.promote(job.id)
    assert await job.get_state() == "waiting"


async def test_a_stalled_job_with_garbled_counters_is_recovered(queue: Queue) -> None:
    job = await queue.add("work", 1)
    dead = lease("dead")
    await fetch(queue, dead)
    garble(queue, job.id, "stalled_count")
    garble(queue, job.id, "priority")
    await queue.backend.release_lease(queue.name, dead)
    assert await recover(queue) == ([job.id], [])
    await job.refresh()
    assert (job.state, job.stalled_count) == ("waiting", 1)
