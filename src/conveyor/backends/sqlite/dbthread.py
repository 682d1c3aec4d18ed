"""One thread and one connection per backend instance: SQLite never blocks the loop.

Every call of a backend instance runs, in order, on its own thread with its own
connection (opened there on first use), so the event loop only awaits a future. A write
is one ``BEGIN IMMEDIATE`` … ``COMMIT``; SQLite errors become conveyor errors here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...errors import ScriptError
from . import checkpoint
from .connection import open_connection, translate
from .url import SQLiteTarget

T = TypeVar("T")

_BUSY, _LOCKED = 5, 6
_SPIN_FOR_S = 0.002
"""For the first 2 ms (a worker's transaction takes about 0.5 ms), look again at once,
only yielding the CPU: a sleep, however short, lasts ~60-80 µs on Linux (timer slack and
wake-up), an idle gap in the write lock after every commit of the other process..."""
_yield_cpu: Callable[[], None] = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))
_FINE_PAUSE_S = 0.00002
"""...then, while another process's transaction is likely short, every ~20 µs..."""
_FINE_FOR_S = 0.02
_MAX_PAUSE_S = 0.001
"""...and after that, back off to 1 ms between looks (a long transaction is running)."""


class _Session:
    """An executor's single thread and the connection it opened: never shared."""

    def __init__(self, target: SQLiteTarget) -> None:
        self.target = target
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="conveyor-sqlite")
        self.conn: sqlite3.Connection | None = None
        self.checkpointer: checkpoint.Checkpointer | None = None

    def connection(self) -> sqlite3.Connection:
        if self.conn is None:
            self.conn = open_connection(self.target)
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")  # see checkpoint.py
            self.checkpointer = checkpoint.acquire(self.target.path)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()
        if self.checkpointer is not None:
            checkpoint.release(self.checkpointer)
            self.checkpointer = None


class DatabaseThread:
    def __init__(self, target: SQLiteTarget) -> None:
        self.target = target
        self._session: _Session | None = None

    def _current(self) -> _Session:
        if self._session is None:
            self._session = _Session(self.target)
        return self._session

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only function ``fn(conn, *args)`` on the database thread."""
        session = self._current()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(session.executor, _run, session, fn, args, None)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one ``BEGIN IMMEDIATE`` transaction."""
        session = self._current()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            session.executor, _run, session, fn, args, "BEGIN IMMEDIATE"
        )

    async def close(self) -> None:
        """Close the connection on its own thread; a later call opens a new one. For the
        process's last backend on the file this also waits for the checkpointer's closing
        TRUNCATE checkpoint (see :mod:`.checkpoint`), so the log is empty on return."""
        session, self._session = self._session, None
        if session is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(session.executor, session.close)
        finally:
            session.executor.shutdown(wait=False)


def _run(
    session: _Session, fn: Callable[..., T], args: tuple[Any, ...], begin: str | None
) -> T:
    """Run ``fn`` (in a transaction when ``begin``), retrying while the database is busy,
    with short sleeps, until the busy timeout has passed.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a writer that
    meets another process's transaction (a few hundred µs) waits far longer than that
    transaction lasts, and two worker processes ran slower than one. Here a writer looks
    again at once (yielding the CPU) for the first 2 ms, then every ~20 µs until 20 ms,
    then backs off to 1 ms.
    """
    target = session.target
    conn = session.connection()
    started: float | None = None
    while True:
        try:
            if begin is None:
                return fn(conn, *args)
            return _transaction(session, conn, fn, args, begin)
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            if not _is_busy(exc):
                raise translate(exc, target) from exc
            now = time.monotonic()
            if started is None:
                started = now
            waited = now - started
            left = target.busy_timeout_ms / 1000 - waited
            if left <= 0:
                raise translate(exc, target) from exc
            if waited < _SPIN_FOR_S:
                _yield_cpu()
            else:
                time.sleep(min(_FINE_PAUSE_S if waited < _FINE_FOR_S else _MAX_PAUSE_S, left))
        except sqlite3.Error as exc:
            _rollback(conn)
            raise translate(exc, target) from exc
        except (OverflowError, ValueError, TypeError) as exc:  # a value sqlite3 cannot bind
            _rollback(conn)
            raise ScriptError(
                f"SQLite could not take a value conveyor passed on {target.path}: {exc};"
                " nothing was changed"
            ) from exc


def _transaction(
    session: _Session,
    conn: sqlite3.Connection,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    begin: str,
) -> T:
    """``fn`` in one transaction, through the checkpointer's gate (see checkpoint.py)."""
    checkpointer = session.checkpointer
    if checkpointer is not None:
        checkpointer.gate.enter()
    try:
        conn.execute(begin)
        try:
            result = fn(conn, *args)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    finally:
        if checkpointer is not None:
            checkpointer.gate.leave()
    if checkpointer is not None:
        checkpointer.committed()
    return result


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_BUSY, _LOCKED) or "database is locked" in str(exc)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the connection is unusable anyway
            conn.execute("ROLLBACK")
