"""Leases and fencing: only the holder of a job's current token can end its attempt, and
active jobs whose lease is gone are recovered by the stalled check (or failed).

These drive the backend protocol directly, as a worker does, so that a "dead" or "stale"
worker can be played exactly; they use no storage-specific command.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from conveyor import JobContext, JobFailedError, Queue, Worker, WorkerSettings
from conveyor.backends.base import Backend, FetchedJob, Lease, Outcome
from conveyor.errors import Refusal
from conveyor.options import retention_ms

from .helpers import FAST, until, until_state

KEEP = retention_ms(False)
LOST = int(Refusal.LOCK_LOST)


def lease(name: str) -> Lease:
    return Lease(f"{name}-{time.monotonic_ns()}", 60_000)


async def fetch(queue: Queue, holder: Lease, count: int = 1) -> list[FetchedJob]:
    result = await queue.backend.finish_and_fetch(
        queue.name, holder, [], count, queue.clock.now_ms()
    )
    return result.jobs


async def finish(queue: Queue, holder: Lease, *outcomes: Outcome) -> list[int]:
    result = await queue.backend.finish_and_fetch(
        queue.name, holder, list(outcomes), 0, queue.clock.now_ms()
    )
    return result.codes


def complete(job: FetchedJob, token: str | None = None, result: bytes = b'"done"') -> Outcome:
    return Outcome(job.job_id, token or job.token, "complete", 1, result=result, retention=KEEP)


def fail(job: FetchedJob, token: str | None = None) -> Outcome:
    return Outcome(
        job.job_id, token or job.token, "fail", 1, reason="stale says no", retention=KEEP
    )


def retry(job: FetchedJob, token: str | None = None) -> Outcome:
    return Outcome(job.job_id, token or job.token, "retry", 1, reason="again")


async def recover(queue: Queue, max_stalled: int = 1) -> tuple[list[str], list[str]]:
    """Run a stalled check (1 ms interval), again while another check's guard holds."""
    deadline = time.monotonic() + 5
    while True:
        report = await queue.backend.check_stalled(queue.name, max_stalled, 1, queue.clock.now_ms())
        if report.recovered or report.failed or time.monotonic() > deadline:
            return report.recovered, report.failed
        await asyncio.sleep(0.002)


# -- fencing --------------------------------------------------------------------------
async def test_wrong_token_cannot_end_the_attempt(queue: Queue) -> None:
    added = await queue.add("noop", None)
    holder = lease("a")
    (job,) = await fetch(queue, holder)
    assert job.job_id == added.id
    for outcome in (complete(job, "intruder:1"), fail(job, "intruder:1"), retry(job, "x")):
        assert await finish(queue, holder, outcome) == [LOST]
        assert await added.get_state() == "active"
    assert await finish(queue, holder, complete(job)) == [0]
    await added.refresh()
    assert (added.state, added.result) == ("completed", "done")


async def test_token_is_fenced_after_recovery(queue: Queue) -> None:
    added = await queue.add("noop", None)
    old, new = lease("old"), lease("new")
    (stale,) = await fetch(queue, old)
    await queue.backend.release_lease(queue.name, old)
    assert await recover(queue) == ([added.id], [])
    assert await added.get_state() == "waiting"
    (current,) = await fetch(queue, new)
    assert current.job_id == stale.job_id
    assert current.token != stale.token
    for outcome in (complete(stale), fail(stale), retry(stale)):
        assert await finish(queue, old, outcome) == [LOST]
    await added.refresh()
    assert added.state == "active"
    assert added.result is None
    assert added.failed_reason is None
    assert await finish(queue, new, complete(current, result=b'"second"')) == [0]
    await added.refresh()
    assert (added.state, added.result) == ("completed", "second")
    assert await finish(queue, old, complete(stale)) == [LOST], "never finished twice"


async def test_finished_job_cannot_be_finished_again(queue: Queue) -> None:
    await queue.add("noop", None)
    holder = lease("a")
    (job,) = await fetch(queue, holder)
    assert await finish(queue, holder, complete(job)) == [0]
    assert await finish(queue, holder, fail(job)) == [LOST]
    stored = await queue.get_job(job.job_id)
    assert stored is not None
    assert stored.state == "completed"


async def test_batch_applies_owned_outcomes_and_refuses_stale_ones(queue: Queue) -> None:
    a = await queue.add("noop", "a")
    b = await queue.add("noop", "b")
    holder = lease("w")
    job_a, job_b = await fetch(queue, holder, 2)
    codes = await finish(queue, holder, complete(job_a), complete(job_b, "bogus:9"))
    assert codes == [0, LOST]
    assert await a.get_state() == "completed"
    assert await b.get_state() == "active"


async def test_progress_and_logs_of_a_missing_job_are_refused(
    queue: Queue, backend: Backend
) -> None:
    with pytest.raises(Exception, match="no such job") as caught:
        await backend.update_progress(queue.name, "missing", b"1", 0)
    assert caught.type.__name__ == "JobNotFoundError"
    with pytest.raises(Exception, match="no such job"):
        await backend.add_log(queue.name, "missing", "line", 10)


async def test_renewal_reports_jobs_no_longer_ours(queue: Queue) -> None:
    await queue.add("noop", None)
    old, new = lease("old"), lease("new")
    (stale,) = await fetch(queue, old)
    assert await queue.backend.renew_lease(queue.name, old, [(stale.job_id, stale.token)]) == []
    await queue.backend.release_lease(queue.name, old)
    await recover(queue)
    await fetch(queue, new)
    lost = await queue.backend.renew_lease(queue.name, old, [(stale.job_id, stale.token)])
    assert lost == [stale.job_id]


# -- stalled recovery -----------------------------------------------------------------
async def test_live_lease_is_not_recovered(queue: Queue) -> None:
    added = await queue.add("noop", None)
    await fetch(queue, lease("alive"))
    report = await queue.backend.check_stalled(queue.name, 1, 1, queue.clock.now_ms())
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
    assert await backend.check_stalled(queue.name, 1, 60_000, now) is not None
    await fetch(queue, dead)
    await backend.release_lease(queue.name, dead)
    report = await backend.check_stalled(queue.name, 1, 60_000, now)
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


async def test_worker_that_lost_its_lease_cannot_finish(queue: Queue) -> None:
    """A worker's handler outlives its lease: its late outcome must not be stored."""
    gate = asyncio.Event()
    ended = asyncio.Event()

    @queue.job()
    async def slow(job: JobContext[Any]) -> str:
        try:
            await gate.wait()
            return "late"
        finally:
            ended.set()

    added = await queue.add("slow", None)
    one = WorkerSettings(concurrency=1, lease=1.0, stalled_interval=0.3, block_timeout=0.5)
    other = lease("other")
    async with Worker(queue, settings=one) as worker:
        await until_state(added, "active")
        # Play a lapsed lease: drop it and recover the job, then let another holder take
        # it (this worker is full, so it cannot take the job back itself).
        holder = worker.consumers[0].lease

        async def lapsed() -> bool:
            # The worker renews its lease and runs its own checks: drop the lease again
            # until a check (ours or the worker's) has moved the job back to waiting.
            await queue.backend.release_lease(queue.name, holder)
            await queue.backend.check_stalled(queue.name, 1, 1, queue.clock.now_ms())
            return await added.get_state() == "waiting"

        await until(lapsed, what="the job to be recovered")
        (taken,) = await fetch(queue, other)
        assert taken.job_id == added.id
        gate.set()
        await ended.wait()
    # Stopping flushed the worker's outcome (or the worker dropped the cancelled attempt).
    await added.refresh()
    assert added.state == "active", "the stale worker's result was not stored"
    assert added.result is None
    assert await finish(queue, other, complete(taken, result=b'"fresh"')) == [0]
    await added.refresh()
    assert (added.state, added.result) == ("completed", "fresh")
