"""Failures and retries: backoff (fixed, exponential, jitter, cap, custom), Retry(delay),
UnrecoverableError, unknown job names, and what a failed job keeps of every attempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conveyor import (
    Backoff,
    ConfigurationError,
    Job,
    JobContext,
    JobFailedError,
    ManualClock,
    Queue,
    Retry,
    UnrecoverableError,
    Worker,
)
from conveyor.options import MAX_DURATION_S
from conveyor.worker.outcomes import backoff_delay_ms

from .helpers import FAST, checkpoint, until, until_state, with_sentinel

BOOM = RuntimeError("boom")


# -- the delay computation ------------------------------------------------------------
def test_fixed_backoff_is_constant() -> None:
    backoff = Backoff.fixed(2)
    assert [backoff_delay_ms(backoff, n, BOOM, {}) for n in (1, 2, 5)] == [2000, 2000, 2000]


def test_exponential_backoff_doubles() -> None:
    backoff = Backoff.exponential(0.5)
    assert [backoff_delay_ms(backoff, n, BOOM, {}) for n in (1, 2, 3, 4)] == [
        500,
        1000,
        2000,
        4000,
    ]


def test_max_delay_caps_exponential_backoff() -> None:
    backoff = Backoff.exponential(1, max_delay=3)
    assert [backoff_delay_ms(backoff, n, BOOM, {}) for n in (1, 2, 3, 10)] == [
        1000,
        2000,
        3000,
        3000,
    ]


def test_jitter_takes_a_random_share_off() -> None:
    backoff = Backoff.fixed(10, jitter=0.5)
    delays = [backoff_delay_ms(backoff, 1, BOOM, {}) for _ in range(200)]
    assert all(5000 <= d <= 10000 for d in delays)
    assert len(set(delays)) > 10, "jitter spreads the delays"


def test_jitter_applies_after_the_cap() -> None:
    backoff = Backoff.exponential(1, jitter=1.0, max_delay=2)
    delays = [backoff_delay_ms(backoff, 8, BOOM, {}) for _ in range(100)]
    assert all(0 <= d <= 2000 for d in delays)


def test_custom_strategy_receives_attempts_and_error() -> None:
    calls: list[tuple[int, BaseException]] = []

    def linear(attempts: int, error: BaseException) -> float:
        calls.append((attempts, error))
        return attempts * 1.5

    strategies = {"linear": linear}
    assert backoff_delay_ms(Backoff.custom("linear"), 3, BOOM, strategies) == 4500
    assert calls == [(3, BOOM)]


def test_custom_strategy_respects_max_delay() -> None:
    backoff = Backoff("linear", 0, 0, max_delay=2)
    assert backoff_delay_ms(backoff, 9, BOOM, {"linear": lambda n, e: n * 1.0}) == 2000


def test_unknown_custom_strategy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="nope"):
        backoff_delay_ms(Backoff.custom("nope"), 1, BOOM, {})


def test_no_backoff_retries_at_once() -> None:
    assert backoff_delay_ms(None, 4, BOOM, {}) == 0


# -- backoff applied by a worker ------------------------------------------------------
def failing_queue(make_queue: Callable[..., Queue], clock: ManualClock) -> tuple[Queue, list[int]]:
    queue = with_sentinel(make_queue(clock=clock))
    runs: list[int] = []

    @queue.job()
    async def fail_twice(job: JobContext[None]) -> str:
        runs.append(job.attempts_made)
        if job.attempts_made < 2:
            raise RuntimeError(f"attempt {job.attempts_made + 1} failed")
        return "finally"

    return queue, runs


async def until_retried(job: Job[Any], runs: list[int], attempts: int) -> None:
    """Await the job's ``attempts``-th failure landing it in the delayed set."""

    async def delayed() -> bool:
        return len(runs) == attempts and await job.get_state() == "delayed"

    await until(delayed, what=f"attempt {attempts} to fail and be delayed")


async def test_fixed_backoff_delays_each_retry(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue, runs = failing_queue(make_queue, clock)
    job = await queue.add("fail_twice", None, attempts=3, backoff=Backoff.fixed(10))
    async with Worker(queue, settings=FAST, clock=clock):
        for attempt in (1, 2):
            await until_retried(job, runs, attempt)
            clock.advance(9.999)
            await checkpoint(queue)
            assert await job.get_state() == "delayed", "retried before its backoff elapsed"
            clock.advance(0.001)
        assert await job.wait(timeout=10) == "finally"
    assert runs == [0, 1, 2]


async def test_exponential_backoff_delays_grow(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue, runs = failing_queue(make_queue, clock)
    job = await queue.add("fail_twice", None, attempts=3, backoff=Backoff.exponential(4))
    async with Worker(queue, settings=FAST, clock=clock):
        for attempt, expected in enumerate((4.0, 8.0), 1):
            await until_retried(job, runs, attempt)
            clock.advance(expected - 0.01)
            await checkpoint(queue)
            assert await job.get_state() == "delayed"
            clock.advance(0.01)
        assert await job.wait(timeout=10) == "finally"
    assert runs == [0, 1, 2]


async def test_custom_named_strategy_on_the_worker(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue, runs = failing_queue(make_queue, clock)
    seen: list[tuple[int, str]] = []

    def by_attempt(attempts: int, error: BaseException) -> float:
        seen.append((attempts, str(error)))
        return 100.0 * attempts

    job = await queue.add("fail_twice", None, attempts=3, backoff=Backoff.custom("by_attempt"))
    strategies = {"by_attempt": by_attempt}
    async with Worker(queue, settings=FAST, clock=clock, backoff_strategies=strategies):
        for attempt, expected in enumerate((100.0, 200.0), 1):
            await until_retried(job, runs, attempt)
            clock.advance(expected - 1)
            await checkpoint(queue)
            assert await job.get_state() == "delayed"
            clock.advance(1)
        assert await job.wait(timeout=10) == "finally"
    assert seen == [(1, "attempt 1 failed"), (2, "attempt 2 failed")]


async def test_a_strategy_asking_for_an_endless_delay_is_capped_not_fatal(
    make_queue: Callable[..., Queue],
) -> None:
    """A custom strategy may return any number: the delay is capped at the longest any
    backend stores, so the retry is stored (and other jobs' outcomes with it)."""
    clock = ManualClock()
    queue, runs = failing_queue(make_queue, clock)
    job = await queue.add("fail_twice", None, attempts=3, backoff=Backoff.custom("forever"))
    strategies = {"forever": lambda attempts, error: 1e300}
    async with Worker(queue, settings=FAST, clock=clock, backoff_strategies=strategies):
        await until_retried(job, runs, 1)
        clock.advance(MAX_DURATION_S)
        await until_retried(job, runs, 2)
    assert runs == [0, 1]


async def test_unknown_strategy_fails_the_job_with_a_clear_reason(queue: Queue) -> None:
    @queue.job()
    async def broken(job: JobContext[None]) -> None:
        raise RuntimeError("first")

    job = await queue.add("broken", None, attempts=5, backoff=Backoff.custom("missing"))
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="missing"):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.attempts_made == 1


async def test_retry_signal_sets_the_delay(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock()
    queue = with_sentinel(make_queue(clock=clock))

    @queue.job()
    async def later(job: JobContext[None]) -> int:
        if job.attempts_made == 0:
            raise Retry(7, "not yet")
        return job.attempts_made

    job = await queue.add("later", None, attempts=2, backoff=Backoff.fixed(1000))
    async with Worker(queue, settings=FAST, clock=clock):
        await until_state(job, "delayed")
        clock.advance(6.9)
        await checkpoint(queue)
        assert await job.get_state() == "delayed"
        clock.advance(0.1)
        assert await job.wait(timeout=10) == 1
    await job.refresh()
    assert job.errors[0].message == "not yet"


async def test_retry_signal_spends_an_attempt(queue: Queue) -> None:
    @queue.job()
    async def again(job: JobContext[None]) -> None:
        raise Retry(0)

    job = await queue.add("again", None, attempts=3)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.attempts_made == 3


# -- failing at once ------------------------------------------------------------------
async def test_unrecoverable_error_fails_at_once(queue: Queue) -> None:
    calls = 0

    @queue.job()
    async def hopeless(job: JobContext[None]) -> None:
        nonlocal calls
        calls += 1
        raise UnrecoverableError("card declined")

    job = await queue.add("hopeless", None, attempts=10, backoff=Backoff.fixed(0))
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="card declined") as caught:
            await job.wait(timeout=10)
    assert caught.value.job_id == job.id
    assert calls == 1
    await job.refresh()
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert job.failed_reason is not None
    assert "card declined" in job.failed_reason


async def test_unknown_job_name_fails_at_once_and_keeps_reason(queue: Queue) -> None:
    @queue.job()
    async def known(job: JobContext[None]) -> None:
        return None

    queue.declare("mystery")  # as if added by a producer that knows a name we do not
    job = await queue.add("mystery", {"x": 1}, attempts=5)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="mystery"):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert job.failed_reason is not None
    assert "unknown job name 'mystery'" in job.failed_reason
    assert "known" in job.failed_reason, "the reason names the handlers this worker has"
    assert job.data == {"x": 1}, "the payload is kept for a later retry"


async def test_failed_job_keeps_every_attempt(queue: Queue) -> None:
    @queue.job()
    async def explode(job: JobContext[None]) -> None:
        raise_in_helper(job.attempts_made + 1)

    job = await queue.add("explode", None, attempts=3)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.state == "failed"
    assert job.attempts_made == 3
    assert job.failed_reason == "KeyError: 'attempt 3'"
    assert job.finished_on is not None
    errors = job.errors
    assert [e.attempt for e in errors] == [1, 2, 3]
    assert [e.type for e in errors] == ["KeyError"] * 3
    assert [e.message for e in errors] == ["'attempt 1'", "'attempt 2'", "'attempt 3'"]
    for e in errors:
        assert "raise_in_helper" in e.stack
        assert "Traceback" in e.stack
    assert job.stacktrace == errors[-1].stack


def raise_in_helper(attempt: int) -> Any:
    raise KeyError(f"attempt {attempt}")


async def test_errors_survive_a_manual_retry(queue: Queue) -> None:
    @queue.job()
    async def fail(job: JobContext[None]) -> None:
        raise RuntimeError("nope")

    job = await queue.add("fail", None, attempts=2)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
        await job.retry()
        await until_state(job, "failed", "completed")

        async def failed_again() -> bool:
            await job.refresh()
            return job.state == "failed" and len(job.errors) == 4

        await until(failed_again, what="the retried job to fail again")
    assert [e.message for e in job.errors] == ["nope"] * 4
    assert job.attempts_made == 2


async def test_result_that_is_not_json_fails_the_job(queue: Queue) -> None:
    @queue.job()
    async def weird(job: JobContext[None]) -> object:
        return object()

    job = await queue.add("weird", None, attempts=3)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="JSON"):
            await job.wait(timeout=10)
