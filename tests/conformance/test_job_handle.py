"""The job handle: state, progress, logs, result, failure details and ``wait``, as seen
from another Queue object (another process's view) on the same backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from conveyor import (
    JobContext,
    JobFailedError,
    JobNotFoundError,
    ManualClock,
    Queue,
    Worker,
    WorkerSettings,
)

from .helpers import FAST, until, until_state


def remote(queue: Queue) -> Queue:
    """Another handle on the same queue with no handlers registered: a producer's view."""
    return Queue(queue.name, backend=queue.backend)


async def test_state_moves_through_the_lifecycle(queue: Queue) -> None:
    step = asyncio.Event()

    @queue.job()
    async def slow(job: JobContext[None]) -> str:
        await step.wait()
        return "done"

    job = await queue.add("slow", None)
    assert job.state == "waiting"
    assert job.processed_on is None
    async with Worker(queue, settings=FAST):
        await until_state(job, "active")
        assert job.processed_on is not None
        assert job.finished_on is None
        assert job.result is None
        step.set()
        await until_state(job, "completed")
    assert job.finished_on is not None
    assert job.finished_on >= job.processed_on >= job.timestamp
    assert job.result == "done"
    assert job.attempts_made == 1
    assert job.failed_reason is None


async def test_progress_is_visible_remotely_while_running(queue: Queue) -> None:
    steps = [asyncio.Event() for _ in range(3)]

    @queue.job()
    async def report(job: JobContext[None]) -> None:
        await job.update_progress(10)
        await steps[0].wait()
        await job.update_progress({"done": 5, "of": 10})
        await steps[1].wait()
        await job.update_progress(99.5)
        await steps[2].wait()

    job = await queue.add("report", None)
    view = await remote(queue).get_job(job.id)
    assert view is not None
    assert view.progress is None
    async with Worker(queue, settings=FAST):
        for expected, step in zip([10, {"done": 5, "of": 10}, 99.5], steps, strict=True):

            async def shows(value: Any = expected) -> bool:
                return (await view.refresh()).progress == value

            await until(shows, what=f"progress {expected}")
            step.set()
        await job.wait(timeout=10)
    assert (await view.refresh()).progress == 99.5, "progress stays after completion"


async def test_logs_are_kept_in_order_and_paged(queue: Queue) -> None:
    @queue.job()
    async def chatty(job: JobContext[None]) -> None:
        for i in range(5):
            await job.log(f"line {i}")

    job = await queue.add("chatty", None)
    async with Worker(queue, settings=FAST):
        await job.wait(timeout=10)
    view = await remote(queue).get_job(job.id)
    assert view is not None
    assert await view.logs() == [f"line {i}" for i in range(5)]
    assert await view.logs(offset=1, limit=2) == ["line 1", "line 2"]
    assert await view.logs(offset=10) == []


async def test_logs_keep_the_newest_lines(queue: Queue) -> None:
    @queue.job()
    async def chatty(job: JobContext[None]) -> None:
        for i in range(8):
            await job.log(f"line {i}")

    job = await queue.add("chatty", None)
    settings = WorkerSettings(concurrency=1, lease=1.0, block_timeout=0.5, log_keep=3)
    async with Worker(queue, settings=settings):
        await job.wait(timeout=10)
    assert await job.logs() == ["line 5", "line 6", "line 7"]


async def test_logs_across_attempts(queue: Queue) -> None:
    @queue.job()
    async def retried(job: JobContext[None]) -> None:
        await job.log(f"attempt {job.attempts_made + 1}")
        if job.attempts_made == 0:
            raise RuntimeError("again")

    job = await queue.add("retried", None, attempts=2)
    async with Worker(queue, settings=FAST):
        await job.wait(timeout=10)
    assert await job.logs() == ["attempt 1", "attempt 2"]


async def test_removed_job_loses_its_logs(queue: Queue) -> None:
    @queue.job()
    async def chatty(job: JobContext[None]) -> None:
        await job.log("hello")

    job = await queue.add("chatty", None)
    async with Worker(queue, settings=FAST):
        await job.wait(timeout=10)
    await job.remove()
    assert await job.logs() == []
    with pytest.raises(JobNotFoundError):
        await job.refresh()


async def test_result_and_failure_seen_remotely(queue: Queue) -> None:
    @queue.job()
    async def maybe(job: JobContext[bool]) -> dict[str, Any]:
        if not job.data:
            raise ValueError("told to fail")
        return {"ok": True, "items": [1, 2]}

    good = await queue.add("maybe", True)
    bad = await queue.add("maybe", False, attempts=2)
    async with Worker(queue, settings=FAST):
        await good.wait(timeout=10)
        with pytest.raises(JobFailedError):
            await bad.wait(timeout=10)
    view = remote(queue)
    good_view = await view.get_job(good.id)
    bad_view = await view.get_job(bad.id)
    assert good_view is not None
    assert bad_view is not None
    assert good_view.result == {"ok": True, "items": [1, 2]}
    assert bad_view.failed_reason == "ValueError: told to fail"
    assert bad_view.result is None
    assert len(bad_view.errors) == 2
    assert bad_view.stacktrace is not None
    assert "told to fail" in bad_view.stacktrace
    assert all("ValueError: told to fail" in e.stack for e in bad_view.errors)
    assert bad_view.errors[0].at <= bad_view.errors[1].at


async def test_error_time_uses_the_worker_clock(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock(start_ms=1_700_000_000_000)
    queue = make_queue(clock=clock)

    @queue.job()
    async def fail(job: JobContext[None]) -> None:
        raise RuntimeError("x")

    job = await queue.add("fail", None)
    async with Worker(queue, settings=FAST, clock=clock):
        with pytest.raises(JobFailedError):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.timestamp == 1_700_000_000_000
    assert job.errors[0].at == 1_700_000_000_000
    assert job.finished_on == 1_700_000_000_000


async def test_wait_returns_result(queue: Queue) -> None:
    @queue.job()
    async def add_one(job: JobContext[int]) -> int:
        return job.data + 1

    job = await queue.add("add_one", 41)
    waiter = asyncio.ensure_future(job.wait(timeout=10))
    async with Worker(queue, settings=FAST):
        assert await waiter == 42
        assert await job.wait(timeout=1) == 42, "waiting on a finished job returns at once"


async def test_wait_raises_for_failed_job(queue: Queue) -> None:
    @queue.job()
    async def nope(job: JobContext[None]) -> None:
        raise RuntimeError("broken pipe")

    job = await queue.add("nope", None)
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match="broken pipe") as caught:
            await job.wait(timeout=10)
    assert caught.value.reason == "RuntimeError: broken pipe"
    assert caught.value.queue == queue.name
    with pytest.raises(JobFailedError):
        await job.wait(timeout=1)


async def test_wait_times_out(queue: Queue) -> None:
    job = await queue.add("nobody-runs-this", None)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await job.wait(timeout=0.2)
    assert asyncio.get_running_loop().time() - started < 2


async def test_wait_from_another_queue_object(queue: Queue) -> None:
    @queue.job()
    async def hello(job: JobContext[str]) -> str:
        return f"hello {job.data}"

    job = await queue.add("hello", "world")
    view = await remote(queue).get_job(job.id)
    assert view is not None
    async with Worker(queue, settings=FAST):
        assert await view.wait(timeout=10) == "hello world"


async def test_wait_on_job_removed_on_complete(queue: Queue) -> None:
    gate = asyncio.Event()

    @queue.job()
    async def gone(job: JobContext[None]) -> str:
        await gate.wait()
        return "still here"

    job = await queue.add("gone", None, remove_on_complete=True)
    waiter = asyncio.ensure_future(job.wait(timeout=10))
    async with Worker(queue, settings=FAST):
        await until_state(job, "active")
        gate.set()
        assert await waiter == "still here"
    assert await queue.get_job(job.id) is None
    assert await job.wait(timeout=1) == "still here", "found in the event stream"


async def test_wait_after_a_removed_failure(queue: Queue) -> None:
    @queue.job()
    async def fail(job: JobContext[None]) -> None:
        raise RuntimeError("gone wrong")

    job = await queue.add("fail", None, remove_on_fail=True)
    async with Worker(queue, settings=FAST):
        await until(lambda: _gone(queue, job.id), what="the failed job to be removed")
    with pytest.raises(JobFailedError, match="gone wrong"):
        await job.wait(timeout=1)


async def _gone(queue: Queue, job_id: str) -> bool:
    return await queue.get_job(job_id) is None


async def test_wait_on_removed_job_raises_not_found(queue: Queue) -> None:
    job = await queue.add("never", None)
    waiter = asyncio.ensure_future(job.wait(timeout=10))
    await queue.add("other", None)
    await job.remove()
    with pytest.raises(JobNotFoundError):
        await waiter


async def test_handle_reads_options_and_data(queue: Queue) -> None:
    job = await queue.add("noop", {"a": 1}, attempts=3, priority=2)
    view = await remote(queue).get_job(job.id)
    assert view is not None
    assert view.options.attempts == 3
    assert view.priority == 2
    assert view.data == {"a": 1}
    assert view.raw_data == b'{"a":1}'
    assert repr(view).startswith("<Job ")
