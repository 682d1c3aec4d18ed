"""Per-queue concurrency: one worker runs at most each queue's own count of jobs at once,
and its thread pool is big enough for all queues together."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from conveyor import ConfigurationError, Queue, SyncJobContext, Worker, WorkerSettings

from .helpers import until


class Running:
    """Counts the sync handlers running per queue, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.release = threading.Event()

    def handler(self, queue: Queue) -> None:
        @queue.job()
        def hold(job: SyncJobContext[None]) -> None:
            with self.lock:
                self.now[queue.name] = self.now.get(queue.name, 0) + 1
                self.most[queue.name] = max(self.most.get(queue.name, 0), self.now[queue.name])
            try:
                assert self.release.wait(30), "the test never released the handlers"
            finally:
                with self.lock:
                    self.now[queue.name] -= 1


async def test_each_queue_runs_its_own_count_at_once(make_queue: Callable[..., Queue]) -> None:
    """``sync`` gets 4 while ``feed`` keeps the default 1: the default times the number
    of queues (2 threads) would not be enough for the 4 + 1 sync handlers."""
    sync, feed = make_queue(), make_queue()
    running = Running()
    running.handler(sync)
    running.handler(feed)
    jobs = [await sync.add("hold") for _ in range(6)] + [await feed.add("hold") for _ in range(3)]
    settings = WorkerSettings(
        concurrency=1, queue_concurrency={sync.name: 4}, lease=1.0, block_timeout=0.5
    )
    try:
        async with Worker([sync, feed], settings=settings):

            async def all_slots_busy() -> bool:
                with running.lock:
                    return running.now == {sync.name: 4, feed.name: 1}

            await until(all_slots_busy, what="4 sync jobs and 1 feed job running")
            sync_counts, feed_counts = await sync.counts(), await feed.counts()
            assert (sync_counts["active"], sync_counts["waiting"]) == (4, 2)
            assert (feed_counts["active"], feed_counts["waiting"]) == (1, 2)
            running.release.set()
            for job in jobs:
                await job.wait(timeout=20)
    finally:
        running.release.set()
    assert running.most == {sync.name: 4, feed.name: 1}


async def test_a_count_for_a_queue_the_worker_does_not_run_is_refused(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue()
    settings = WorkerSettings(queue_concurrency={f"{queue.name}-typo": 2})
    with pytest.raises(ConfigurationError, match=rf"'{queue.name}-typo', which is not among"):
        Worker(queue, settings=settings)
