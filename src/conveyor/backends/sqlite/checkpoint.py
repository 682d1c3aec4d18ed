"""Keep the write-ahead log short: checkpoint on a background thread, rewind the log in time.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
worker whose commit it is waits while pages are copied. Instead each process keeps one
checkpointer thread per database file, shared by its backend instances, on its own
connection:

- every ``EVERY_COMMITS`` commits (or once a second while commits come) a ``PASSIVE``
  checkpoint copies what it can into the database file, blocking nobody;
- PASSIVE alone does not bound the log. SQLite only rewinds it when a writer starts while
  the whole log is copied and no reader is in it; with other processes appending all the
  time that moment never comes (measured: every PASSIVE reported the log fully copied,
  yet it never rewound and grew by ~290 MiB per 100,000 jobs). So once the ``-wal`` file
  outgrows ``RESTART_AT_BYTES``, a ``RESTART`` checkpoint takes the write lock, copies the
  rest, waits up to ``RESTART_WAIT_MS`` for readers to leave the log, and the next writer
  starts the log again from its beginning; ``journal_size_limit`` (set on every conveyor
  connection to ``RESTART_AT_BYTES``) then cuts the file back. The file stays under
  ``WAL_BOUND_BYTES`` while no reader holds a snapshot for long (conveyor's never do);
- when a process's last backend closes, a ``TRUNCATE`` checkpoint empties the log and the
  thread closes its connection before ``close`` returns, so the last connection of the
  last process removes the ``-wal`` file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time

MIB = 1 << 20
EVERY_COMMITS = 64
SIZE_EVERY_COMMITS = 4
"""How often a commit looks at the ``-wal`` file's size (one ``stat``, about a microsecond)."""
IDLE_CHECK_S = 1.0
RESTART_AT_BYTES = 16 * MIB
"""The log is rewound once it is this long; also the ``journal_size_limit``."""
WAL_BOUND_BYTES = 32 * MIB
"""The documented bound on the ``-wal`` file (docs/sqlite.md): the restart threshold plus
what the writers append while a restart waits for its turn, with room to spare."""
RESTART_WAIT_MS = 100
"""How long a RESTART may wait for the write lock and then for readers; while it waits
for readers it holds the write lock, so this also bounds how long it can stall writers."""
CLOSE_WAIT_MS = 250
"""The same for the TRUNCATE checkpoint when a process's last backend closes."""
RETRY_MAX_S = 2.0
"""A RESTART that could not finish is tried again after 10 ms, doubling up to this."""

_lock = threading.Lock()
_running: dict[str, Checkpointer] = {}


class Checkpointer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.wal_path = path + "-wal"
        self.users = 0
        self.commits = 0
        self.restarts = 0
        """RESTART checkpoints that finished (the log was rewound): for tests and debugging."""
        self.restarts_busy = 0
        self._over = False
        self._failures = 0
        self._retry_at = 0.0
        self._restarted_at = -1
        self._page_size = 0
        self._writers_go = threading.Event()
        self._writers_go.set()
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(
            target=self._run, name="conveyor-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called after each write transaction (from any thread; a lost count is harmless)."""
        self.commits += 1
        if (
            self.commits % SIZE_EVERY_COMMITS == 0
            and _size(self.wal_path) > RESTART_AT_BYTES
            and time.monotonic() >= self._retry_at
        ):
            self._over = True
            self._wake.set()
        elif self.commits >= EVERY_COMMITS:
            self._wake.set()

    def before_write(self) -> None:
        """Called before each write transaction: while this thread's RESTART waits for the
        write lock, the process's own writers hold back. Otherwise two busy writers of one
        process pass the lock to each other and the checkpoint, which sleeps 1, 2, 5 …
        ms between its tries, rarely finds it free."""
        if not self._writers_go.is_set():
            self._writers_go.wait(RESTART_WAIT_MS / 1000)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop:
                self._wake.wait(IDLE_CHECK_S)
                self._wake.clear()
                if self._stop or not (self.commits or self._over):
                    continue
                self.commits = 0
                if conn is None:
                    conn = _open(self.path, RESTART_WAIT_MS)
                with contextlib.suppress(sqlite3.Error):  # busy: the next round catches up
                    self._round(conn)
        finally:
            self._close(conn)

    def _round(self, conn: sqlite3.Connection) -> None:
        """PASSIVE; then RESTART when the log is longer than ``RESTART_AT_BYTES``."""
        self._over = False
        busy, frames, _ = _checkpoint(conn, "PASSIVE")
        if busy or frames * self._frame_bytes(conn) <= RESTART_AT_BYTES:
            return  # busy: another process's checkpoint runs, and it looks at the size too
        if frames == self._restarted_at or time.monotonic() < self._retry_at:
            # The log this thread just wholly copied has not been written to since (the
            # next writer starts it again); or a failed RESTART's pause is not over.
            return
        # That copy took a while (it synced all that was appended since the last round):
        # copy what came meanwhile too, so that the RESTART, which holds the write lock
        # while it copies and syncs, has little left to do.
        _checkpoint(conn, "PASSIVE")
        self._writers_go.clear()
        try:
            busy, frames, _ = _checkpoint(conn, "RESTART")
        finally:
            self._writers_go.set()
        if busy:
            self.restarts_busy += 1
            self._failures += 1
            pause = min(RETRY_MAX_S, 0.01 * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + pause
        else:
            self.restarts += 1
            self._restarted_at = frames
            self._failures = 0
            self._retry_at = 0.0

    def _frame_bytes(self, conn: sqlite3.Connection) -> int:
        if not self._page_size:
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return self._page_size + 24

    def _close(self, conn: sqlite3.Connection | None) -> None:
        """Leave the log empty (best effort: another process may be writing) and close."""
        try:
            if conn is None and self.commits:
                conn = _open(self.path, CLOSE_WAIT_MS)
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute(f"PRAGMA busy_timeout = {CLOSE_WAIT_MS}")
                    _checkpoint(conn, "TRUNCATE")
        except sqlite3.Error:
            pass
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        """Stop the thread and wait until it has closed its connection."""
        self._stop = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _open(path: str, busy_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_ms / 1000)
    conn.execute(f"PRAGMA journal_size_limit = {RESTART_AT_BYTES}")
    return conn


def _checkpoint(conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    """(busy, frames in the log, frames copied), as ``PRAGMA wal_checkpoint`` reports them."""
    busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(busy), int(frames), int(copied)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def acquire(path: str) -> Checkpointer:
    """The process's checkpointer for ``path``, started on first use."""
    with _lock:
        checkpointer = _running.get(path)
        if checkpointer is None:
            checkpointer = _running[path] = Checkpointer(path)
        checkpointer.users += 1
        return checkpointer


def release(checkpointer: Checkpointer) -> None:
    """Drop one user; the last one stops the thread (after its closing checkpoint)."""
    with _lock:
        checkpointer.users -= 1
        last = checkpointer.users <= 0
        if last and _running.get(checkpointer.path) is checkpointer:
            del _running[checkpointer.path]
    if last:
        checkpointer.stop()
