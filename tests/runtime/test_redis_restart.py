"""Redis restarted mid-run (AOF, fsync always): workers reconnect and every accepted job
completes. Delivery is at-least-once; duplicates, if any, are counted and printed."""

from __future__ import annotations

import asyncio
import functools
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from conveyor import BackendUnavailableError, BulkJob, Queue
from tests.support.redis_server import RedisServer

from .harness import Records, Workers, until

T = TypeVar("T")

JOBS = 3_000
CHUNK = 100


async def _patiently(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Retry a producer call while Redis is away (with job ids, adds are idempotent)."""
    for _ in range(400):
        try:
            return await call()
        except BackendUnavailableError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"Redis stayed away during {what}")


@pytest.mark.slow
async def test_workers_ride_out_redis_restarts(
    private_redis: RedisServer, workers: Workers, records: Records, queue_name: str
) -> None:
    url = private_redis.url
    producer = Queue(queue_name, url=url)
    settings = {"concurrency": 20, "lease": 2.0, "stalled_interval": 0.5}
    procs = [workers.start(url, queue_name, f"w{i}", **settings) for i in range(2)]
    for proc in procs:
        await proc.wait_ready()

    async def produce() -> None:
        for start in range(0, JOBS, CHUNK):
            chunk = [
                BulkJob(
                    "sleepy",
                    {"seconds": 0.005 + (i % 7) * 0.005},
                    job_id=f"r{i}",
                    options={"remove_on_complete": False},
                )
                for i in range(start, start + CHUNK)
            ]
            await _patiently(functools.partial(producer.add_bulk, chunk), "add")
            await asyncio.sleep(0.03)

    async def completed() -> int:
        counts = await _patiently(producer.counts, "counts")
        return int(counts["completed"])

    adding = asyncio.ensure_future(produce())
    try:
        # A crash (SIGKILL: only the AOF survives), then a clean restart, each mid-run.
        await until(lambda: len(records.of("done")) >= JOBS // 4, 60, "a quarter to be done")
        private_redis.kill()
        private_redis.start()
        await until(lambda: len(records.of("done")) >= JOBS // 2, 60, "half to be done")
        private_redis.restart()
        await adding
    finally:
        adding.cancel()

    async def all_completed() -> bool:
        return await completed() == JOBS

    took = await until(all_completed, 90, f"all {JOBS} accepted jobs to complete")
    counts = await _patiently(producer.counts, "counts")
    assert (counts["completed"], counts["failed"], counts["active"]) == (JOBS, 0, 0)
    done = records.count("done")
    expected = {f"r{i}" for i in range(JOBS)}
    assert set(done) == expected, f"missing: {sorted(expected - set(done))[:10]}"
    duplicates = {job_id: n for job_id, n in done.items() if n > 1}
    started_twice = {job_id: n for job_id, n in records.count("start").items() if n > 1}
    for proc in procs:
        log = proc.log()
        assert "unavailable" in log, "the restart went unnoticed by a worker"
        assert "answers again" in log
    print(
        f"\nafter two Redis restarts: {JOBS} jobs completed ({took:.1f}s after the last add),"
        f" {len(duplicates)} ran to the end twice, {len(started_twice)} started twice;"
        f" per worker {dict(Counter(r.label for r in records.of('done')))}"
    )
    for proc in procs:
        proc.send(signal.SIGTERM)
    for proc in procs:
        assert await proc.wait_exit(30) == 0, proc.log()
    await producer.close()
