"""``state_counts`` (kept by every state change, so counts never scan) always equals the
jobs actually stored in each state, through every kind of change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conveyor import Backoff, BulkJob, JobContext, Queue, Worker
from conveyor.backends.base import Lease, Outcome
from conveyor.options import retention_ms
from conveyor.worker.outcomes import STALLED_REASON
from tests.conformance.helpers import FAST, until

Tally = dict[tuple[str, str], int]


def stored_vs_counted(db_path: Path) -> tuple[Tally, Tally]:
    conn = sqlite3.connect(db_path)
    try:
        stored = {
            (q, s): n
            for q, s, n in conn.execute("SELECT queue, state, COUNT(*) FROM jobs GROUP BY 1, 2")
        }
        counted = {
            (q, s): n for q, s, n in conn.execute("SELECT queue, state, n FROM state_counts") if n
        }
    finally:
        conn.close()
    return stored, counted


async def test_counts_follow_every_kind_of_change(producer: Queue, db_path: Path) -> None:
    queue = producer
    calls = 0

    @queue.job()
    async def flaky(job: JobContext[int]) -> int:
        nonlocal calls
        calls += 1
        if job.data % 3 == 0 and job.attempts_made == 0:
            raise RuntimeError("first attempt fails")
        if job.data % 7 == 0:
            raise RuntimeError("always fails")
        return job.data

    await queue.add_bulk(BulkJob("flaky", i) for i in range(40))
    await queue.add_bulk(
        BulkJob("flaky", i, options={"priority": 1 + i % 3, "attempts": 2,
                                      "backoff": Backoff.fixed(0.01)})
        for i in range(40, 60)
    )
    delayed = [await queue.add("flaky", i, delay=3600) for i in range(60, 66)]
    await queue.add("flaky", 66, lifo=True)
    await queue.add("flaky", 67, remove_on_complete=True)
    await queue.change_priority(delayed[0].id, 5)
    first = (await queue.get_jobs("waiting", limit=1))[0]
    await queue.change_priority(first.id, 2)
    await queue.promote(delayed[1].id)
    await queue.remove(delayed[2].id)

    async with Worker(queue, settings=FAST):
        async def settled() -> bool:
            counts = await queue.counts()
            return counts["waiting"] + counts["prioritized"] + counts["active"] == 0

        await until(settled, 20, "the ready jobs to settle")
    await queue.retry()
    await queue.clean("completed", limit=5)
    await queue.drain(include_delayed=False)

    # A stalled recovery and a stalled failure.
    job = await queue.add("flaky", 1000)
    holder = Lease("gone", 60_000)

    (fetched,) = (await queue.backend.finish_and_fetch(queue.name, holder, [], 1, 0)).jobs
    assert fetched.job_id == job.id
    await queue.backend.release_lease(queue.name, holder)

    async def recovered() -> bool:  # the worker's last check may still hold the guard
        report = await queue.backend.check_stalled(queue.name, 1, 1, 0, STALLED_REASON)
        return bool(report.recovered)

    await until(recovered, 5, "the stalled check to recover the job")
    (again,) = (await queue.backend.finish_and_fetch(queue.name, holder, [], 1, 0)).jobs
    assert again.job_id == job.id
    await queue.backend.release_lease(queue.name, holder)

    async def stalled_out() -> bool:
        report = await queue.backend.check_stalled(queue.name, 1, 1, 0, STALLED_REASON)
        return bool(report.failed)

    await until(stalled_out, 5, "the stalled check to fail the job")

    stored, counted = stored_vs_counted(db_path)
    assert stored == counted
    assert calls > 0

    other = Queue(f"{queue.name}-x", backend=queue.backend)
    await other.add_bulk(BulkJob("noop") for _ in range(10))
    await other.obliterate()
    stored, counted = stored_vs_counted(db_path)
    assert stored == counted
    assert not any(q == other.name for q, _ in counted)


async def test_counts_follow_retention_trimming(producer: Queue, db_path: Path) -> None:
    holder = Lease("w", 60_000)
    await producer.add_bulk(BulkJob("noop") for _ in range(30))
    jobs = (await producer.backend.finish_and_fetch(producer.name, holder, [], 30, 1)).jobs
    outcomes = [
        Outcome(j.job_id, j.token, "complete", 1, retention=retention_ms(5)) for j in jobs
    ]
    await producer.backend.finish_and_fetch(producer.name, holder, outcomes, 0, 2)
    assert (await producer.counts())["completed"] == 5
    stored, counted = stored_vs_counted(db_path)
    assert stored == counted
