"""A queue works from any event loop in the process: a module-level queue used from two
``asyncio.run()`` calls, from a thread's own loop beside the main one, and by a worker."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid

from conveyor import JobContext, Queue, Worker, WorkerSettings

FAST = WorkerSettings(block_timeout=0.05, stalled_interval=0.2)


def test_one_queue_from_two_asyncio_runs(backend_url: str) -> None:
    queue = Queue(f"loops-{uuid.uuid4().hex[:8]}", url=backend_url)

    @queue.job()
    async def double(job: JobContext[int]) -> int:
        return job.data * 2

    async def produce(n: int) -> str:
        return (await queue.add("double", n)).id

    async def run_one(job_id: str) -> int:
        job = await queue.get_job(job_id)
        assert job is not None
        async with Worker(queue, settings=FAST):
            result: int = await job.wait(timeout=10)
        return result

    first = asyncio.run(produce(4))
    second = asyncio.run(produce(5))  # a new loop: the first one's connections are gone
    assert asyncio.run(run_one(first)) == 8
    assert asyncio.run(run_one(second)) == 10

    async def finish() -> dict[str, int]:
        counts = await queue.counts()
        await queue.close()
        return dict(counts)

    assert asyncio.run(finish())["completed"] == 2
    gc.collect()  # an unclosed socket of an ended loop would warn here (an error in tests)


def test_one_queue_from_two_loops_at_once(backend_url: str) -> None:
    queue = Queue(f"loops-{uuid.uuid4().hex[:8]}", url=backend_url)
    ids: list[str] = []
    errors: list[BaseException] = []

    async def produce(tag: str) -> None:
        for n in range(20):
            ids.append((await queue.add("noop", {"tag": tag, "n": n})).id)

    def in_thread() -> None:
        try:
            asyncio.run(produce("thread"))
        except BaseException as exc:  # reported by the main thread's assertion
            errors.append(exc)

    async def main() -> int:
        thread = threading.Thread(target=in_thread)
        thread.start()
        await produce("main")
        await asyncio.to_thread(thread.join)
        waiting = (await queue.counts())["waiting"]
        await queue.close()
        return waiting

    assert asyncio.run(main()) == 40
    assert errors == []
    assert len(set(ids)) == 40
    gc.collect()
