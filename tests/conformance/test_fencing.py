"""Fencing: only the holder of a job's current lease token can end its attempt, so a
worker that lost its lease can never complete or fail the job (nor finish it twice).

These drive the backend protocol directly, as a worker does, so that a stale worker can be
played exactly; they use no storage-specific command.
"""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor import JobContext, Queue, Worker, WorkerSettings
from conveyor.backends.base import Backend, FetchedJob
from conveyor.worker.outcomes import STALLED_REASON

from .by_hand import LOST, complete, fail, fetch, finish, lease, recover, retry
from .helpers import until, until_state


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
    assert await backend.update_progress(queue.name, "missing", b"1", 0) == -1
    assert await backend.add_log(queue.name, "missing", "line", 10) == -1


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
    # max_stalled is high for the worker's own stalled checks too: they race the test's
    # rounds, and a job failed for stalling could never be taken by `other`.
    one = WorkerSettings(
        concurrency=1, lease=1.0, stalled_interval=0.3, block_timeout=0.5, max_stalled=100
    )
    other = lease("other")
    async with Worker(queue, settings=one) as worker:
        await until_state(added, "active")
        # Play a lapsed lease: drop it, recover the job, and let another holder take it.
        # The worker renews and checks on its own: once its renewal sees the job recovered
        # it cancels the handler and may fetch the job again before `other` does, so
        # repeat until `other` holds it (max_stalled is high so no round fails the job).
        grabbed: list[FetchedJob] = []

        async def taken_by_other() -> bool:
            await queue.backend.release_lease(queue.name, worker.consumers[0].lease)
            await queue.backend.check_stalled(
                queue.name, 100, 1, queue.clock.now_ms(), STALLED_REASON
            )
            grabbed.extend(await fetch(queue, other))
            return bool(grabbed)

        await until(taken_by_other, what="another holder to take the recovered job")
        (taken,) = grabbed
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
