"""Checkpoint the WAL on a background thread, not in the middle of a worker's commit.

SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so the
database thread that happens to commit then copies pages and syncs the file (several ms)
while its worker waits. Instead each process keeps one checkpointer thread per database
file, shared by its backend instances: after every ``EVERY_COMMITS`` commits, or once a
second while commits keep coming, it runs a ``PASSIVE`` checkpoint on its own connection,
which never blocks readers or writers. The thread stops when the last backend closes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

EVERY_COMMITS = 64
IDLE_CHECK_S = 1.0

_lock = threading.Lock()
_running: dict[str, Checkpointer] = {}


class Checkpointer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.users = 0
        self.commits = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(
            target=self._run, name="conveyor-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called after each write transaction (from any thread; a lost count is harmless)."""
        self.commits += 1
        if self.commits >= EVERY_COMMITS:
            self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop:
                self._wake.wait(IDLE_CHECK_S)
                self._wake.clear()
                if self._stop or not self.commits:
                    continue
                self.commits = 0
                if conn is None:
                    conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
                with contextlib.suppress(sqlite3.Error):  # busy: the next round catches up
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()


def acquire(path: str) -> Checkpointer:
    """The process's checkpointer for ``path``, started on first use."""
    with _lock:
        checkpointer = _running.get(path)
        if checkpointer is None:
            checkpointer = _running[path] = Checkpointer(path)
        checkpointer.users += 1
        return checkpointer


def release(checkpointer: Checkpointer) -> None:
    with _lock:
        checkpointer.users -= 1
        if checkpointer.users <= 0:
            _running.pop(checkpointer.path, None)
            checkpointer.stop()
