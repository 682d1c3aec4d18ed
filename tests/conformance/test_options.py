"""Per-job options and queue defaults: priority, delay, lifo, attempts, timeout; bad options."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from conveyor import (
    Backoff,
    InvalidOptionsError,
    JobContext,
    JobFailedError,
    JobOptions,
    KeepJobs,
    ManualClock,
    Queue,
    Worker,
    WorkerSettings,
)
from conveyor.options import MAX_ATTEMPTS, MAX_DURATION_S

from .helpers import FAST, checkpoint, total, until, until_state, with_sentinel

ONE_AT_A_TIME = WorkerSettings(
    concurrency=1, lease=1.0, stalled_interval=0.3, block_timeout=0.5, grace=5
)


def recorder(queue: Queue) -> list[Any]:
    seen: list[Any] = []

    @queue.job()
    async def record(job: JobContext[Any]) -> None:
        seen.append(job.data)

    return seen


async def run_all(queue: Queue, count: int, settings: WorkerSettings = ONE_AT_A_TIME) -> None:
    async def done() -> bool:
        return (await queue.counts())["completed"] == count

    async with Worker(queue, settings=settings):
        deadline = asyncio.get_running_loop().time() + 10
        while not await done():
            assert asyncio.get_running_loop().time() < deadline, "jobs did not all complete"
            await asyncio.sleep(0.01)


# -- priority -------------------------------------------------------------------------
async def test_priority_lower_number_first_unprioritized_before_all(queue: Queue) -> None:
    seen = recorder(queue)
    await queue.add("record", "p5", priority=5)
    await queue.add("record", "none-1")
    await queue.add("record", "p1-a", priority=1)
    await queue.add("record", "p1-b", priority=1)
    await queue.add("record", "p2", priority=2)
    await queue.add("record", "none-2", priority=0)
    counts = await queue.counts()
    assert (counts["waiting"], counts["prioritized"]) == (2, 4)
    await run_all(queue, 6)
    assert seen == ["none-1", "none-2", "p1-a", "p1-b", "p2", "p5"]


async def test_fifo_within_one_priority(queue: Queue) -> None:
    seen = recorder(queue)
    for i in range(20):
        await queue.add("record", i, priority=3)
    await run_all(queue, 20)
    assert seen == list(range(20))


async def test_prioritized_state_reported(queue: Queue) -> None:
    job = await queue.add("noop", None, priority=9)
    assert job.state == "prioritized"
    assert await job.get_state() == "prioritized"
    assert job.priority == 9
    assert [j.id for j in await queue.get_jobs("prioritized")] == [job.id]


# -- lifo -----------------------------------------------------------------------------
async def test_lifo_jobs_run_before_earlier_fifo_jobs(queue: Queue) -> None:
    seen = recorder(queue)
    await queue.add("record", "fifo-1")
    await queue.add("record", "fifo-2")
    await queue.add("record", "lifo-1", lifo=True)
    await queue.add("record", "lifo-2", lifo=True)
    await run_all(queue, 4)
    assert seen == ["lifo-2", "lifo-1", "fifo-1", "fifo-2"]


# -- delay ----------------------------------------------------------------------------
async def test_delayed_job_runs_only_once_its_time_comes(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = with_sentinel(make_queue(clock=clock))
    seen = recorder(queue)
    job = await queue.add("record", "later", delay=30)
    assert job.state == "delayed"
    assert (await queue.counts())["delayed"] == 1
    async with Worker(queue, settings=FAST, clock=clock):
        await checkpoint(queue)
        clock.advance(29.9)
        await checkpoint(queue)
        assert await job.get_state() == "delayed"
        assert seen == []
        clock.advance(0.1)
        await until_state(job, "completed")
    assert seen == ["later"]


async def test_delay_accepts_timedelta_and_orders_by_due_time(
    make_queue: Callable[..., Queue],
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    seen = recorder(queue)
    await queue.add("record", "b", delay=timedelta(seconds=20))
    await queue.add("record", "a", delay=10)
    delayed = await queue.get_jobs("delayed", newest_first=False)
    assert [j.data for j in delayed] == ["a", "b"], "delayed jobs list by due time"
    clock.advance(60)
    async with Worker(queue, settings=ONE_AT_A_TIME, clock=clock):
        await run_until_completed(queue, 2)
    assert seen == ["a", "b"]


async def test_every_duration_of_the_api_takes_a_timedelta(
    make_queue: Callable[..., Queue],
) -> None:
    """Seconds or a timedelta wherever a duration is taken, never milliseconds: a BullMQ
    habit of timeout=60000 would be 16.7 hours; a timedelta says what it means."""
    clock = ManualClock()
    queue = make_queue(clock=clock)
    seen = recorder(queue)
    job = await queue.add(
        "record", "x", delay=timedelta(minutes=5), timeout=timedelta(seconds=30),
        backoff=Backoff.fixed(timedelta(seconds=2)), remove_on_complete=KeepJobs(
            age=timedelta(hours=1)
        ),
    )
    assert job.options.timeout == 30
    clock.advance(timedelta(minutes=4))
    worker = Worker(
        queue, settings=WorkerSettings(lease=timedelta(seconds=2), block_timeout=0.05),
        clock=clock,
    )
    await worker.start()
    assert await job.get_state() == "delayed", "4 of the 5 minutes have passed"
    clock.advance(timedelta(minutes=1))
    assert await job.wait(timeout=timedelta(seconds=10)) is None
    await worker.stop(grace=timedelta(seconds=1))
    assert seen == ["x"]


async def run_until_completed(queue: Queue, count: int) -> None:
    async def done() -> bool:
        return (await queue.counts())["completed"] == count

    await until(done, what=f"{count} completed jobs")


async def test_delayed_prioritized_job_keeps_its_priority(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    seen = recorder(queue)
    await queue.add("record", "late-urgent", delay=5, priority=1)
    await queue.add("record", "normal-low", priority=9)
    clock.advance(5)
    await run_all_with_clock(queue, clock, 2)
    assert seen == ["late-urgent", "normal-low"]


async def run_all_with_clock(queue: Queue, clock: ManualClock, count: int) -> None:
    async with Worker(queue, settings=ONE_AT_A_TIME, clock=clock):
        await run_until_completed(queue, count)


# -- attempts -------------------------------------------------------------------------
async def test_attempts_retry_until_success(queue: Queue) -> None:
    @queue.job()
    async def flaky(job: JobContext[None]) -> int:
        if job.attempts_made < 2:
            raise RuntimeError(f"boom {job.attempts_made}")
        return job.attempts_made

    job = await queue.add("flaky", None, attempts=5)
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 2
    await job.refresh()
    assert job.attempts_made == 3
    assert [e.message for e in job.errors] == ["boom 0", "boom 1"]
    assert job.failed_reason is None, "a job that completed has no failure reason"


async def test_attempts_exhausted_fails(queue: Queue) -> None:
    calls = 0

    @queue.job()
    async def broken(job: JobContext[None]) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("always")

    job = await queue.add("broken", None, attempts=3)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="always"):
            await job.wait(timeout=10)
    assert calls == 3
    await job.refresh()
    assert job.state == "failed"
    assert job.attempts_made == 3
    assert [e.attempt for e in job.errors] == [1, 2, 3]


# -- timeout --------------------------------------------------------------------------
async def test_timeout_cancels_handler_and_fails_attempt(queue: Queue) -> None:
    cancelled = 0
    started = 0

    @queue.job()
    async def hang(job: JobContext[None]) -> None:
        nonlocal cancelled, started
        started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    job = await queue.add("hang", None, timeout=0.1, attempts=2)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="timeout"):
            await job.wait(timeout=10)
    assert (started, cancelled) == (2, 2)
    await job.refresh()
    assert job.attempts_made == 2
    assert [e.type for e in job.errors] == ["TimeoutError", "TimeoutError"]
    assert job.failed_reason is not None
    assert "timeout" in job.failed_reason


async def test_timeout_then_retry_can_succeed(queue: Queue) -> None:
    @queue.job()
    async def slow_first(job: JobContext[None]) -> str:
        if job.attempts_made == 0:
            await asyncio.Event().wait()
        return "ok"

    job = await queue.add("slow_first", None, timeout=timedelta(milliseconds=100), attempts=2)
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == "ok"
    await job.refresh()
    assert job.attempts_made == 2
    assert len(job.errors) == 1


# -- queue defaults -------------------------------------------------------------------
async def test_queue_defaults_apply_and_add_overrides(make_queue: Callable[..., Queue]) -> None:
    defaults = JobOptions(
        attempts=4,
        priority=3,
        backoff=Backoff.fixed(2),
        timeout=30,
        remove_on_complete=5,
        remove_on_fail=KeepJobs(count=10, age=3600),
        dead_letter="somewhere",
    )
    queue = make_queue(defaults=defaults)
    plain = await queue.add("noop", None)
    assert plain.state == "prioritized"
    assert plain.options == defaults
    override = await queue.add("noop", None, priority=0, attempts=1, remove_on_complete=True)
    assert override.state == "waiting"
    stored = await queue.get_job(override.id)
    assert stored is not None
    opts = stored.options
    assert (opts.priority, opts.attempts, opts.remove_on_complete) == (0, 1, True)
    assert opts.backoff == Backoff.fixed(2), "options not overridden keep the queue default"
    assert opts.dead_letter == "somewhere"


async def test_queue_default_delay_applies(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(defaults=JobOptions(delay=10))
    assert (await queue.add("noop", None)).state == "delayed"
    assert (await queue.add("noop", None, delay=0)).state == "waiting"


async def test_options_round_trip(queue: Queue) -> None:
    job = await queue.add(
        "noop",
        None,
        attempts=7,
        backoff=Backoff.exponential(1.5, jitter=0.25, max_delay=60),
        timeout=12.5,
        remove_on_complete=KeepJobs(age=600),
        remove_on_fail=False,
        dead_letter="dlq",
    )
    stored = await queue.get_job(job.id)
    assert stored is not None
    opts = stored.options
    assert opts.attempts == 7
    assert opts.backoff == Backoff("exponential", 1.5, 0.25, 60.0)
    assert opts.timeout == 12.5
    assert opts.remove_on_complete == KeepJobs(age=600)
    assert opts.remove_on_fail is False
    assert opts.dead_letter == "dlq"


def test_invalid_queue_defaults_are_refused() -> None:
    with pytest.raises(InvalidOptionsError):
        JobOptions(attempts=0)


# -- invalid options ------------------------------------------------------------------
INVALID: list[dict[str, Any]] = [
    {"attempts": 0},
    {"attempts": -2},
    {"attempts": "3"},
    {"attempts": 2.5},
    {"attempts": True},
    {"priority": -1},
    {"priority": 2_097_153},
    {"priority": 1.5},
    {"priority": True},
    {"delay": -1},
    {"delay": float("nan")},
    {"delay": "soon"},
    {"delay": None},
    {"delay": 1e17},
    {"delay": float("inf")},
    {"attempts": 10**30},
    {"timeout": 1e17},
    {"timeout": 0},
    {"timeout": -5},
    {"timeout": "long"},
    {"lifo": True, "priority": 2},
    {"remove_on_complete": -1},
    {"remove_on_complete": "yes"},
    {"remove_on_fail": KeepJobs(count=-1)},
    {"remove_on_fail": KeepJobs(age=-1)},
    {"remove_on_fail": KeepJobs(age=1e17)},
    {"backoff": Backoff("fixed", 1e17)},
    {"backoff": Backoff("fixed", 1.0, jitter=1.5)},
    {"backoff": Backoff("fixed", -1.0)},
    {"backoff": Backoff("", 1.0)},
    {"backoff": "exponential"},
    {"dead_letter": ""},
    {"dead_letter": "not a queue name!"},
    {"retries": 3},
]


@pytest.mark.parametrize("options", INVALID, ids=[repr(o) for o in INVALID])
async def test_invalid_options_raise_and_store_nothing(
    queue: Queue, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidOptionsError):
        await queue.add("noop", {"x": 1}, **options)
    assert total(await queue.counts()) == 0
    assert await queue.get_jobs("waiting") == []


async def test_the_longest_durations_are_accepted_on_every_backend(queue: Queue) -> None:
    """The limits are the engine's, not a backend's: what one backend stores, all do."""
    longest = MAX_DURATION_S
    job = await queue.add(
        "noop",
        None,
        delay=longest,
        timeout=longest,
        attempts=MAX_ATTEMPTS,
        backoff=Backoff.exponential(longest, max_delay=longest),
        remove_on_fail=KeepJobs(age=longest),
    )
    assert await job.get_state() == "delayed"
    assert job.options.attempts == MAX_ATTEMPTS
    (page,) = await queue.get_jobs("delayed")
    assert page.id == job.id


def test_backoff_constructors_refuse_negative_delays() -> None:
    with pytest.raises(InvalidOptionsError):
        Backoff.fixed(-1)
    with pytest.raises(InvalidOptionsError):
        Backoff.exponential(1, max_delay=-3)


async def test_timedelta_durations_travel_with_the_job(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    defaults = JobOptions(
        delay=timedelta(seconds=30),
        timeout=timedelta(seconds=20),
        backoff=Backoff("fixed", timedelta(seconds=2)),  # type: ignore[arg-type]
        remove_on_complete=KeepJobs(age=timedelta(hours=1)),  # type: ignore[arg-type]
    )
    assert defaults.delay == 30.0
    queue = make_queue(defaults=defaults, clock=clock)
    seen = recorder(queue)
    job = await queue.add("record", "x")
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.options == defaults
    assert stored.options.remove_on_complete == KeepJobs(age=3600.0)
    clock.advance(30)
    await run_all_with_clock(queue, clock, 1)
    assert seen == ["x"], "a worker reads the stored options"
