"""The worker process of the flow tests: ``python -m tests.processes.flow_app``.

A supplier waits for its families, a family for its images, each kind on a queue of its
own: ``<RT_QUEUE>-supplier``, ``<RT_QUEUE>-family`` and ``<RT_QUEUE>-image``, all three
served by one ``Worker``. Configured like ``tests.processes.worker_app`` (``RT_URL``,
``RT_QUEUE``, ``RT_LABEL``, ``RT_RECORDS``, ``RT_SETTINGS``) and recording the same way,
through its ``record``: a line as each handler starts (``image``, ``family``, ``supplier``)
and one as it ends (``image-done``, ...), with the process id and, last, the wall clock in
ns. A count per job id tells how many times each job ran and in which process; the stamps
order a parent's start after its children's ends (each start follows, causally, the
commit that followed each end).

Image payload: ``{"n": "3.1"}`` (family 3, image 1), ``"work"`` seconds of simulated I/O
(every kind takes it), and ``"fail": true`` to make it fail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from conveyor import JobContext, Queue, Worker, WorkerSettings
from tests.processes import worker_app
from tests.processes.worker_app import Announce, record

KINDS = ("supplier", "family", "image")


@dataclass(frozen=True)
class FlowQueues:
    """The three queues of one flow test, on one backend."""

    supplier: Queue
    family: Queue
    image: Queue

    @classmethod
    def open(cls, url: str, prefix: str) -> FlowQueues:
        supplier = Queue(f"{prefix}-supplier", url=url)
        return cls(
            supplier,
            Queue(f"{prefix}-family", backend=supplier.backend),
            Queue(f"{prefix}-image", backend=supplier.backend),
        )

    @property
    def all(self) -> tuple[Queue, Queue, Queue]:
        return (self.supplier, self.family, self.image)

    async def close(self) -> None:
        await self.supplier.close()


def register(queues: FlowQueues) -> None:
    """The three handlers, on their queues."""

    @queues.image.job()
    async def image(job: JobContext[dict[str, Any]]) -> str:
        stamp("image", job)
        await work(job)
        stamp("image-done", job)
        if job.data.get("fail"):
            raise RuntimeError(f"image {job.data['n']} is broken")
        return str(job.data["n"])

    @queues.family.job()
    async def family(job: JobContext[dict[str, Any]]) -> dict[str, Any]:
        stamp("family", job)
        await work(job)
        values = await job.children_values()
        out = {"images": sorted(values.values()), "failed": await job.children_failures()}
        stamp("family-done", job)
        return out

    @queues.supplier.job()
    async def supplier(job: JobContext[dict[str, Any]]) -> dict[str, Any]:
        stamp("supplier", job)
        await work(job)
        out = {"families": await job.children_values(), "failed": await job.children_failures()}
        stamp("supplier-done", job)
        return out


async def work(job: JobContext[dict[str, Any]]) -> None:
    """``"work"`` seconds of simulated I/O (a download, an upstream call)."""
    if job.data.get("work"):
        await asyncio.sleep(job.data["work"])


def stamp(event: str, job: JobContext[Any]) -> None:
    record(event, job, str(time.time_ns()))


def open_records() -> None:
    """Point ``worker_app.record`` at this process's record file, as its ``main`` does."""
    worker_app._label = os.environ.get("RT_LABEL", "worker")
    path = os.path.join(os.environ["RT_RECORDS"], f"{worker_app._label}-{os.getpid()}.log")
    worker_app._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


async def serve() -> None:
    queues = FlowQueues.open(os.environ["RT_URL"], os.environ["RT_QUEUE"])
    register(queues)
    settings = WorkerSettings(**json.loads(os.environ.get("RT_SETTINGS", "{}")))
    await Worker(list(queues.all), settings=settings, hooks=[Announce()]).run()
    await queues.close()


def main() -> None:
    open_records()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s",
    )
    asyncio.run(serve())


if __name__ == "__main__":
    main()
