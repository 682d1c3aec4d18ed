"""The flow phase: no-op children under flow parents, beside plain no-op jobs.

Two shapes, ``parents`` x ``children`` (100x100 and 1x10,000 by default): the whole
tree is added before the worker starts (the add is timed on its own), then one worker
process runs the children's queue and the parents' queue, each at the phase's
concurrency. Measured: children per second (the bench's no-op method: from the worker's
start until the children's queue has nothing unfinished), the same number of plain no-op
jobs per second by the same worker at the same concurrency, and how long each parent
waited to start once its last child was done.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from bench.phases import Context, drop, wait_until_done
from bench.procs import WorkerProcess
from bench.stats import percentile
from conveyor import BulkJob, FlowNode, Job, Queue, add_flow
from conveyor.options import JobOverrides

SHAPES = ((100, 100), (1, 10_000))
KEEP: JobOverrides = {"remove_on_complete": False}
"""Every job of the phase is kept (its timestamps are read afterwards), the no-op
jobs it is compared with too, so that both pay the same retention."""
PAGE = 2_000


def shape_key(parents: int, children: int) -> str:
    return f"flow_{parents}x{children}"


async def flow_and_noop(
    ctx: Context, parents: int, children: int, concurrency: int
) -> dict[str, float]:
    """One run of a shape: the flow, then plain no-op jobs as many as its children."""
    out = await _flow(ctx, parents, children, concurrency)
    noop = await _noop(ctx, parents * children, concurrency)
    key = shape_key(parents, children)
    out[f"{key}_noop_jobs_per_s"] = noop
    out[f"{key}_children_vs_noop"] = out[f"{key}_children_per_s"] / noop
    return out


async def _flow(
    ctx: Context, parents: int, children: int, concurrency: int
) -> dict[str, float]:
    queue = ctx.queue(f"flowkids-c{concurrency}")
    top = Queue(f"{queue.name}-parents", backend=ctx.backend)
    worker = WorkerProcess(ctx.url, queue.name, concurrency, record="flow", parents=top.name)
    try:
        await worker.spawn()
        add_s = await _add(top, queue, parents, children)
        started = await worker.go()
        children_done, _ = await wait_until_done(queue)
        await wait_until_done(top)
        report = await worker.report()
        delays = await _parent_delays(top, queue, parents, children)
    finally:
        await worker.stop()
        await drop(queue)
        await drop(top)
    n = parents * children
    handler = [
        (report["parent_start"][p] - report["last_child_end"][p]) * 1000
        for p in report["parent_start"]
    ]
    key = shape_key(parents, children)
    return {
        f"{key}_add_nodes_per_s": (n + parents) / add_s,
        f"{key}_children_per_s": n / (children_done - started["t"]),
        f"{key}_parent_delay_p50_ms": percentile(delays, 50),
        f"{key}_parent_delay_p99_ms": percentile(delays, 99),
        f"{key}_parent_delay_max_ms": max(delays),
        f"{key}_handler_delay_p50_ms": percentile(handler, 50),
        f"{key}_handler_delay_p99_ms": percentile(handler, 99),
    }


async def _add(top: Queue, queue: Queue, parents: int, children: int) -> float:
    """Add the flows, one ``add_flow`` per parent; returns the seconds it took."""
    started = time.perf_counter()
    for p in range(parents):
        kids = [FlowNode(queue, "noop", {"p": p}, options=KEEP) for _ in range(children)]
        await add_flow(FlowNode(top, "parent", {"p": p}, children=kids, options=KEEP))
    return time.perf_counter() - started


async def _parent_delays(top: Queue, queue: Queue, parents: int, children: int) -> list[float]:
    """Per parent: its ``processed_on`` minus the latest ``finished_on`` of its children
    (ms, as stored). Checks on the way that every job completed and each parent saw all
    of its children's values."""
    last_finish: dict[str, int] = defaultdict(int)
    kids = await _completed(queue, parents * children)
    for kid in kids:
        assert kid.parent is not None
        assert kid.finished_on is not None
        last_finish[kid.parent[1]] = max(last_finish[kid.parent[1]], kid.finished_on)
    delays = []
    for parent in await _completed(top, parents):
        assert parent.result == children, f"parent {parent.id} saw {parent.result} values"
        assert parent.processed_on is not None
        delays.append(float(parent.processed_on - last_finish[parent.id]))
    return delays


async def _completed(queue: Queue, expected: int) -> list[Job[Any]]:
    jobs: list[Job[Any]] = []
    while page := await queue.get_jobs("completed", offset=len(jobs), limit=PAGE):
        jobs += page
    counts = await queue.counts()
    if len(jobs) != expected or counts["failed"]:
        raise RuntimeError(f"{queue.name}: {len(jobs)} of {expected} completed, {counts}")
    return jobs


async def _noop(ctx: Context, n: int, concurrency: int) -> float:
    """Plain no-op jobs per second, measured as ``bench.phases.bulk_and_process`` does,
    with the flow's retention."""
    queue = ctx.queue(f"flownoop-c{concurrency}")
    worker = WorkerProcess(ctx.url, queue.name, concurrency)
    try:
        await worker.spawn()
        for first in range(0, n, ctx.chunk):
            await queue.add_bulk(
                BulkJob("noop", {"p": 0}, options=KEEP)
                for _ in range(first, min(first + ctx.chunk, n))
            )
        started = await worker.go()
        done_at, _ = await wait_until_done(queue)
    finally:
        await worker.stop()
        await drop(queue)
    return float(n / (done_at - started["t"]))
