"""Retrying inside a flow: a failed child is its parent's again, and the parents its
failure failed wait for it again, so that fixing one image finishes the whole sync.

Without this, a retried child would run on its own and its parent would stay failed (or
run without the child's value): "retry it from the sync's failures" would not work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from conveyor import Job, JobContext, JobFailedError, Queue, Worker, add_flow

from .helpers import FAST


def ref(job: Job[Any]) -> str:
    return f"{job.queue.name}:{job.id}"


async def burst(*queues: Queue) -> None:
    await asyncio.wait_for(Worker(list(queues), settings=FAST).run_burst(handle_signals=False), 20)


async def test_retrying_the_failed_leaf_finishes_the_tree_it_failed(
    make_queue: Callable[..., Queue],
) -> None:
    """leaf fails → mid fails → top fails (``fail`` policy); retrying the leaf puts mid
    and top back in waiting-children, and once it succeeds the whole tree completes with
    every value, each parent run once."""
    top, mid, leaf = make_queue(), make_queue(), make_queue()
    broken = {"image": True}
    runs: list[str] = []

    @leaf.job(payload=str)
    async def image(job: JobContext[str]) -> str:
        if job.data == "bad" and broken["image"]:
            raise ValueError("404 from the supplier")
        return job.data.upper()

    @mid.job(payload=type(None))
    async def family(job: JobContext[None]) -> dict[str, Any]:
        runs.append("family")
        return await job.children_values()

    @top.job(payload=type(None))
    async def sync(job: JobContext[None]) -> dict[str, Any]:
        runs.append("sync")
        return await job.children_values()

    images = [image.node("bad"), image.node("ok")]
    flow = await add_flow(sync.node(None, children=[family.node(None, children=images)]))
    root, middle = flow.job, flow.children[0].job
    bad, good = (child.job for child in flow.children[0].children)
    await burst(top, mid, leaf)
    await root.refresh()
    await middle.refresh()
    assert (root.state, middle.state) == ("failed", "failed")
    assert middle.failed_reason == f"child {ref(bad)} failed: ValueError: 404 from the supplier"
    assert runs == []

    broken["image"] = False
    assert await leaf.retry(bad.id) == 1
    assert await middle.get_state() == "waiting-children"
    assert await root.get_state() == "waiting-children"
    assert await middle.pending_children() == [ref(bad)]
    assert await middle.children_failures() == {}
    await burst(top, mid, leaf)
    assert await root.wait(5) == {ref(middle): {ref(bad): "BAD", ref(good): "OK"}}
    assert runs == ["family", "sync"]


async def test_retrying_an_ignored_failure_after_the_parent_completed_runs_it_alone(
    make_queue: Callable[..., Queue],
) -> None:
    """A parent that completed despite an ``ignore`` failure stays completed: the retried
    child runs on its own and the parent's record is not touched."""
    top, leaf = make_queue(), make_queue()
    broken = {"image": True}

    @leaf.job(payload=str)
    async def image(job: JobContext[str]) -> str:
        if broken["image"]:
            raise ValueError("timeout")
        return "stored"

    @top.job(payload=type(None))
    async def sync(job: JobContext[None]) -> int:
        return len(await job.children_failures())

    flow = await add_flow(sync.node(None, children=[image.node("a", on_failure="ignore")]))
    await burst(top, leaf)
    assert await flow.job.wait(5) == 1
    child = flow.children[0].job
    broken["image"] = False
    await leaf.retry(child.id)
    await burst(top, leaf)
    assert await child.wait(5) == "stored"
    await flow.job.refresh()
    assert flow.job.state == "completed"
    assert flow.job.result == 1
    assert await flow.job.children_failures() == {ref(child): "ValueError: timeout"}


async def test_retrying_a_parent_with_children_pending_waits_for_them(
    make_queue: Callable[..., Queue],
) -> None:
    """A parent failed by one child while another is still pending (paused queue): retried
    by hand, it waits for the pending one instead of running without its value."""
    top, slow, leaf = make_queue(), make_queue(), make_queue()

    @leaf.job(payload=type(None))
    async def crash(job: JobContext[None]) -> None:
        raise ValueError("no")

    @slow.job(payload=type(None))
    async def later(job: JobContext[None]) -> str:
        return "late"

    @top.job(payload=type(None))
    async def sync(job: JobContext[None]) -> dict[str, Any]:
        return await job.children_values()

    await slow.pause()
    flow = await add_flow(sync.node(None, children=[crash.node(None), later.node(None)]))
    await burst(top, leaf)
    with pytest.raises(JobFailedError):
        await flow.job.wait(5)
    await top.retry(flow.job.id)
    assert await flow.job.get_state() == "waiting-children"
    await slow.resume()
    async with Worker([top, slow, leaf], settings=FAST):
        values = await flow.job.wait(10)
    assert values == {ref(flow.children[1].job): "late"}
