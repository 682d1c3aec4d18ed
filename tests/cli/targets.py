"""Objects ``conveyor worker`` is pointed at by the in-process CLI tests.

Module-level queues name a port nothing listens on: these tests stop before connecting
(or check that an unreachable backend is reported).
"""

from __future__ import annotations

from conveyor import Queue, Worker, WorkerHooks, WorkerSettings

NOWHERE = "redis://127.0.0.1:1"

alpha = Queue("cli-alpha", url=NOWHERE)
beta = Queue("cli-beta", backend=alpha.backend)
both = (alpha, beta)
number = 42


class Marker(WorkerHooks):
    """A hook that does nothing; the tests check it survives a rebuilt worker."""


marker = Marker()
worker = Worker([alpha, beta], settings=WorkerSettings(concurrency=4, lease=2.5), hooks=[marker])
tuned = Worker(
    [alpha, beta], settings=WorkerSettings(concurrency=4, queue_concurrency={"cli-alpha": 2})
)
"""A worker with a count of its own for one queue."""


def lazy() -> Queue:
    """Built when called, so it takes ``--url`` / ``CONVEYOR_URL``."""
    return Queue("cli-lazy")


async def lazy_async() -> list[Queue]:
    return [Queue("cli-lazy-a"), Queue("cli-lazy-b")]


def broken_factory() -> Queue:
    raise RuntimeError("the factory broke")


def returns_number() -> int:
    return 7
