"""Crash safety and sharing with real processes on one database file.

A producer SIGKILLed inside ``add_bulk`` leaves each batch wholly stored or absent; a
worker SIGKILLed mid-job has its jobs recovered and completed exactly once elsewhere;
several worker processes on one file run every job exactly once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conveyor import BulkJob, Queue
from conveyor.serialization import loads
from tests.runtime.harness import ROOT, Records, Workers, until

BATCH = 5_000


def writer_busy(path: Path) -> bool:
    """True while another connection holds the database's write lock (mid-transaction)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


@pytest.mark.slow
async def test_producer_killed_inside_a_bulk_add_stores_whole_batches_only(
    producer: Queue, sqlite_url: str, db_path: Path
) -> None:
    await producer.counts()  # create the database before the child opens it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.backends.sqlite.producer_child", sqlite_url,
         producer.name, str(BATCH)],
        cwd=ROOT,
        env=env,
    )
    try:
        async def some_batches_stored() -> bool:
            assert child.poll() is None, "the producer exited"
            return (await producer.counts())["waiting"] >= 2 * BATCH

        await until(some_batches_stored, 60, "two batches to be stored")
        # Kill while the child holds the write lock: inside a batch's transaction.
        await until(lambda: writer_busy(db_path), 30, "the producer to be mid-transaction",
                    interval=0.0005)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)

    waiting = (await producer.counts())["waiting"]
    assert waiting % BATCH == 0, f"{waiting} jobs stored: a batch was stored in part"
    jobs = []
    for offset in range(0, waiting, 10_000):
        jobs += await producer.get_jobs("waiting", offset=offset, limit=10_000)
    batches = Counter(loads(job.raw_data)["batch"] for job in jobs)
    assert set(batches.values()) == {BATCH}
    assert sorted(batches) == list(range(len(batches)))
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


@pytest.mark.slow
async def test_worker_killed_mid_job_is_recovered_and_completed_exactly_once(
    producer: Queue, sqlite_url: str, workers: Workers, records: Records, tmp_path: Path
) -> None:
    settings = {"lease": 1.0, "stalled_interval": 0.3, "concurrency": 5}
    doomed = workers.start(sqlite_url, producer.name, "doomed", **settings)
    await doomed.wait_ready()
    gate = tmp_path / "gate"
    added = await producer.add_bulk(BulkJob("gated", {"gate": str(gate)}) for _ in range(12))
    ids = {job.id for job in added}

    def five_started() -> bool:
        return len(records.count("start", "doomed")) == 5

    await until(five_started, 20, "the doomed worker to start five jobs")
    held = set(records.count("start", "doomed"))
    doomed.kill()
    gate.touch()
    rescuer = workers.start(sqlite_url, producer.name, "rescuer", **settings)

    async def all_completed() -> bool:
        return (await producer.counts())["completed"] == len(ids)

    await until(all_completed, 30, "every job to complete on the rescuer")
    done = records.count("done")
    assert set(done) == ids
    assert set(done.values()) == {1}, f"a job completed twice: {done}"
    assert records.count("done", "doomed") == Counter()
    for job_id in held:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.stalled_count, job.attempts_made) == ("completed", 1, 1)
    rescuer.kill()


@pytest.mark.slow
async def test_several_worker_processes_run_every_job_exactly_once(
    producer: Queue, sqlite_url: str, workers: Workers, records: Records
) -> None:
    procs = [
        workers.start(sqlite_url, producer.name, f"w{i}", concurrency=20) for i in range(3)
    ]
    for proc in procs:
        await proc.wait_ready()
    ids: list[str] = []
    for _ in range(3):
        added = await producer.add_bulk(
            BulkJob("noop", options={"remove_on_complete": False}) for _ in range(1_000)
        )
        ids += [job.id for job in added]

    async def all_completed() -> bool:
        return (await producer.counts())["completed"] == len(ids)

    await until(all_completed, 60, "3,000 jobs to complete")
    runs = records.count("run")
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}, "a job ran twice"
    per_process = Counter(r.label for r in records.of("run"))
    assert len(per_process) == 3, f"a process took no job: {per_process}"
    counts = await producer.counts()
    assert counts["active"] == counts["waiting"] == counts["failed"] == 0
