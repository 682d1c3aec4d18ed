"""Several worker processes on one queue: every job runs and completes exactly once."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from conveyor import BulkJob, Queue

from .harness import Records, Workers, until

JOBS = 20_000
CHUNK = 2_000
PROCESSES = 4


@pytest.mark.slow
async def test_four_processes_complete_20000_jobs_exactly_once(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str
) -> None:
    procs = [
        workers.start(process_url, queue_name, f"w{i}", concurrency=100)
        for i in range(PROCESSES)
    ]
    for proc in procs:
        await proc.wait_ready()

    started = time.monotonic()
    ids: list[str] = []
    for _ in range(0, JOBS, CHUNK):
        added = await producer.add_bulk(
            BulkJob("noop", options={"remove_on_complete": False}) for _ in range(CHUNK)
        )
        ids += [job.id for job in added]
    assert len(set(ids)) == JOBS

    async def all_finished() -> bool:
        counts = await producer.counts()
        return counts["completed"] + counts["failed"] >= JOBS

    await until(all_finished, 90, f"{JOBS} jobs to finish")
    took = time.monotonic() - started
    counts = await producer.counts()
    assert counts["completed"] == JOBS
    assert counts["failed"] == 0
    assert counts["active"] == counts["waiting"] == counts["delayed"] == 0

    runs = records.count("run")
    assert set(runs) == set(ids), "a job ran that was not added, or an added job never ran"
    duplicates = {job_id: n for job_id, n in runs.items() if n != 1}
    assert duplicates == {}
    per_process = Counter(r.label for r in records.of("run"))
    assert sum(per_process.values()) == JOBS
    assert len(per_process) == PROCESSES, f"some process took no job: {per_process}"
    print(f"\n{JOBS} jobs on {PROCESSES} processes in {took:.1f}s: {dict(per_process)}")

    for proc in procs:
        proc.send(signal.SIGTERM)
    for proc in procs:
        assert await proc.wait_exit(30) == 0, proc.log()
