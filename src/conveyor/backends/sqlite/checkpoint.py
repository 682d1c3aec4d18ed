"""Keep the write-ahead log short: checkpoint on a background thread, rewind the log in time.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
worker whose commit it is waits while pages are copied. Instead each process keeps one
checkpointer thread per database file, shared by its backend instances, on its own
connection:

- about every ``PASSIVE_EVERY_BYTES`` of log (at most ``EVERY_COMMITS`` commits apart) a
  ``PASSIVE`` checkpoint copies what it can into the database file, blocking nobody;
- PASSIVE alone does not bound the log. SQLite only rewinds it when a writer starts while
  the whole log is copied and no reader is in it; with other connections appending all
  the time that moment never comes (measured: PASSIVE after PASSIVE reported the log
  wholly copied, yet it never rewound and grew by ~290 MiB per 100,000 jobs). So once the
  ``-wal`` file outgrows ``RESTART_AT_BYTES``, a ``RESTART`` checkpoint takes the write
  lock, copies the rest and waits for readers to leave the log; the next writer then
  starts the log again from its beginning, and ``journal_size_limit`` (set on every
  conveyor connection) cuts the file back to ``RESTART_AT_BYTES``. The process's own
  writers hold back meanwhile (:class:`WriteGate`). The file stays under
  ``WAL_BOUND_BYTES`` as long as no reader keeps a snapshot for long (conveyor's reads
  never do: each is one short transaction on the database thread);
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
from collections.abc import Iterator

MIB = 1 << 20
EVERY_COMMITS = 64
"""A PASSIVE round at least every this many commits of the process..."""
PASSIVE_EVERY_BYTES = 8 * MIB
"""...and more often when commits are large: about every this many bytes of log, so that
the round which finds the log too long has little left to sync and copy."""
SIZE_EVERY_COMMITS = 4
"""How often a commit looks at the ``-wal`` file's size (one ``stat``, about a microsecond)."""
IDLE_CHECK_S = 1.0
RESTART_AT_BYTES = 64 * MIB
"""The log is rewound once it is this long; also the ``journal_size_limit``. Each rewind
stops the writers for a few ms, so it should not come too often: at 16 MiB, under the
heaviest write rates measured here (40-75 MB of log per second), rewinds several times a
second cost two worker processes 3-8 % of their throughput; at 64 MiB nothing measurable."""
WAL_BOUND_BYTES = 96 * MIB
"""The documented bound on the ``-wal`` file (docs/sqlite.md): the restart threshold plus
what writers append between the look at the size and the rewind (2-8 MiB measured under
load), with room to spare."""
RESTART_WAIT_MS = 100
"""How long a RESTART is tried again while the write lock is taken or readers are still in
the log (the process's own writers hold back meanwhile)."""
RESTART_RETRY_S = 0.0005
CATCH_UP_BYTES = 256 * 1024
CATCH_UP_MAX = 4
"""Before a RESTART, PASSIVE copies take what was appended while the one before ran, until
less than ``CATCH_UP_BYTES`` came in meanwhile (at most ``CATCH_UP_MAX`` of them): the
RESTART syncs and copies the rest with every writer stopped, about 12 ms per MiB here."""
READERS_WAIT_MS = 10
"""The checkpointer connection's busy timeout: how long one RESTART may wait for the write
lock, and then, holding it, for readers to leave the log (SQLite sleeps 1, 2, 5 ms between
looks). Conveyor's reads take well under a millisecond; a longer reader (another tool
holding a snapshot) costs writers at most this much per try."""
CLOSE_WAIT_MS = 100
"""The same for the TRUNCATE checkpoint when a process's last backend closes."""
RETRY_MAX_S = 2.0
"""A RESTART that could not finish is tried again after 10 ms, doubling up to this."""

_lock = threading.Lock()
_running: dict[str, Checkpointer] = {}


class WriteGate:
    """The process's write transactions on one file pass through here; a RESTART closes it.

    While it is closed, new transactions wait (at most ``RESTART_WAIT_MS``) and the
    checkpointer waits for those inside to finish, so it finds the write lock free.
    Otherwise the process's writers hand the lock to each other and the checkpoint hardly
    ever gets it. Entering costs an uncontended lock, twice per transaction.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._closed = False

    def enter(self) -> None:
        with self._cond:
            if self._closed:
                self._cond.wait_for(lambda: not self._closed, RESTART_WAIT_MS / 1000)
            self._inside += 1

    def leave(self) -> None:
        with self._cond:
            self._inside -= 1
            if self._closed and not self._inside:
                self._cond.notify_all()

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        """Closed for the block, once the transactions inside have ended (or after
        ``RESTART_WAIT_MS``: then the RESTART just has to wait for the lock)."""
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: not self._inside, RESTART_WAIT_MS / 1000)
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


class Checkpointer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.wal_path = path + "-wal"
        self.users = 0
        self.commits = 0
        self._over = False
        self._failures = 0
        self._retry_at = 0.0
        self._restarted_at = -1
        self._every = EVERY_COMMITS
        self._log_bytes = 0
        self._page_size = 0
        self.gate = WriteGate()
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
            and time.monotonic() >= self._retry_at
            and _size(self.wal_path) > RESTART_AT_BYTES
        ):
            self._over = True
            self._wake.set()
        elif self.commits >= self._every:
            self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop:
                self._wake.wait(IDLE_CHECK_S)
                self._wake.clear()
                commits, self.commits = self.commits, 0
                if self._stop or not (commits or self._over):
                    continue
                if conn is None:
                    conn = _open(self.path, READERS_WAIT_MS)
                with contextlib.suppress(sqlite3.Error):  # busy: the next round catches up
                    self._round(conn, commits)
        finally:
            self._close(conn)

    def _round(self, conn: sqlite3.Connection, commits: int) -> None:
        """PASSIVE; then RESTART when the log is longer than ``RESTART_AT_BYTES``."""
        self._over = False
        busy, frames, _ = _checkpoint(conn, "PASSIVE")
        if busy:
            return  # another process's checkpoint runs, and it looks at the size too
        frame_bytes = self._frame_bytes(conn)
        self._pace(frames * frame_bytes, commits)
        if frames * frame_bytes <= RESTART_AT_BYTES:
            return
        if frames == self._restarted_at or time.monotonic() < self._retry_at:
            # The log this thread just wholly copied has not been written to since (the
            # next writer starts it again); or a failed RESTART's pause is not over.
            return
        if self._restart(conn, frames, frame_bytes):
            self._failures = 0
            self._retry_at = 0.0
        else:
            self._failures += 1
            pause = min(RETRY_MAX_S, 0.01 * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + pause

    def _restart(self, conn: sqlite3.Connection, frames: int, frame_bytes: int) -> bool:
        """Copy the rest of the log and have the next writer start it again.

        PASSIVE copies first take what was appended while the copy before ran (the
        round's own one synced several MiB), until less than ``CATCH_UP_BYTES`` came in
        meanwhile, so the RESTART, which holds the write lock while it syncs and copies,
        has little left. The process's own writers wait at the :class:`WriteGate` for
        the RESTART only. A RESTART that finds the write lock taken by another process, or
        readers that stay in the log past ``READERS_WAIT_MS``, lets go and is tried again
        ``RESTART_RETRY_S`` later, for up to ``RESTART_WAIT_MS``.
        """
        for _ in range(CATCH_UP_MAX):
            busy, later, _ = _checkpoint(conn, "PASSIVE")
            if busy or (later - frames) * frame_bytes <= CATCH_UP_BYTES:
                break
            frames = later
        deadline = time.monotonic() + RESTART_WAIT_MS / 1000
        with self.gate.closed():
            while True:
                busy, frames, _ = _checkpoint(conn, "RESTART")
                if not busy:
                    self._restarted_at = frames
                    return True
                if frames < 0:
                    return False  # another process's checkpoint runs: it sees the same log
                if frames * frame_bytes <= RESTART_AT_BYTES:
                    return True  # another process started the log again
                if time.monotonic() >= deadline:
                    return False
                time.sleep(RESTART_RETRY_S)

    def _pace(self, log_bytes: int, commits: int) -> None:
        """Commits between rounds: ``PASSIVE_EVERY_BYTES`` of log at the rate it grew per
        commit of this process since the last round (other processes' commits make that
        rate look higher, so each process's checkpointer keeps to the same log length)."""
        grown, self._log_bytes = log_bytes - self._log_bytes, log_bytes
        if grown > 0 and commits > 0:
            every = PASSIVE_EVERY_BYTES * commits // grown
            self._every = max(SIZE_EVERY_COMMITS, min(EVERY_COMMITS, every))

    def _frame_bytes(self, conn: sqlite3.Connection) -> int:
        if not self._page_size:
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return self._page_size + 24

    def _close(self, conn: sqlite3.Connection | None) -> None:
        """Leave the log empty and close (best effort: while another process writes, the
        log is its to empty when it closes)."""
        try:
            if conn is None and self.commits:
                conn = _open(self.path, CLOSE_WAIT_MS)
            if conn is not None:
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


def _forget_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts checkpointers of its own
    (and must not wait on a lock some other thread of the parent held at the fork)."""
    global _lock
    _lock = threading.Lock()
    _running.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


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
