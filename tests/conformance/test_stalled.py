"""Stalled jobs: an active job whose worker's lease is gone goes back to waiting (first in
line), or fails after ``max_stalled`` recoveries; the check runs once per interval."""

from __future__ import annotations

import pytest

from conveyor import JobContext, JobFailedError, Queue, Worker
from conveyor.worker.outcomes import STALLED_REASON

from .by_hand import fetch, lease, recover
from .helpers import FAST


# -- stalled recovery -----------------------------------------------------------------
async def test_live_lease_is_not_recovered(queue: Queue) -> None:
    added = await queue.add("noop", None)
    await fetch(queue, lease("alive"))
    report = await queue.backend.check_stalled(
        queue.name, 1, 1, queue.clock.now_ms(), STALLED_REASON
    )
    assert (report.recovered, report.failed) == ([], [])
    assert await added.get_state() == "active"


async def test_released_lease_is_recovered_first_in_line(queue: Queue) -> None:
    first = await queue.add("noop", "first")
    later = await queue.add("noop", "later")
    dead = lease("dead")
    (job,) = await fetch(queue, dead)
    assert job.job_id == first.id
    await queue.backend.release_lease(queue.name, dead)
    assert await recover(queue) == ([first.id], [])
    await first.refresh()
    assert (first.state, first.stalled_count, first.attempts_made) == ("waiting", 1, 0)
    (again,) = await fetch(queue, lease("next"))
    assert again.job_id == first.id, "a recovered job runs before jobs that never started"
    assert await later.get_state() == "waiting"


async def test_recovered_prioritized_job_keeps_its_priority(queue: Queue) -> None:
    job = await queue.add("noop", None, priority=4)
    dead = lease("dead")
    await fetch(queue, dead)
    await queue.backend.release_lease(queue.name, dead)
    await recover(queue)
    assert await job.get_state() == "prioritized"


async def test_job_fails_after_max_stalled_recoveries(queue: Queue) -> None:
    job = await queue.add("noop", None, attempts=5)
    for expected in ("waiting", "failed"):
        dead = lease("dead")
        assert len(await fetch(queue, dead)) == 1
        await queue.backend.release_lease(queue.name, dead)
        recovered, failed = await recover(queue, max_stalled=1)
        assert (recovered, failed) == (([job.id], []) if expected == "waiting" else ([], [job.id]))
        assert await job.get_state() == expected
    await job.refresh()
    assert job.stalled_count == 2
    assert job.failed_reason is not None
    assert "stalled" in job.failed_reason
    assert (await queue.counts())["failed"] == 1
    with pytest.raises(JobFailedError, match="stalled"):
        await job.wait(timeout=1)


async def test_max_stalled_zero_fails_on_first_stall(queue: Queue) -> None:
    job = await queue.add("noop", None)
    dead = lease("dead")
    await fetch(queue, dead)
    await queue.backend.release_lease(queue.name, dead)
    assert await recover(queue, max_stalled=0) == ([], [job.id])
    assert await job.get_state() == "failed"


async def test_stalled_check_runs_once_per_interval(queue: Queue) -> None:
    job = await queue.add("noop", None)
    dead = lease("dead")
    backend, now = queue.backend, queue.clock.now_ms()
    assert await backend.check_stalled(queue.name, 1, 60_000, now, STALLED_REASON) is not None
    await fetch(queue, dead)
    await backend.release_lease(queue.name, dead)
    report = await backend.check_stalled(queue.name, 1, 60_000, now, STALLED_REASON)
    assert (report.recovered, report.failed) == ([], []), "another check ran this interval"
    assert await job.get_state() == "active"


async def test_worker_recovers_a_dead_workers_job(queue: Queue) -> None:
    runs: list[int] = []

    @queue.job()
    async def work(job: JobContext[None]) -> str:
        runs.append(job.attempts_made)
        return "recovered"

    added = await queue.add("work", None)
    dead = lease("dead")
    await fetch(queue, dead)
    await queue.backend.release_lease(queue.name, dead)
    async with Worker(queue, settings=FAST):
        assert await added.wait(timeout=10) == "recovered"
    assert runs == [0]
    await added.refresh()
    assert (added.attempts_made, added.stalled_count) == (1, 1)
