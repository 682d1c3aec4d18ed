"""Queue operations: read jobs and counts, pause/resume, drain, clean, obliterate, and
per-job remove, retry, promote, change_priority and update_data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from conveyor import (
    BulkJob,
    InvalidOptionsError,
    InvalidStateError,
    Job,
    JobContext,
    JobFailedError,
    JobNotFoundError,
    ManualClock,
    Queue,
    Worker,
    WorkerSettings,
)

from .helpers import FAST, total, until, until_state

ONE = WorkerSettings(concurrency=1, lease=1.0, stalled_interval=0.3, block_timeout=0.5)


class Gate:
    """A handler that holds its job active until the test opens the gate."""

    def __init__(self, queue: Queue, name: str = "held") -> None:
        self.started: list[Any] = []
        self.open = asyncio.Event()

        @queue.job(name)
        async def held(job: JobContext[Any]) -> Any:
            self.started.append(job.data)
            await self.open.wait()
            return job.data


@asynccontextmanager
async def holding(
    queue: Queue, settings: WorkerSettings = ONE
) -> AsyncIterator[tuple[Gate, Job[Any]]]:
    """A worker running one job of ``queue`` that stays active until the gate opens."""
    gate = Gate(queue)
    job = await queue.add("held", "running")
    async with Worker(queue, settings=settings):
        await until_state(job, "active")
        try:
            yield gate, job
        finally:
            gate.open.set()


async def fill(queue: Queue, clock: ManualClock | None = None) -> dict[str, list[str]]:
    """One queue with jobs in every state but active; returns ids by state."""

    @queue.job()
    async def ok(job: JobContext[Any]) -> Any:
        return job.data

    @queue.job()
    async def bad(job: JobContext[Any]) -> None:
        raise RuntimeError("bad")

    ids: dict[str, list[str]] = {"completed": [], "failed": []}
    async with Worker(queue, settings=ONE, clock=clock or ManualClock()):
        for i in range(3):
            ok_job = await queue.add("ok", i)
            await ok_job.wait(timeout=10)
            ids["completed"].append(ok_job.id)
            if clock is not None:
                clock.advance(1)
        for i in range(2):
            bad_job = await queue.add("bad", i)
            with pytest.raises(JobFailedError):
                await bad_job.wait(timeout=10)
            ids["failed"].append(bad_job.id)
            if clock is not None:
                clock.advance(1)
    ids["waiting"] = [(await queue.add("ok", f"w{i}")).id for i in range(4)]
    ids["prioritized"] = [(await queue.add("ok", f"p{i}", priority=i + 1)).id for i in range(2)]
    ids["delayed"] = [(await queue.add("ok", f"d{i}", delay=100 + i)).id for i in range(2)]
    return ids


# -- reading --------------------------------------------------------------------------
async def test_get_job_of_unknown_id_is_none(queue: Queue) -> None:
    assert await queue.get_job("nope") is None
    assert await queue.get_job("12345") is None


async def test_counts_per_state(queue: Queue) -> None:
    ids = await fill(queue)
    counts = await queue.counts()
    assert counts == {
        "waiting": 4,
        "prioritized": 2,
        "delayed": 2,
        "active": 0,
        "waiting-children": 0,
        "completed": 3,
        "failed": 2,
        "paused": 0,
    }
    for state, members in ids.items():
        for job_id in members:
            job = await queue.get_job(job_id)
            assert job is not None
            assert job.state == state


async def test_counts_include_active(queue: Queue) -> None:
    async with holding(queue) as (gate, _):
        await queue.add("held", "queued")
        counts = await queue.counts()
        assert (counts["active"], counts["waiting"]) == (1, 1)
        assert gate.started == ["running"]
        (active,) = await queue.get_jobs("active")
        assert active.data == "running"
        assert active.processed_on is not None


async def test_get_jobs_pages_in_order(queue: Queue) -> None:
    ids = [(await queue.add("noop", i)).id for i in range(7)]
    oldest = await queue.get_jobs("waiting", offset=0, limit=3, newest_first=False)
    assert [j.id for j in oldest] == ids[:3]
    page2 = await queue.get_jobs("waiting", offset=3, limit=3, newest_first=False)
    assert [j.id for j in page2] == ids[3:6]
    page3 = await queue.get_jobs("waiting", offset=6, limit=3, newest_first=False)
    assert [j.id for j in page3] == ids[6:]
    assert await queue.get_jobs("waiting", offset=7, limit=3) == []
    newest = await queue.get_jobs("waiting", offset=0, limit=2)
    assert [j.id for j in newest] == ids[:-3:-1]
    newest2 = await queue.get_jobs("waiting", offset=2, limit=2)
    assert [j.id for j in newest2] == ids[-3:-5:-1]


async def test_get_jobs_finished_by_finish_time(queue: Queue) -> None:
    clock = ManualClock()
    ids = await fill(queue, clock)
    completed = await queue.get_jobs("completed")
    assert [j.id for j in completed] == ids["completed"][::-1]
    oldest = await queue.get_jobs("completed", newest_first=False, limit=2)
    assert [j.id for j in oldest] == ids["completed"][:2]
    assert [j.result for j in oldest] == [0, 1]
    failed = await queue.get_jobs("failed", newest_first=False)
    assert [j.id for j in failed] == ids["failed"]
    assert all(j.failed_reason == "RuntimeError: bad" for j in failed)


async def test_get_jobs_delayed_and_prioritized_order(queue: Queue) -> None:
    late = await queue.add("noop", "late", delay=50)
    soon = await queue.add("noop", "soon", delay=5)
    low = await queue.add("noop", "low", priority=9)
    high = await queue.add("noop", "high", priority=1)
    delayed = await queue.get_jobs("delayed", newest_first=False)
    assert [j.id for j in delayed] == [soon.id, late.id], "by due time"
    prioritized = await queue.get_jobs("prioritized", newest_first=False)
    assert [j.id for j in prioritized] == [high.id, low.id], "in the order they will run"


@pytest.mark.parametrize(
    "kwargs",
    [{"state": "running"}, {"state": "waiting", "offset": -1}, {"state": "waiting", "limit": 0}],
)
async def test_get_jobs_refuses_bad_arguments(queue: Queue, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionsError):
        await queue.get_jobs(**kwargs)


# -- pause / resume -------------------------------------------------------------------
async def test_paused_queue_reports_paused_jobs(queue: Queue) -> None:
    job = await queue.add("noop", None)
    assert not await queue.is_paused()
    await queue.pause()
    assert await queue.is_paused()
    counts = await queue.counts()
    assert (counts["paused"], counts["waiting"]) == (1, 0)
    assert await job.get_state() == "paused"
    assert [j.id for j in await queue.get_jobs("paused")] == [job.id]
    assert await queue.get_jobs("waiting") == []
    await queue.resume()
    assert not await queue.is_paused()
    assert await job.get_state() == "waiting"
    assert (await queue.counts())["waiting"] == 1


async def test_worker_takes_nothing_while_paused_and_resumes(queue: Queue) -> None:
    done: list[str] = []

    @queue.job()
    async def work(job: JobContext[str]) -> None:
        done.append(job.data)

    async with holding(queue, FAST) as (gate, held):
        await queue.pause()
        waiting = await queue.add("work", "after-pause")
        gate.open.set()
        # The call that stores the held job's completion is the one that would fetch more.
        await held.wait(timeout=10)
        assert await waiting.get_state() == "paused"
        assert done == []
        await queue.resume()
        await waiting.wait(timeout=10)
    assert done == ["after-pause"]


async def test_pause_lets_running_jobs_finish(queue: Queue) -> None:
    async with holding(queue) as (gate, held):
        await queue.pause()
        gate.open.set()
        assert await held.wait(timeout=10) == "running"


# -- drain ----------------------------------------------------------------------------
async def test_drain_removes_waiting_and_prioritized_but_not_delayed(queue: Queue) -> None:
    ids = await fill(queue)
    removed = await queue.drain()
    assert removed == 6
    counts = await queue.counts()
    assert (counts["waiting"], counts["prioritized"], counts["delayed"]) == (0, 0, 2)
    assert (counts["completed"], counts["failed"]) == (3, 2)
    for job_id in ids["waiting"] + ids["prioritized"]:
        assert await queue.get_job(job_id) is None


async def test_drain_with_delayed(queue: Queue) -> None:
    await fill(queue)
    assert await queue.drain(include_delayed=True) == 8
    counts = await queue.counts()
    assert (counts["waiting"], counts["prioritized"], counts["delayed"]) == (0, 0, 0)
    assert counts["completed"] == 3


async def test_drain_paused_queue_and_leave_active(queue: Queue) -> None:
    async with holding(queue) as (_, held):
        await queue.pause()
        await queue.add("held", 1)
        await queue.add("held", 2)
        assert await queue.drain() == 2
        assert (await queue.counts())["paused"] == 0
        assert await held.get_state() == "active"


# -- clean ----------------------------------------------------------------------------
async def test_clean_finished_by_age(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    ids = await fill(queue, clock)  # completed at t0, t0+1, t0+2; failed at t0+3, t0+4
    # now is t0+5: completed jobs are 5, 4 and 3 seconds old.
    removed = await queue.clean("completed", older_than=3.5)
    assert sorted(removed) == sorted(ids["completed"][:2])
    assert [j.id for j in await queue.get_jobs("completed")] == [ids["completed"][2]]
    for job_id in removed:
        assert await queue.get_job(job_id) is None
    assert await queue.clean("failed", older_than=60) == []
    assert sorted(await queue.clean("failed")) == sorted(ids["failed"])
    assert (await queue.counts())["failed"] == 0


async def test_clean_respects_limit(queue: Queue) -> None:
    await fill(queue)
    removed = await queue.clean("completed", limit=2)
    assert len(removed) == 2
    assert (await queue.counts())["completed"] == 1


async def test_clean_unstarted_states_by_creation_time(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    old = await queue.add("noop", "old")
    old_delayed = await queue.add("noop", "old", delay=1000)
    old_prio = await queue.add("noop", "old", priority=3)
    clock.advance(100)
    new = await queue.add("noop", "new")
    assert await queue.clean("waiting", older_than=50) == [old.id]
    assert await queue.clean("delayed", older_than=50) == [old_delayed.id]
    assert await queue.clean("prioritized", older_than=50) == [old_prio.id]
    assert [j.id for j in await queue.get_jobs("waiting")] == [new.id]
    assert total(await queue.counts()) == 1


async def test_clean_paused_jobs(queue: Queue) -> None:
    job = await queue.add("noop", None)
    await queue.pause()
    assert await queue.clean("paused") == [job.id]
    assert total(await queue.counts()) == 0


async def test_clean_active_is_refused(queue: Queue) -> None:
    with pytest.raises(InvalidOptionsError):
        await queue.clean("active")


@pytest.mark.parametrize(
    "kwargs",
    [{"state": "running"}, {"limit": 0}, {"limit": -1}, {"older_than": -5}],
    ids=repr,
)
async def test_clean_refuses_bad_arguments(queue: Queue, kwargs: dict[str, Any]) -> None:
    await queue.add("noop", None)
    with pytest.raises(InvalidOptionsError):
        await queue.clean(**{"state": "waiting", **kwargs})
    assert (await queue.counts())["waiting"] == 1


# -- obliterate -----------------------------------------------------------------------
async def test_obliterate_removes_everything(queue: Queue) -> None:
    ids = await fill(queue)
    await queue.pause()
    await queue.obliterate()
    assert total(await queue.counts()) == 0
    for members in ids.values():
        for job_id in members:
            assert await queue.get_job(job_id) is None
    assert not await queue.is_paused(), "an obliterated queue starts afresh"
    job = await queue.add("ok", None)
    assert job.state == "waiting"


async def test_obliterate_refuses_while_jobs_are_active(queue: Queue) -> None:
    async with holding(queue) as (_, held):
        await queue.add("held", "waiting")
        with pytest.raises(InvalidStateError, match="active"):
            await queue.obliterate()
        counts = await queue.counts()
        assert (counts["active"], counts["waiting"]) == (1, 1), "nothing was deleted"
        assert not await queue.is_paused()
        await queue.obliterate(force=True)
        assert total(await queue.counts()) == 0
        assert await queue.get_job(held.id) is None


async def test_obliterate_many_jobs(queue: Queue) -> None:
    await queue.add_bulk([BulkJob("noop", i) for i in range(12_000)])
    await queue.obliterate()
    assert total(await queue.counts()) == 0


async def test_generated_ids_never_repeat_after_obliterate(queue: Queue) -> None:
    before = {job.id for job in await queue.add_bulk([BulkJob("noop", i) for i in range(3)])}
    await queue.obliterate()
    assert queue.name not in await queue.backend.queues(), "an obliterated queue is unlisted"
    after = await queue.add("noop", None)
    assert after.id not in before, f"id {after.id} was given again after obliterate"
    assert int(after.id) > max(int(i) for i in before)


# -- remove ---------------------------------------------------------------------------
async def test_remove_jobs_in_each_state(queue: Queue) -> None:
    ids = await fill(queue)
    for state, members in ids.items():
        job = await queue.get_job(members[0])
        assert job is not None
        await job.remove()
        assert await queue.get_job(members[0]) is None, state
    counts = await queue.counts()
    assert counts["waiting"] == 3
    assert counts["prioritized"] == 1
    assert counts["delayed"] == 1
    assert counts["completed"] == 2
    assert counts["failed"] == 1


async def test_remove_refuses_active_and_unknown_jobs(queue: Queue) -> None:
    with pytest.raises(JobNotFoundError):
        await queue.remove("missing")
    async with holding(queue) as (_, held):
        with pytest.raises(InvalidStateError):
            await queue.remove(held.id)
        assert await held.get_state() == "active"


async def test_removed_waiting_job_never_runs(queue: Queue) -> None:
    ran: list[str] = []

    @queue.job()
    async def work(job: JobContext[str]) -> None:
        ran.append(job.data)

    doomed = await queue.add("work", "doomed")
    kept = await queue.add("work", "kept")
    await doomed.remove()
    async with Worker(queue, settings=ONE):
        await kept.wait(timeout=10)
    assert ran == ["kept"]


# -- retry ----------------------------------------------------------------------------
async def test_retry_one_failed_job(queue: Queue) -> None:
    fail = True

    @queue.job()
    async def flaky(job: JobContext[None]) -> str:
        if fail:
            raise RuntimeError("down")
        return "up"

    job = await queue.add("flaky", None, attempts=2)
    other = await queue.add("flaky", None)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
        with pytest.raises(JobFailedError):
            await other.wait(timeout=10)
        fail = False
        assert await queue.retry(job.id) == 1
        assert await job.wait(timeout=10) == "up"
    await job.refresh()
    assert job.attempts_made == 1, "a retried job gets a fresh set of attempts"
    assert job.failed_reason is None
    assert await other.get_state() == "failed"


async def test_error_history_numbers_attempts_across_manual_retries(queue: Queue) -> None:
    @queue.job()
    async def down(job: JobContext[None]) -> None:
        raise RuntimeError(f"down on run {job.attempts_made + 1}")

    job = await queue.add("down", None, attempts=2)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
        assert await queue.retry(job.id) == 1
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    await job.refresh()
    assert [e.attempt for e in job.errors] == [1, 2, 3, 4]
    assert [e.message for e in job.errors] == ["down on run 1", "down on run 2"] * 2


async def test_retry_all_failed_jobs(queue: Queue) -> None:
    ids = await fill(queue)
    assert await queue.retry() == 2
    counts = await queue.counts()
    assert (counts["failed"], counts["waiting"]) == (0, 6)
    for job_id in ids["failed"]:
        job = await queue.get_job(job_id)
        assert job is not None
        assert (job.state, job.attempts_made, job.finished_on) == ("waiting", 0, None)
    assert await queue.retry() == 0


async def test_retry_refuses_jobs_that_are_not_failed(queue: Queue) -> None:
    job = await queue.add("noop", None)
    with pytest.raises(InvalidStateError):
        await queue.retry(job.id)
    with pytest.raises(JobNotFoundError):
        await queue.retry("missing")


# -- promote --------------------------------------------------------------------------
async def test_promote_delayed_job(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)

    @queue.job()
    async def work(job: JobContext[None]) -> str:
        return "ran"

    job = await queue.add("work", None, delay=3600)
    prio = await queue.add("work", None, delay=3600, priority=4)
    await job.promote()
    await prio.promote()
    assert await job.get_state() == "waiting"
    assert await prio.get_state() == "prioritized"
    async with Worker(queue, settings=FAST, clock=clock):
        assert await job.wait(timeout=10) == "ran"
        assert await prio.wait(timeout=10) == "ran"


async def test_promote_refuses_jobs_that_are_not_delayed(queue: Queue) -> None:
    job = await queue.add("noop", None)
    with pytest.raises(InvalidStateError):
        await job.promote()
    with pytest.raises(JobNotFoundError):
        await queue.promote("missing")


# -- change priority ------------------------------------------------------------------
async def test_change_priority_reorders_waiting_jobs(queue: Queue) -> None:
    seen: list[str] = []

    @queue.job()
    async def record(job: JobContext[str]) -> None:
        seen.append(job.data)

    a = await queue.add("record", "a", priority=5)
    b = await queue.add("record", "b", priority=5)
    c = await queue.add("record", "c")
    await b.change_priority(1)
    await c.change_priority(9)
    await a.change_priority(0)
    assert await a.get_state() == "waiting"
    assert await c.get_state() == "prioritized"
    await b.refresh()
    assert b.priority == 1

    async def all_done() -> bool:
        return (await queue.counts())["completed"] == 3

    async with Worker(queue, settings=ONE):
        await until(all_done)
    assert seen == ["a", "b", "c"]


async def test_change_priority_of_delayed_job_applies_when_due(queue: Queue) -> None:
    job = await queue.add("noop", None, delay=60)
    await job.change_priority(3)
    assert await job.get_state() == "delayed"
    await job.promote()
    assert await job.get_state() == "prioritized"


async def test_change_priority_refuses_bad_values(queue: Queue) -> None:
    job = await queue.add("noop", None)
    for bad in (-1, 2_097_153, 1.5, True):
        with pytest.raises(InvalidOptionsError):
            await job.change_priority(bad)  # type: ignore[arg-type]
    with pytest.raises(JobNotFoundError):
        await queue.change_priority("missing", 1)


async def test_change_priority_of_lifo_job(queue: Queue) -> None:
    job = await queue.add("noop", None, lifo=True)
    await job.change_priority(2)
    assert await job.get_state() == "prioritized"


# -- update data ----------------------------------------------------------------------
async def test_update_data_before_the_job_runs(queue: Queue) -> None:
    @queue.job()
    async def echo(job: JobContext[Any]) -> Any:
        return job.data

    job = await queue.add("echo", {"v": 1})
    await job.update_data({"v": 2})
    assert (await queue.get_job(job.id)).data == {"v": 2}  # type: ignore[union-attr]
    async with Worker(queue, settings=ONE):
        assert await job.wait(timeout=10) == {"v": 2}


async def test_update_data_of_missing_job(queue: Queue) -> None:
    with pytest.raises(JobNotFoundError):
        await queue.update_data("missing", 1)
