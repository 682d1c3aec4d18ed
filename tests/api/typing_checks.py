"""Checked by mypy (tests/api/test_public_api.py), never run: the public types hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_type

from conveyor import FlowJob, FlowNode, Job, JobContext, JobState, JobTree, Queue, Task, add_flow
from conveyor.sync import SyncQueue


@dataclass
class Order:
    order_id: int


queue = Queue("typing")


@queue.job(payload=Order)
async def ship(job: JobContext[Order]) -> str:
    assert_type(job.data, Order)
    return "shipped"


async def producer() -> None:
    assert_type(ship, Task[Order, str])
    handle = await ship.add(Order(1), priority=3)
    assert_type(handle, Job[str])
    assert_type(await handle.wait(5), str)
    assert_type(await handle.get_state(), JobState)
    counts = await queue.counts()
    assert_type(counts, dict[JobState, int])


async def flow_producer() -> None:
    node = ship.node(Order(1), children=[ship.node(Order(2), on_failure="ignore")])
    assert_type(node, FlowNode)
    flow = await add_flow(node)
    assert_type(flow, FlowJob)
    assert_type(flow.children[0].job, Job[Any])
    assert_type(await queue.tree(flow.job.id), JobTree)
    assert_type(await flow.job.children_values(), dict[str, Any])


def sync_producer() -> None:
    assert_type(SyncQueue("typing").counts(), dict[JobState, int])


@queue.job()
async def count(job: JobContext[int]) -> int:
    return job.data + 1


async def untyped_payload_producer() -> None:
    """Without ``payload=`` the payload is not checked (``Any``), the result still is."""
    assert_type(await (await count.add(41)).wait(), int)
    assert_type(count.node(41), FlowNode)
