"""Notice other connections' commits cheaply: ``PRAGMA data_version`` on a tiny connection.

An idle worker (or a blocked event reader) must see a job another process added within
tens of milliseconds, without a busy loop and without a round trip to the database thread
for every look. ``PRAGMA data_version`` changes whenever another connection commits; it
reads the WAL index from shared memory, takes no lock a writer waits for, and costs a few
microseconds, so it runs on the caller's own thread (one watch connection per thread).
Only when it moves does the caller read what it cares about (a queue's marker, its
events) on the database thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading


class ChangeWatch:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def version(self) -> int | None:
        """The database's data version as this thread's watch connection sees it; None
        when it cannot tell (then the caller simply reads)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=0, check_same_thread=False
                )
                self._local.conn = conn
                with self._lock:
                    self._all.append(conn)
            return int(conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        self._local = threading.local()
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
