"""The application ``conveyor worker tests.cli.app:queue`` runs in the CLI tests.

The queue's name comes from ``CONVEYOR_TEST_QUEUE`` and its backend from ``CONVEYOR_URL``
(or ``--url``), so each test runs it on a fresh queue; only subprocesses import it.
"""

from __future__ import annotations

import asyncio
import logging
import os

from conveyor import JobContext, Queue, UnrecoverableError, Worker, WorkerSettings

log = logging.getLogger("tests.cli.app")

queue = Queue(os.environ.get("CONVEYOR_TEST_QUEUE", "cli-demo"))


@queue.job()
async def add(job: JobContext[list[int]]) -> int:
    await job.log(f"adding {job.data}")
    await job.update_progress(100)
    log.info("added numbers", extra={"queue": job.queue, "job_id": job.id})
    return sum(job.data)


@queue.job()
async def boom(job: JobContext[str]) -> None:
    raise UnrecoverableError(f"boom: {job.data}")


def make_worker() -> Worker:
    """A zero-argument factory, as ``tests.cli.app:make_worker``."""
    return Worker(queue, settings=WorkerSettings(concurrency=3, grace=5))


@queue.job()
async def slow(job: JobContext[float]) -> None:
    await asyncio.sleep(job.data)
