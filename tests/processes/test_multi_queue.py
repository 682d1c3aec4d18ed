"""One worker process, many queues: each queue keeps its own concurrency (the catalog
sync's 1 / 3 / 10 in one process), however much work the others have."""

from __future__ import annotations

from conveyor import BulkJob

from .flow_app import FlowQueues
from .flow_harness import FlowRecords, FlowWorkers
from .harness import Records, until

JOBS = 30


async def test_a_worker_of_three_queues_keeps_each_ones_concurrency(
    queues: FlowQueues, flow_workers: FlowWorkers, records: Records, process_url: str,
    queue_name: str,
) -> None:
    limits = {"supplier": 1, "family": 3, "image": 10}
    settings = {f"{queue_name}-{kind}": n for kind, n in limits.items()}
    worker = flow_workers.start(process_url, queue_name, "w0", queue_concurrency=settings)
    await worker.wait_ready()
    for kind, queue in zip(limits, queues.all, strict=True):
        data = {"n": "0.0", "work": 0.05, "families": 0}
        await queue.add_bulk(BulkJob(kind, data) for _ in range(JOBS))

    async def all_done() -> bool:
        counts = [await q.counts() for q in queues.all]
        return all(c["completed"] == JOBS for c in counts)

    await until(all_done, 60, "every job of the three queues to complete")
    most = FlowRecords(records, queues).most_at_once()
    assert most["supplier"] == 1
    assert most["family"] <= 3
    assert most["image"] <= 10
    assert most["image"] > 3, "the image queue ran with the family queue's count"
