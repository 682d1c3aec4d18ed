"""Schema versioning: recorded on creation, older files migrated on open, newer, foreign,
non-SQLite and corrupted files refused with a clear error and never modified."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor import Dedup, Lock, Queue, SchemaError, TokenBucket, Worker, WorkerSettings
from conveyor.backends import from_url
from conveyor.backends.sqlite import SQLiteBackend, schema

SRC = Path(__file__).resolve().parents[3] / "src"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scribble(path: Path, first: Callable[[int], int]) -> None:
    """Overwrite the database's pages from ``first(page count)`` on with garbage."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        for n in range(first(pages), pages):
            f.seek(n * page)
            f.write(b"\xde\xad\xbe\xef" * (page // 4))


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


async def test_a_new_database_records_its_schema_version_and_uses_wal(
    producer: Queue, db_path: Path
) -> None:
    await producer.add("noop", None)
    assert pragma(db_path, "user_version") == schema.SCHEMA_VERSION
    assert pragma(db_path, "application_id") == schema.APPLICATION_ID
    assert pragma(db_path, "journal_mode") == "wal"


async def test_an_older_database_is_migrated_on_open(
    sqlite_url: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Queue("q", url=sqlite_url)
    job = await old.add("noop", {"kept": True})
    await old.close()

    newer = schema.SCHEMA_VERSION + 1
    migrations = {
        newer: "ALTER TABLE jobs ADD COLUMN note TEXT;\nCREATE INDEX jobs_by_note ON jobs (note);\n"
    }
    monkeypatch.setattr(schema, "SCHEMA_VERSION", newer)
    monkeypatch.setattr(schema, "load_migration", migrations.__getitem__)
    upgraded = Queue("q", url=sqlite_url)
    try:
        again = await upgraded.get_job(job.id)
        assert again is not None
        assert again.data == {"kept": True}
    finally:
        await upgraded.close()
    assert pragma(db_path, "user_version") == newer
    conn = sqlite3.connect(db_path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    conn.close()
    assert "note" in columns


async def test_a_failed_migration_leaves_the_file_as_it_was(
    sqlite_url: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Queue("q", url=sqlite_url)
    await old.add("noop", None)
    await old.close()
    version = schema.SCHEMA_VERSION
    broken = {version + 1: "ALTER TABLE jobs ADD COLUMN note TEXT;\nALTER TABLE nowhere ADD x;\n"}
    monkeypatch.setattr(schema, "SCHEMA_VERSION", version + 1)
    monkeypatch.setattr(schema, "load_migration", broken.__getitem__)
    backend = from_url(sqlite_url)
    expected = rf"from schema version {version} to {version + 1}.*nowhere.*left as it was"
    with pytest.raises(SchemaError, match=expected):
        await backend.ping()
    await backend.close()
    monkeypatch.undo()
    assert pragma(db_path, "user_version") == version
    reopened = Queue("q", url=sqlite_url)
    assert (await reopened.counts())["waiting"] == 1
    await reopened.close()


def test_every_schema_version_after_the_first_has_a_migration() -> None:
    for version in range(2, schema.SCHEMA_VERSION + 1):
        assert schema.statements(schema.load_migration(version))


def test_the_schema_script_splits_into_statements() -> None:
    statements = schema.statements(schema.schema_sql())
    assert sum("CREATE TABLE" in s for s in statements) == 11
    assert all(sqlite3.complete_statement(s) for s in statements)


async def test_a_database_from_a_newer_conveyor_is_refused_unchanged(
    producer: Queue, sqlite_url: str, db_path: Path
) -> None:
    await producer.add("noop", None)
    await producer.close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    conn.close()
    before = digest(db_path)
    backend = from_url(sqlite_url)
    with pytest.raises(SchemaError, match="newer conveyor") as caught:
        await backend.counts("q")
    assert str(db_path) in str(caught.value)
    await backend.close()
    assert digest(db_path) == before


async def test_another_programs_sqlite_database_is_refused_unchanged(
    sqlite_url: str, db_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.commit()
    conn.close()
    before = digest(db_path)
    backend = from_url(sqlite_url)
    with pytest.raises(SchemaError, match=r"not a conveyor database.*users"):
        await backend.add("q", [], 0)
    await backend.close()
    assert digest(db_path) == before


async def test_a_file_that_is_not_a_database_is_refused_unchanged(
    sqlite_url: str, db_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("name,email\nada,ada@example.com\n" * 200)
    before = digest(db_path)
    queue = Queue("q", url=sqlite_url)
    with pytest.raises(SchemaError, match="not a SQLite database"):
        await queue.add("noop", None)
    await queue.close()
    assert digest(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["conveyor.db"]


async def test_a_corrupted_database_is_reported_and_never_recreated(
    producer: Queue, sqlite_url: str, db_path: Path
) -> None:
    for _ in range(20):
        await producer.add("noop", {"pad": "x" * 2000})
    await producer.close()
    scribble(db_path, lambda pages: 1)  # every page but the header page
    size = db_path.stat().st_size
    queue = Queue(producer.name, url=sqlite_url)
    with pytest.raises(SchemaError, match=r"corrupted.*not recreate"):
        await queue.get_jobs("waiting")
    await queue.close()
    assert db_path.stat().st_size == size


async def test_a_worker_on_a_corrupted_database_stops_with_the_same_error(
    producer: Queue, sqlite_url: str, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The damage sits in the jobs' pages, so the worker opens the file; its first fetch
    meets the damage and the worker stops with the error ``add`` would raise, once,
    instead of logging tracebacks in a loop."""
    for _ in range(40):
        await producer.add("noop", {"pad": "x" * 2000})
    await producer.close()
    scribble(db_path, lambda pages: pages // 2)  # the second half: job rows, not the schema
    queue = Queue(producer.name, url=sqlite_url)

    @queue.job()
    async def noop(job: object) -> None:
        return None

    worker = Worker(queue, settings=WorkerSettings(stalled_interval=60))
    with pytest.raises(SchemaError, match=r"corrupted.*not recreate"):
        await asyncio.wait_for(worker.run(handle_signals=False), 30)
    await queue.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "worker stops" in errors[0].getMessage()


async def test_the_default_url_creates_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONVEYOR_URL", raising=False)
    backend = from_url()
    assert isinstance(backend, SQLiteBackend)
    assert backend.path == str(tmp_path / ".conveyor" / "conveyor.db")
    await backend.ping()
    await backend.close()
    assert (tmp_path / ".conveyor" / "conveyor.db").is_file()


async def test_clone_opens_the_same_file(producer: Queue) -> None:
    job = await producer.add("noop", None)
    twin = producer.backend.clone()
    try:
        assert await twin.get_job(producer.name, job.id) is not None
    finally:
        await twin.close()


_OPEN_AT_THE_GATE = """
import os, sys, time
sys.path.insert(0, {src!r})
from conveyor.backends.sqlite.connection import open_connection
from conveyor.backends.sqlite.url import parse
gate = {gate!r}
while not os.path.exists(gate):  # all children start together, as a deploy's workers do
    time.sleep(0.0005)
open_connection(parse({url!r})).close()
"""


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(6))
def test_processes_opening_one_new_database_together_all_succeed(
    tmp_path: Path, round_: int
) -> None:
    """One creates the schema while the others look at the file: none may read it half
    made (tables without conveyor's application id) or fail to switch it to WAL."""
    gate = tmp_path / "go"
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = _OPEN_AT_THE_GATE.format(src=str(SRC), gate=str(gate), url=url)
    children = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    gate.touch()
    failures = []
    for child in children:
        _, err = child.communicate(timeout=60)
        if child.returncode != 0:
            failures.append(err.strip().splitlines()[-1])
    assert failures == []


async def test_a_version_1_database_is_migrated_to_hold_dedup_keys(
    tmp_path: Path, queue_name: str
) -> None:
    path = tmp_path / "v1.db"
    first = Queue(queue_name, url=f"sqlite:///{path}")
    kept = await first.add("noop", "from version 1")
    await first.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE dedup")  # what a version-1 file looks like
    conn.execute("DROP TABLE locks")  # ... without version 4's locks and buckets,
    conn.execute("DROP TABLE buckets")
    conn.execute("DROP TABLE flow_children")  # ... nor version 3's flows
    for column in ("parent", "on_failure", "pending_children", "child_failed", "resume",
                   "child_failed_by", "failed_by"):
        conn.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    again = Queue(queue_name, url=f"sqlite:///{path}")
    try:
        assert (await again.get_job(kept.id)).data == "from version 1"  # type: ignore[union-attr]
        job = await again.add("noop", 1, dedup=Dedup.throttle("once"))
        assert (await again.add("noop", 2, dedup=Dedup.throttle("once"))).id == job.id
    finally:
        await again.close()
    assert pragma(path, "user_version") == schema.SCHEMA_VERSION


async def test_a_version_3_database_is_migrated_to_hold_locks_and_buckets(
    tmp_path: Path, queue_name: str
) -> None:
    path = tmp_path / "v3.db"
    first = Queue(queue_name, url=f"sqlite:///{path}")
    kept = await first.add("noop", "from version 3")
    await first.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE locks")  # what a version-3 file looks like
    conn.execute("DROP TABLE buckets")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    again = Queue(queue_name, url=f"sqlite:///{path}")
    try:
        assert (await again.get_job(kept.id)).data == "from version 3"  # type: ignore[union-attr]
        async with Lock("after-migration", backend=again.backend, timeout=0) as lock:
            assert lock.held
        bucket = TokenBucket("after-migration", capacity=1, per_second=1, backend=again.backend)
        assert await bucket.try_acquire()
    finally:
        await again.close()
    assert pragma(path, "user_version") == schema.SCHEMA_VERSION
