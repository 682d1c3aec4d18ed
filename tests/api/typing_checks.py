"""Checked by mypy (tests/api/test_public_api.py), never run: the public types hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from conveyor import Job, JobContext, JobState, Queue, Task
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


def sync_producer() -> None:
    assert_type(SyncQueue("typing").counts(), dict[JobState, int])
