"""Across processes an idle worker notices a new job within 50 ms, without spinning."""

from __future__ import annotations

import asyncio
import statistics

import psutil  # type: ignore[import-untyped]
import pytest

from conveyor import Queue
from tests.processes.harness import Records, Workers, until


@pytest.mark.slow
async def test_an_idle_worker_in_another_process_starts_a_new_job_promptly(
    producer: Queue, sqlite_url: str, workers: Workers, records: Records
) -> None:
    worker = workers.start(sqlite_url, producer.name, "idle", concurrency=1)
    await worker.wait_ready()
    process = psutil.Process(worker.pid)
    await asyncio.sleep(0.5)  # let it settle into its idle wait
    before = process.cpu_times()
    await asyncio.sleep(2.0)  # measuring idle CPU: nothing to await but time
    after = process.cpu_times()
    idle_cpu = (after.user + after.system - before.user - before.system) / 2.0

    pickups = []
    for _ in range(15):
        job = await producer.add("noop", None)

        def ran(job_id: str = job.id) -> bool:
            return records.count("run").get(job_id) == 1

        await until(ran, 10, "the job to run", interval=0.005)
        await job.refresh()
        assert job.processed_on is not None
        pickups.append(job.processed_on - job.timestamp)
        await asyncio.sleep(0.05)  # back to idle before the next one
    print(f"\nidle worker CPU {idle_cpu:.2%}; pickup ms {sorted(pickups)}")
    assert idle_cpu < 0.05, f"an idle worker used {idle_cpu:.1%} of a CPU"
    assert statistics.median(pickups) <= 50
    assert max(pickups) <= 250, "a pickup took far longer than the polling interval"
