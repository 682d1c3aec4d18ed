"""The measurements: enqueue, bulk enqueue, processing, pickup latency, two processes.

Each phase uses a fresh queue and obliterates it afterwards. Producers run in this
process; workers always run in a separate OS process (:class:`bench.procs.WorkerProcess`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import WorkerProcess
from bench.stats import CommandStats, delta, percentile
from conveyor import BulkJob, Queue
from conveyor.backends import from_url
from conveyor.backends.base import Backend

POLL_S = 0.005
IDLE_S = 2.0
UNFINISHED = ("waiting", "paused", "prioritized", "delayed", "active", "waiting-children")


@dataclass
class Context:
    url: str
    backend: Backend
    commands: CommandStats | None  # Redis only
    chunk: int = 1000
    profile_dir: Path | None = None
    poll_cost: Counter[str] = field(default_factory=Counter)

    @classmethod
    async def open(cls, url: str, chunk: int, profile_dir: Path | None) -> Context:
        backend = from_url(url)
        await backend.ping()
        commands = CommandStats(url) if url.startswith(("redis", "rediss", "unix")) else None
        ctx = cls(url, backend, commands, chunk, profile_dir)
        warm = ctx.queue("warmup")
        await warm.add("noop")  # load scripts and check the server once, outside any timing
        await drop(warm)
        if commands is not None:
            ctx.poll_cost = await ctx._calibrate_poll()
        return ctx

    async def close(self) -> None:
        await self.backend.close()
        if self.commands is not None:
            await self.commands.close()

    def queue(self, label: str) -> Queue:
        return Queue(f"bench-{label}-{uuid.uuid4().hex[:8]}", backend=self.backend)

    async def _calibrate_poll(self) -> Counter[str]:
        """The commands one progress poll (``Queue.counts``) costs, to subtract later."""
        assert self.commands is not None
        queue = self.queue("calibrate")
        await queue.counts()  # first call may register scripts or check the server
        before = await self.commands.snapshot()
        await queue.counts()
        return delta(before, await self.commands.snapshot())

    async def snapshot(self) -> Counter[str] | None:
        return None if self.commands is None else await self.commands.snapshot()


async def drop(queue: Queue) -> None:
    with contextlib.suppress(Exception):  # cleanup only: never hide a figure behind it
        await queue.obliterate(force=True)


async def wait_until_done(queue: Queue, limit_s: float = 600.0) -> tuple[float, int]:
    """Poll until no job is left unfinished; returns (time it happened, polls made).

    The time is the midpoint between the last poll that saw work and the first that saw
    none, so the polling interval adds at most half of ``POLL_S`` of error.
    """
    polls = 0
    previous = time.time()
    deadline = previous + limit_s
    while True:
        counts = await queue.counts()
        polls += 1
        now = time.time()
        if sum(counts.get(state, 0) for state in UNFINISHED) == 0:  # type: ignore[call-overload]
            return (previous + now) / 2, polls
        if now > deadline:
            raise TimeoutError(f"jobs still unfinished after {limit_s:.0f}s: {counts}")
        previous = now
        await asyncio.sleep(POLL_S)


def commands_spent(
    ctx: Context, before: Counter[str] | None, after: Counter[str] | None, polls: int
) -> Counter[str]:
    if before is None or after is None:
        return Counter()
    spent = delta(before, after)
    for name in [name for name in spent if name.startswith("usec:")]:
        del spent[name]
    for name, calls in ctx.poll_cost.items():
        spent[name] -= calls * polls
    return +spent


async def bulk_add(queue: Queue, n: int, chunk: int, data: Any = None) -> float:
    """Add ``n`` no-op jobs in chunks with ``add_bulk``; returns the seconds it took."""
    started = time.perf_counter()
    for first in range(0, n, chunk):
        await queue.add_bulk(
            BulkJob("noop", {"n": i} if data is None else data)
            for i in range(first, min(first + chunk, n))
        )
    return time.perf_counter() - started


async def enqueue_one_by_one(ctx: Context, n: int) -> dict[str, float]:
    queue = ctx.queue("enqueue")
    try:
        await queue.add("noop", {"n": -1})  # connect, register, check the server
        started = time.perf_counter()
        for i in range(n):
            await queue.add("noop", {"n": i})
        elapsed = time.perf_counter() - started
    finally:
        await drop(queue)
    return {"enqueue_jobs_per_s": n / elapsed}


async def bulk_and_process(ctx: Context, n: int, concurrency: int, run: int) -> dict[str, Any]:
    """Bulk-add ``n`` jobs, then time one worker process draining them."""
    queue = ctx.queue(f"c{concurrency}")
    profile = None
    if ctx.profile_dir is not None:
        profile = ctx.profile_dir / f"worker-c{concurrency}-run{run}.prof"
    worker = WorkerProcess(ctx.url, queue.name, concurrency, profile=profile)
    try:
        await worker.spawn()
        before_add = await ctx.snapshot()
        bulk_s = await bulk_add(queue, n, ctx.chunk)
        before_work = await ctx.snapshot()
        started = await worker.go()
        done_at, polls = await wait_until_done(queue)
        after = await ctx.snapshot()
        report = await worker.report()
    finally:
        await worker.stop()
        await drop(queue)
    elapsed = done_at - started["t"]
    processing = commands_spent(ctx, before_work, after, polls)
    with_add = commands_spent(ctx, before_add, after, polls)
    out: dict[str, Any] = {
        "bulk_jobs_per_s": n / bulk_s,
        "process_jobs_per_s": n / elapsed,
        "worker_cpu_us_per_job": (report["cpu"] - started["cpu"]) / n * 1e6,
        "worker_rss_mb": report["rss_mb"],
    }
    if before_work is not None and after is not None:
        usec = delta(before_work, after)
        out["redis_script_us_per_job"] = sum(
            v for k, v in usec.items() if k.startswith("usec:")) / n
        out["redis_cmds_per_job"] = sum(processing.values()) / n
        out["redis_cmds_per_job_with_bulk_add"] = sum(with_add.values()) / n
        out["commands"] = {name: calls / n for name, calls in processing.most_common()}
    return out


async def pickup_latency(
    ctx: Context, n: int, rate: float, concurrency: int, warmup: int = 10
) -> dict[str, float]:
    """Add ``n`` jobs at a steady ``rate`` to an idle worker; enqueue→start percentiles.

    The payload carries the producer's ``time.time()`` taken just before ``add``; the
    handler subtracts it from its own clock at start (one machine, one clock). The first
    ``warmup`` jobs are not counted. Before the jobs, the idle worker's CPU use is measured
    over ``IDLE_S`` seconds (a worker that polls shows here).
    """
    queue = ctx.queue("latency")
    worker = WorkerProcess(ctx.url, queue.name, concurrency, record="latency")
    try:
        await worker.spawn()
        await worker.go()
        await asyncio.sleep(0.5)  # let the worker settle into its idle wait
        idle_from = await worker.report()
        await asyncio.sleep(IDLE_S)
        idle_to = await worker.report()
        interval = 1 / rate
        start = time.perf_counter()
        for i in range(n + warmup):
            pause = start + i * interval - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            await queue.add("noop", {"t": time.time() * 1000})
        await wait_until_done(queue)
        report = await worker.report()
    finally:
        await worker.stop()
        await drop(queue)
    samples = report["latencies_ms"][warmup:]
    idle_cpu = (idle_to["cpu"] - idle_from["cpu"]) / (idle_to["t"] - idle_from["t"])
    return {
        "idle_worker_cpu_percent": idle_cpu * 100,
        "pickup_p50_ms": percentile(samples, 50),
        "pickup_p95_ms": percentile(samples, 95),
        "pickup_p99_ms": percentile(samples, 99),
        "pickup_max_ms": max(samples),
    }


async def two_processes(ctx: Context, n: int, concurrency: int) -> dict[str, float]:
    """Two worker processes drain ``n`` jobs together; checks that none ran twice."""
    queue = ctx.queue(f"pair-c{concurrency}")
    workers = [WorkerProcess(ctx.url, queue.name, concurrency, record="ids") for _ in range(2)]
    try:
        await asyncio.gather(*(w.spawn() for w in workers))
        await bulk_add(queue, n, ctx.chunk)
        starts = await asyncio.gather(*(w.go() for w in workers))
        done_at, _ = await wait_until_done(queue)
        reports = await asyncio.gather(*(w.report() for w in workers))
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
        await drop(queue)
    ran = [job_id for report in reports for job_id in report["ids"]]
    unique = set(ran)
    return {
        "pair_process_jobs_per_s": n / (done_at - min(s["t"] for s in starts)),
        "pair_duplicate_jobs": len(ran) - len(unique),
        "pair_missing_jobs": n - len(unique),
        "pair_share_first": len(reports[0]["ids"]) / max(1, len(ran)),
    }
