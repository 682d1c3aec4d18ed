"""A producer process for the crash tests: ``python -m tests.processes.producer_child
URL QUEUE BATCH``. Adds batches of ``BATCH`` jobs with ``Queue.add_bulk``, forever, each
job carrying its batch number and index, until it is killed.
"""

from __future__ import annotations

import asyncio
import sys

from conveyor import BulkJob, Queue


async def produce(url: str, name: str, size: int) -> None:
    queue = Queue(name, url=url)
    batch = 0
    while True:
        await queue.add_bulk(BulkJob("noop", {"batch": batch, "i": i}) for i in range(size))
        batch += 1


if __name__ == "__main__":
    asyncio.run(produce(sys.argv[1], sys.argv[2], int(sys.argv[3])))
