"""The write-ahead log stays bounded under steady load and is gone after a clean shutdown.

Under steady writes a PASSIVE checkpoint never lets SQLite start the log again, so the
``-wal`` file used to grow by ~3 KB per job for as long as work came in. These tests
drive real files (and real worker processes) and look at the log from outside: its size,
and the header's restart counter.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor import BulkJob, Queue, Worker, WorkerSettings
from conveyor.backends.sqlite.checkpoint import WAL_BOUND_BYTES
from tests.processes.harness import Records, Workers, until

from .wal import snapshot_held, wal_restarts, wal_size

BLOB = "x" * 3500
"""A payload that fills most of a page, so the log grows quickly."""


async def test_reads_hold_no_snapshot_once_they_return(
    producer: Queue, sqlite_url: str, db_path: Path
) -> None:
    job = await producer.add("noop", {"n": 0})
    reader = Queue(producer.name, url=sqlite_url)
    backend, name = reader.backend, reader.name
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "ping": backend.ping,
        "get_job": lambda: backend.get_job(name, job.id),
        "get_jobs": lambda: backend.get_jobs(name, "waiting", 0, 10, True),
        "counts": lambda: backend.counts(name),
        "get_logs": lambda: backend.get_logs(name, job.id, 0, 10),
        "is_paused": lambda: backend.is_paused(name),
        "queues": backend.queues,
        "read_events": lambda: backend.read_events(name, "0", 5, None),
        "last_event_id": lambda: backend.last_event_id(name),
        "wait_for_work": lambda: backend.wait_for_work(name, 0),  # the change watch too
    }
    try:
        for label, read in reads.items():
            await read()
            await producer.add("noop", {"after": label})  # a commit newer than the read
            # This process's own checkpointer may hold the checkpoint lock for a moment.
            await until(lambda: not snapshot_held(db_path), 5, f"{label} to end its read")
    finally:
        await reader.close()


def test_the_probe_sees_a_snapshot_left_open(db_path: Path) -> None:
    """The check above is meaningful: an unfinished statement keeps its snapshot."""
    db_path.parent.mkdir(parents=True)
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE t (n INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(3)])
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        cursor = reader.execute("SELECT n FROM t")
        cursor.fetchone()  # two rows left: the statement is still running
        writer.execute("INSERT INTO t VALUES (3)")
        assert snapshot_held(db_path)
        cursor.fetchall()
        assert not snapshot_held(db_path)
    finally:
        reader.close()
        writer.close()


async def test_the_wal_stays_bounded_under_steady_writes_and_reads(
    sqlite_url: str, db_path: Path, queue_name: str
) -> None:
    """Two writers (each its own connection and thread) add and drain jobs while a reader
    reads without pause, until the log has been started again twice (about three times
    ``RESTART_AT_BYTES`` of log written); it never grows past the bound. Before the fix it
    grew past the bound and never started again."""
    writers = [Queue(f"{queue_name}-{i}", url=sqlite_url) for i in range(2)]
    reader = Queue(writers[0].name, url=sqlite_url)
    largest = 0
    done = asyncio.Event()

    def look() -> None:
        nonlocal largest
        largest = max(largest, wal_size(db_path))

    async def write(queue: Queue) -> None:
        while not done.is_set() and largest < WAL_BOUND_BYTES:
            await queue.add_bulk(BulkJob("noop", {"blob": BLOB}) for _ in range(200))
            look()
            await queue.drain()
            look()

    async def read() -> None:
        while not done.is_set() and largest < WAL_BOUND_BYTES:
            await reader.counts()
            await reader.get_jobs("waiting", limit=20)
            look()

    try:
        await writers[0].counts()  # create the file before the look at its log
        first = wal_restarts(db_path)
        tasks = [asyncio.ensure_future(f) for f in (*map(write, writers), read())]
        enough = 2  # past the first RESTART_AT_BYTES, the log's length written twice more
        await until(
            lambda: wal_restarts(db_path) - first >= enough or largest >= WAL_BOUND_BYTES,
            60, "the log to be started again", interval=0.01,
        )
        restarted = wal_restarts(db_path) - first
        done.set()
        await asyncio.gather(*tasks)
    finally:
        done.set()
        for queue in (*writers, reader):
            await queue.close()
    print(f"\nlargest -wal {largest / 2**20:.1f} MiB; the log started again {restarted} times")
    assert largest < WAL_BOUND_BYTES, f"the -wal file reached {largest / 2**20:.1f} MiB"
    assert restarted >= enough


async def test_closing_every_backend_leaves_no_wal(
    sqlite_url: str, db_path: Path, queue_name: str
) -> None:
    """A worker (with its lease keeper's own connections), a producer and an event reader
    in one process; once all are closed the log is gone, not left for the next opener."""
    queue = Queue(queue_name, url=sqlite_url)
    producer = Queue(queue_name, url=sqlite_url)
    ran: list[str] = []

    @queue.job("noop")
    async def noop(job: Any) -> None:
        ran.append(job.id)

    async with producer.events(after="0", block=0.05) as stream:
        async with Worker(queue, settings=WorkerSettings(concurrency=20)):
            await producer.add_bulk(BulkJob("noop", {"blob": BLOB}) for _ in range(2000))
            await until(lambda: len(ran) == 2000, 60, "every job to run")
        async for _ in stream:
            break
    assert wal_size(db_path) > 0  # still open: the log is in use
    await queue.close()
    await producer.close()
    assert wal_size(db_path) == 0, f"{wal_size(db_path):,} bytes of WAL left after close"


@pytest.mark.slow
async def test_after_worker_processes_stop_cleanly_the_wal_is_gone(
    producer: Queue, sqlite_url: str, db_path: Path, workers: Workers, records: Records
) -> None:
    """Two worker processes and a producer share the file; SIGTERM stops the workers
    (each closes its connections), the producer closes last: no log is left."""
    await producer.counts()
    started = [
        workers.start(sqlite_url, producer.name, f"w{i}", concurrency=50) for i in range(2)
    ]
    for worker in started:
        await worker.wait_ready()
    largest = 0
    for _ in range(5):
        await producer.add_bulk(BulkJob("noop", {"blob": BLOB}) for _ in range(1000))
        largest = max(largest, wal_size(db_path))
    await until(lambda: len(records.count("run")) >= 5000, 60, "every job to run")
    for worker in started:
        worker.send(signal.SIGTERM)
    for worker in started:
        assert await worker.wait_exit(30) == 0, worker.log()
    assert largest < WAL_BOUND_BYTES
    await producer.close()
    assert wal_size(db_path) == 0, f"{wal_size(db_path):,} bytes of WAL left after exit"
