"""Flows across worker processes: a supplier → 50 families → 150 images tree on three
queues, run by 4 worker processes; each failure policy; a worker SIGKILLed mid-flow; a
producer SIGKILLed inside a 10,000-node ``add_flow``."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor import FlowJob, FlowNode, Job, add_flow
from conveyor.backends.base import OnFailure
from conveyor.options import JobState

from .flow_app import KINDS, FlowQueues
from .flow_harness import PROCESSES, FlowProducer, FlowRecords, FlowWorkers
from .harness import Records, until
from .test_sqlite_killed_producer import writer_busy

FAMILIES = 50
IMAGES = 3
FAILING = frozenset({(0, 1), (10, 1), (20, 1), (30, 1), (40, 1)})
"""(family, image) of the images that fail: five, in five families."""
UNFINISHED: tuple[JobState, ...] = (
    "waiting", "prioritized", "delayed", "active", "waiting-children", "paused"
)


# -- the tree ------------------------------------------------------------------------------
def supplier_tree(
    queues: FlowQueues,
    *,
    policy: OnFailure = "fail",
    failing: frozenset[tuple[int, int]] = frozenset(),
    work: float = 0.0,
) -> FlowNode:
    """1 supplier → ``FAMILIES`` families → ``IMAGES`` images each; ``policy`` is every
    image's ``on_failure``; the images in ``failing`` fail."""
    return FlowNode(queues.supplier, "supplier", {"families": FAMILIES}, children=[
        FlowNode(queues.family, "family", {"family": f}, children=[
            FlowNode(
                queues.image, "image",
                {"n": f"{f}.{k}", "work": work, "fail": (f, k) in failing},
                on_failure=policy,
            )
            for k in range(IMAGES)
        ])
        for f in range(FAMILIES)
    ])


def ref(job: Job[Any]) -> str:
    return f"{job.queue.name}:{job.id}"


def images_of(family: FlowJob, f: int, *, failing: frozenset[tuple[int, int]] = frozenset(),
              ) -> list[str]:
    """The values a family's images that succeed return."""
    return [f"{f}.{k}" for k in range(len(family.children)) if (f, k) not in failing]


def broken(f: int, k: int) -> str:
    return f"RuntimeError: image {f}.{k} is broken"


async def read_all(flow: FlowJob) -> dict[str, Job[Any]]:
    """Every job of the flow as stored now, by ``queue:id``."""
    out = {}
    for job in flow.walk():
        found = await job.queue.get_job(job.id)
        assert found is not None, f"{ref(job)} is gone"
        out[ref(job)] = found
    return out


def settled(queues: FlowQueues, total: int) -> Callable[[], Awaitable[bool]]:
    """A check for ``until``: ``total`` jobs finished in the three queues, none left."""

    async def check() -> bool:
        finished = left = 0
        for queue in queues.all:
            counts = await queue.counts()
            finished += counts["completed"] + counts["failed"]
            left += sum(counts[state] for state in UNFINISHED)
        return finished == total and left == 0

    return check


def check_completed_tree(
    flow: FlowJob, jobs: dict[str, Job[Any]], result: dict[str, Any], seen: FlowRecords
) -> None:
    """Every node completed; each parent's handler started after its children's had all
    ended; the supplier's result holds all 50 families, each with its three images."""
    assert {job.state for job in jobs.values()} == {"completed"}
    expected = {}
    for f, family in enumerate(flow.children):
        images = {ref(image.job) for image in family.children}
        assert seen.first_start(ref(family.job)) > seen.last_end(images), (
            f"family {f} started before its last image ended"
        )
        expected[ref(family.job)] = {"images": images_of(family, f), "failed": {}}
    others = set(jobs) - {ref(flow.job)}
    assert seen.first_start(ref(flow.job)) > seen.last_end(others), "the supplier ran early"
    assert result == {"families": expected, "failed": {}}


# -- 1. the whole tree, 4 processes --------------------------------------------------------
@pytest.mark.slow
async def test_four_processes_run_a_201_job_tree_each_job_once(
    queues: FlowQueues, flow_workers: FlowWorkers, records: Records, process_url: str,
    queue_name: str,
) -> None:
    await flow_workers.start_ready(process_url, queue_name, concurrency=10)
    started = time.monotonic()
    flow = await add_flow(supplier_tree(queues))
    assert len(flow.walk()) == 1 + FAMILIES + FAMILIES * IMAGES
    result = await flow.job.wait(timeout=60)
    took = time.monotonic() - started
    await until(settled(queues, 201), 10, "every job of the tree to finish")

    jobs = await read_all(flow)
    seen = FlowRecords(records, queues)
    check_completed_tree(flow, jobs, result, seen)
    assert seen.runs() == dict.fromkeys(jobs, 1), "a job ran twice, or never"
    per_process = Counter(r.label for kind in KINDS for r in records.of(kind))
    print(f"\n201-job tree on {PROCESSES} processes in {took:.2f}s: {dict(per_process)}")


# -- 2. failure policies, 4 processes ------------------------------------------------------
def check_fail(flow: FlowJob, jobs: dict[str, Job[Any]], seen: FlowRecords) -> None:
    """Each family of a failed image fails naming it, without running; the supplier fails
    naming one of those families, without running; the other families complete."""
    ran = seen.runs()
    family_reasons = {}
    for f, family in enumerate(flow.children):
        stored = jobs[ref(family.job)]
        if (f, 1) in FAILING:
            image = ref(family.children[1].job)
            assert (stored.state, stored.failed_reason) == (
                "failed", f"child {image} failed: {broken(f, 1)}"
            )
            assert ran[ref(family.job)] == 0
            family_reasons[ref(family.job)] = stored.failed_reason
        else:
            assert stored.state == "completed"
            assert stored.result == {"images": images_of(family, f), "failed": {}}
    supplier = jobs[ref(flow.job)]
    assert supplier.state == "failed"
    assert supplier.failed_reason in {
        f"child {fam} failed: {reason}" for fam, reason in family_reasons.items()
    }
    assert ran[ref(flow.job)] == 0


def check_ignore(flow: FlowJob, jobs: dict[str, Job[Any]], seen: FlowRecords) -> None:
    """Each family waits for its other images and lists the failure; the supplier gets
    all 50 families."""
    expected = {}
    for f, family in enumerate(flow.children):
        failed = {ref(family.children[1].job): broken(f, 1)} if (f, 1) in FAILING else {}
        expected[ref(family.job)] = {
            "images": images_of(family, f, failing=FAILING), "failed": failed
        }
        assert jobs[ref(family.job)].state == "completed"
    supplier = jobs[ref(flow.job)]
    assert (supplier.state, supplier.result) == (
        "completed", {"families": expected, "failed": {}}
    )
    assert seen.runs()[ref(flow.job)] == 1


def check_continue(flow: FlowJob, jobs: dict[str, Job[Any]], seen: FlowRecords) -> None:
    """Each family of a failed image runs once that image fails (its other images may
    not be done yet), listing the failure; the supplier gets all 50 families."""
    for f, family in enumerate(flow.children):
        stored = jobs[ref(family.job)]
        assert stored.state == "completed"
        if (f, 1) not in FAILING:
            assert stored.result == {"images": images_of(family, f), "failed": {}}
            continue
        image = jobs[ref(family.children[1].job)]
        result = stored.result
        assert result is not None
        assert result["failed"] == {ref(image): broken(f, 1)}
        assert set(result["images"]) <= set(images_of(family, f, failing=FAILING))
        assert seen.first_start(ref(stored)) > seen.last_end({ref(image)})
    supplier = jobs[ref(flow.job)]
    assert supplier.state == "completed"
    assert supplier.result is not None
    assert set(supplier.result["families"]) == {ref(family.job) for family in flow.children}
    assert supplier.result["failed"] == {}
    assert seen.runs()[ref(flow.job)] == 1


def check_remove(flow: FlowJob, jobs: dict[str, Job[Any]], seen: FlowRecords) -> None:
    """A failed image is dropped from its family as if never added: not listed."""
    expected = {}
    for f, family in enumerate(flow.children):
        expected[ref(family.job)] = {
            "images": images_of(family, f, failing=FAILING), "failed": {}
        }
        assert jobs[ref(family.job)].state == "completed"
    supplier = jobs[ref(flow.job)]
    assert (supplier.state, supplier.result) == (
        "completed", {"families": expected, "failed": {}}
    )
    assert seen.runs()[ref(flow.job)] == 1


CHECKS: dict[OnFailure, Callable[[FlowJob, dict[str, Job[Any]], FlowRecords], None]] = {
    "fail": check_fail, "ignore": check_ignore, "continue": check_continue,
    "remove": check_remove,
}


@pytest.mark.slow
async def test_four_processes_apply_each_failure_policy_to_five_failing_images(
    queues: FlowQueues, flow_workers: FlowWorkers, records: Records, process_url: str,
    queue_name: str,
) -> None:
    """One tree per policy, all four run together by the same four processes."""
    await flow_workers.start_ready(process_url, queue_name, concurrency=10)
    flows = {policy: await add_flow(supplier_tree(queues, policy=policy, failing=FAILING))
             for policy in CHECKS}
    total = sum(len(flow.walk()) for flow in flows.values())
    await until(settled(queues, total), 60, "every job of the four trees to finish")

    seen = FlowRecords(records, queues)
    ran = seen.runs()
    for policy, flow in flows.items():
        jobs = await read_all(flow)
        for f, family in enumerate(flow.children):
            for k, image in enumerate(family.children):
                stored = jobs[ref(image.job)]
                assert ran[ref(image.job)] == 1, f"{policy}: image {f}.{k} ran {ran}"
                if (f, k) in FAILING:
                    assert (stored.state, stored.failed_reason, stored.attempts_made) == (
                        "failed", broken(f, k), 1
                    ), policy
                else:
                    assert stored.state == "completed", policy
            if policy != "fail" or (f, 1) not in FAILING:
                assert ran[ref(family.job)] == 1, f"{policy}: family {f} ran {ran}"
        CHECKS[policy](flow, jobs, seen)
    removed = flows["remove"].children[0]
    tree = await removed.job.tree()
    assert [child.ref for child in tree.children] == [
        ref(removed.children[0].job), ref(removed.children[2].job)
    ], "a removed dependency is not listed"


# -- 3. a worker SIGKILLed mid-flow ---------------------------------------------------------
@pytest.mark.slow
async def test_worker_killed_mid_flow_every_job_completes_only_held_ones_run_twice(
    queues: FlowQueues, flow_workers: FlowWorkers, records: Records, process_url: str,
    queue_name: str,
) -> None:
    """Images take 0.15 s each; once some are done and the doomed worker is running some,
    it is frozen (SIGSTOP) and the jobs active in the store that it started are read:
    what it holds. Then SIGKILL. Only jobs it held may run a second time."""
    quick = {"concurrency": 4, "lease": 1.0, "stalled_interval": 0.3}
    procs = await flow_workers.start_ready(process_url, queue_name, **quick)
    doomed = procs[0]
    flow = await add_flow(supplier_tree(queues, work=0.15))

    def doomed_running() -> set[str]:
        started = set(records.count("image", doomed.label))
        return started - set(records.count("image-done", doomed.label))

    async def mid_flow() -> bool:
        done = (await queues.image.counts())["completed"]
        return 10 <= done < FAMILIES * IMAGES and bool(doomed_running())

    await until(mid_flow, 30, "some images done, and some running in the doomed worker")
    doomed.send(signal.SIGSTOP)  # frozen: what it holds now is what the kill takes
    active = {
        f"{queue.name}:{job.id}"
        for queue in queues.all
        for job in await queue.get_jobs("active", limit=10_000)
    }
    doomed.kill()
    seen = FlowRecords(records, queues)
    started_by_doomed = {r for r, pids in seen.pids().items() if doomed.pid in pids}
    held = active & started_by_doomed
    images_done = (await queues.image.counts())["completed"]
    assert held, "the doomed worker held no job when killed"

    result = await flow.job.wait(timeout=60)
    await until(settled(queues, 201), 20, "every job of the tree to finish")
    jobs = await read_all(flow)
    check_completed_tree(flow, jobs, result, seen)

    ran = seen.runs()
    assert set(ran) == set(jobs), "a job never ran"
    twice = {r for r, n in ran.items() if n > 1}
    assert twice <= held, f"ran twice without being held by the killed worker: {twice - held}"
    by_pid = seen.pids()
    for again in twice:
        assert ran[again] == 2
        assert doomed.pid in by_pid[again]
        assert jobs[again].stalled_count == 1
    print(
        f"\nkilled with {images_done} of {FAMILIES * IMAGES} images done; held"
        f" {len(held)}, ran again {len(twice)}"
    )


# -- 4. a producer SIGKILLed inside a 10,000-node add_flow ----------------------------------
TREE = (1, 99, 9_900)
"""Jobs per queue of the 10,000-node tree (supplier, families, images)."""


def spin(seconds: float) -> None:
    """Busy-wait: lands the kill inside the call at a chosen point, without yielding."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def stored(url: str, prefix: str) -> tuple[int, ...]:
    """Jobs in each of the tree's queues; when the whole tree is there, it is linked: the
    parents wait for their children."""
    queues = FlowQueues.open(url, prefix)
    try:
        counts = [await q.counts() for q in queues.all]
    finally:
        await queues.close()
    found = tuple(sum(c.values()) for c in counts)
    if found == TREE:
        waiting = (counts[0]["waiting-children"], counts[1]["waiting-children"],
                   counts[2]["waiting"])
        assert waiting == TREE, f"the tree is stored but not as added: {counts}"
    return found


async def redis_clients(url: str) -> int:
    client: Any = Redis.from_url(url)
    try:
        return int((await client.info("clients"))["connected_clients"])
    finally:
        await client.aclose()


async def one_kill(url: str, prefix: str, db_path: Path, delay: float | None) -> tuple[int, ...]:
    """Start a producer, kill it ``delay`` seconds after it entered the backend's
    ``add_tree`` (None: once SQLite's write lock is taken, i.e. mid-transaction), and
    return what the store holds of its tree once nothing of the producer is left."""
    baseline = await redis_clients(url) if url.startswith("redis") else 0
    producer = await FlowProducer.start(url, prefix)
    try:
        await producer.expect("adding")
        await producer.expect("storing")
        if delay is None:
            await until(lambda: writer_busy(db_path), 10, "the producer's transaction",
                        interval=0.0005)
        else:
            spin(delay)
    finally:
        await producer.kill()
    if url.startswith("redis"):
        # Redis runs whatever it had read of the dead client's before dropping it.
        async def dropped() -> bool:
            return await redis_clients(url) <= baseline

        await until(dropped, 10, "Redis to drop the killed producer's connections")
    return await stored(url, prefix)


@pytest.mark.slow
async def test_producer_killed_inside_a_10000_node_add_flow_stores_all_or_nothing(
    queues: FlowQueues, process_url: str, queue_name: str, db_path: Path
) -> None:
    """A whole run first times the backend's part of the call; then producers are killed
    at points spread over that time (and, on SQLite, once it holds the write lock)."""
    await queues.supplier.counts()  # create the database before the children open it
    producer = await FlowProducer.start(process_url, f"{queue_name}-whole")
    await producer.expect("adding")
    await producer.expect("storing")
    store_s = float((await producer.expect("stored")).split()[1])
    await producer.expect("added")
    assert await producer.proc.wait() == 0
    assert await stored(process_url, f"{queue_name}-whole") == TREE

    # Spread over the call: encoding and sending it (Redis), the script or transaction.
    shares = (0.0, 0.03, 0.06, 0.1, 0.3, 0.6, 0.9)
    delays: list[float | None] = [store_s * share for share in shares]
    if process_url.startswith("sqlite"):
        delays.append(None)
    outcomes = []
    for i, delay in enumerate(delays):
        outcome = await one_kill(process_url, f"{queue_name}-k{i}", db_path, delay)
        assert outcome in {(0, 0, 0), TREE}, f"kill {i} ({delay}) left part of the tree"
        outcomes.append("all" if outcome == TREE else "none")
    if process_url.startswith("sqlite"):
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    print(f"\nadd_tree took {store_s * 1000:.0f} ms whole; kills left: {outcomes}")
