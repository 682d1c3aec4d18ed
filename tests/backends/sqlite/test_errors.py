"""Bad situations, each a clear error that loses nothing: a database locked past the
busy timeout, a read-only file, a read-only directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import BackendError, BackendUnavailableError, Queue
from tests.processes.harness import ROOT


async def test_a_database_locked_past_the_busy_timeout_is_a_clear_error(
    producer: Queue, db_path: Path
) -> None:
    await producer.add("noop", None)
    quick = Queue(producer.name, url=f"sqlite:///{db_path}?busy_timeout_ms=200")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holds a long write transaction
    try:
        locked = r"locked past the busy timeout \(200 ms\)"
        with pytest.raises(BackendUnavailableError, match=locked):
            await quick.add("noop", None)
        assert (await quick.counts())["waiting"] == 1, "readers still read while it is locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await quick.add("noop", None)
    assert (await quick.counts())["waiting"] == 2
    await quick.close()


def run_without_privileges(code: str, *args: str) -> dict[str, str]:
    """Run ``code`` in a fresh interpreter that file permissions apply to: when we are
    root, without the capabilities that override them. It prints one JSON object."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file permissions cannot apply")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner",
                   *command]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


TRY_ADD = """
import asyncio, json, sys
from conveyor import Queue

async def main():
    queue = Queue("q", url=sys.argv[1])
    try:
        await queue.add("noop", None)
        print(json.dumps({"error": "", "message": ""}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    finally:
        await queue.close()

asyncio.run(main())
"""


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "ro"
    directory.mkdir()
    yield directory
    directory.chmod(0o755)


async def test_a_read_only_database_file_is_a_clear_error_and_loses_nothing(
    shared_dir: Path,
) -> None:
    path = shared_dir / "conveyor.db"
    queue = Queue("q", url=f"sqlite:///{path}")
    await queue.add("noop", None)
    await queue.close()
    path.chmod(0o444)
    outcome = run_without_privileges(TRY_ADD, f"sqlite:///{path}")
    assert outcome["error"] == BackendError.__name__
    assert "the file is read-only" in outcome["message"]
    assert str(path) in outcome["message"]
    path.chmod(0o644)
    queue = Queue("q", url=f"sqlite:///{path}")
    assert (await queue.counts())["waiting"] == 1
    await queue.close()


async def test_a_read_only_directory_is_a_clear_error(shared_dir: Path) -> None:
    path = shared_dir / "conveyor.db"
    shared_dir.chmod(0o555)
    outcome = run_without_privileges(TRY_ADD, f"sqlite:///{path}")
    assert outcome["error"] == BackendError.__name__
    assert "is read-only" in outcome["message"]
    assert not path.exists()


async def test_a_directory_that_cannot_be_created_is_a_clear_error(shared_dir: Path) -> None:
    shared_dir.chmod(0o555)
    outcome = run_without_privileges(TRY_ADD, f"sqlite:///{shared_dir}/sub/conveyor.db")
    assert outcome["error"] == BackendError.__name__
    assert "cannot create the directory" in outcome["message"]


async def test_a_value_sqlite_cannot_bind_is_a_script_error_and_changes_nothing(
    producer: Queue,
) -> None:
    """The engine's option limits keep such values out; if one slips through the seam it
    is conveyor's error, in one rolled-back transaction, not a bare OverflowError."""
    from conveyor import ScriptError
    from conveyor.backends.base import NewJob

    sound = NewJob("work", b"1", b"{}")
    too_far = NewJob("work", b"2", b"{}", delay_ms=2**70)
    with pytest.raises(ScriptError, match="nothing was changed"):
        await producer.backend.add(producer.name, [sound, too_far], 0)
    assert sum((await producer.counts()).values()) == 0


async def test_opening_while_another_connection_holds_the_write_lock_waits_for_it(
    tmp_path: Path, queue_name: str
) -> None:
    """As when two processes open a new database together and one is creating the
    schema: SQLite refuses the switch to WAL at once (no busy handler), so it is retried
    within the busy timeout instead of failing with "locked"."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # a rollback-journal file, write-locked
    queue = Queue(queue_name, url=f"sqlite:///{path}?busy_timeout_ms=10000")
    try:
        adding = asyncio.ensure_future(queue.add("noop", None))
        # Nothing signals that the opener has reached the lock, so give it time to: it
        # fails at once without the retry (the assertion below), and passes either way
        # with it; the sleep can make the test weaker, never flaky.
        await asyncio.sleep(0.3)
        assert not adding.done(), "the add waits for the lock instead of failing"
        holder.execute("COMMIT")
        job = await asyncio.wait_for(adding, 15)
        assert (await queue.get_job(job.id)) is not None
    finally:
        holder.close()
        await queue.close()
