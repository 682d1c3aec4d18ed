"""SQLite only: a producer SIGKILLed inside ``add_bulk`` (while it holds the database's
write lock) leaves each batch wholly stored or absent, and the file intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conveyor import Queue
from conveyor.serialization import loads

from .harness import ROOT, until

# The kill is timed by SQLite's write lock, and the file is checked with SQLite's own tools.
pytestmark = pytest.mark.parametrize("process_url", ["sqlite"], indirect=True)

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
    producer: Queue, process_url: str, db_path: Path
) -> None:
    await producer.counts()  # create the database before the child opens it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.processes.producer_child", process_url,
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
