"""A handler that runs past its job's timeout is cancelled; the attempt fails and retries."""

from __future__ import annotations

import signal

import pytest

from conveyor import Queue

from .harness import Records, Workers, until


@pytest.mark.slow
async def test_timeout_cancels_the_handler_and_retries(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str
) -> None:
    worker = workers.start(process_url, queue_name, "w", concurrency=5)
    await worker.wait_ready()
    once = await producer.add(
        "slow_first", {"seconds": 60, "slow_attempts": [0]}, timeout=0.5, attempts=2
    )
    always = await producer.add(
        "slow_first", {"seconds": 60, "slow_attempts": [0, 1]}, timeout=0.5, attempts=2
    )

    async def finished() -> bool:
        counts = await producer.counts()
        return counts["completed"] + counts["failed"] == 2

    await until(finished, 30, "both jobs to finish")
    await once.refresh()
    assert (once.state, once.attempts_made, once.result) == ("completed", 2, "w")
    assert [e.type for e in once.errors] == ["TimeoutError"]
    await always.refresh()
    assert (always.state, always.attempts_made) == ("failed", 2)
    assert always.failed_reason is not None
    assert "timeout" in always.failed_reason
    assert [e.type for e in always.errors] == ["TimeoutError", "TimeoutError"]

    # Each slow attempt was cancelled (it did not go on running), then the next one ran.
    assert records.count("start") == {once.id: 2, always.id: 2}
    assert records.count("cancelled") == {once.id: 1, always.id: 2}
    assert records.count("done") == {once.id: 1}
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0


@pytest.mark.slow
async def test_timeout_cancels_a_handler_busy_with_backend_calls(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str
) -> None:
    """The cancellation lands inside a backend call (thousands of them a second); it must
    not be swallowed there (redis-py's send through asyncio.wait_for does, on 3.11; on
    SQLite it lands while a statement runs on the connection's thread)."""
    worker = workers.start(process_url, queue_name, "w", concurrency=5)
    await worker.wait_ready()
    jobs = [await producer.add("chatty", None, timeout=0.3) for _ in range(5)]

    async def all_failed() -> bool:
        return (await producer.counts())["failed"] == len(jobs)

    await until(all_failed, 30, "every chatty job to time out")
    for job in jobs:
        await job.refresh()
        assert [e.type for e in job.errors] == ["TimeoutError"]
    assert records.count("cancelled") == {job.id: 1 for job in jobs}
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0
