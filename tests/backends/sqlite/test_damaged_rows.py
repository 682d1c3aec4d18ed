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


def break_id(queue: Queue, job_id: str) -> None:
    """Give one job an id that is not UTF-8 text (as another program writing TEXT might)."""
    assert isinstance(queue.backend, SQLiteBackend)
    conn = sqlite3.connect(queue.backend.path, isolation_level=None)
    conn.execute("UPDATE jobs SET id = CAST(x'ff00fe' AS TEXT) WHERE queue = ? AND id = ?",
                 (queue.name, job_id))
    conn.close()


async def test_a_job_whose_id_is_not_utf8_fails_alone_in_the_fetch(queue: Queue) -> None:
    jobs = [await queue.add("work", i) for i in range(3)]
    break_id(queue, jobs[1].id)
    page = await queue.get_jobs("waiting")
    assert len(page) == 3, "a page reads the damaged row too"
    assert sum(1 for job in page if job.damage and "id is not UTF-8" in job.damage) == 1
    fetched = await fetch(queue, lease("w"), 3)
    assert sorted(j.job_id for j in fetched) == sorted([jobs[0].id, jobs[2].id])
    counts = await queue.counts()
    assert (counts["active"], counts["failed"], counts["waiting"]) == (2, 1, 0)
    (failed,) = await queue.get_jobs("failed")
    assert "id is not UTF-8" in (failed.failed_reason or "")


async def test_a_stalled_job_whose_id_is_not_utf8_is_recovered_with_the_others(
    queue: Queue,
) -> None:
    jobs = [await queue.add("work", i) for i in range(3)]
    dead = lease("dead")
    await fetch(queue, dead, 3)
    await queue.backend.release_lease(queue.name, dead)
    break_id(queue, jobs[1].id)
    recovered, failed = await recover(queue)
    assert len(recovered) == 3
    assert failed == []
    assert (await queue.counts())["waiting"] == 3
