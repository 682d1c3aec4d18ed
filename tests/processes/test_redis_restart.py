"""Redis restarted mid-run (AOF, fsync always): workers reconnect and every accepted job
completes. Delivery is at-least-once; duplicates, if any, are counted and printed.

One outage outlasts the lease: the leases expire in Redis, and only the workers' holding
back their stalled checks until they have renewed (a moment after Redis returns) keeps
running jobs from being recovered, and run again, while their workers are alive."""

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

JOBS = 1_500
LEASE = 2.0
OUTAGE = LEASE + 1.5
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
    settings = {"concurrency": 20, "lease": LEASE, "stalled_interval": 0.5}
    procs = [workers.start(url, queue_name, f"w{i}", **settings) for i in range(2)]
    for proc in procs:
        await proc.wait_ready()

    async def produce() -> None:
        for start in range(0, JOBS, CHUNK):
            chunk = [
                BulkJob(
                    "sleepy",
                    {"seconds": 0.1 + (i % 7) * 0.05},
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
        # A crash (SIGKILL: only the AOF survives) with an outage longer than the lease,
        # then a clean restart, each mid-run.
        await until(lambda: len(records.of("done")) >= JOBS // 4, 60, "a quarter to be done")
        private_redis.kill()
        await asyncio.sleep(OUTAGE)  # the outage itself, not a wait for a condition
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
        f"\nafter two Redis restarts (one a {OUTAGE:.1f}s outage): {JOBS} jobs completed"
        f" ({took:.1f}s after the last add),"
        f" {len(duplicates)} ran to the end twice, {len(started_twice)} started twice;"
        f" per worker {dict(Counter(r.label for r in records.of('done')))}"
    )
    for proc in procs:
        proc.send(signal.SIGTERM)
    for proc in procs:
        assert await proc.wait_exit(30) == 0, proc.log()
    await producer.close()
