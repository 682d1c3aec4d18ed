"""One thread and one connection per backend instance: SQLite never blocks the loop.

Every call of a backend instance runs, in order, on its own thread with its own
connection (opened there on first use), so the event loop only awaits a future. A write
is one ``BEGIN IMMEDIATE`` … ``COMMIT``; SQLite errors become conveyor errors here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .connection import open_connection, translate
from .url import SQLiteTarget

T = TypeVar("T")


class DatabaseThread:
    def __init__(self, target: SQLiteTarget) -> None:
        self.target = target
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="conveyor-sqlite")
        return self._executor

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only function ``fn(conn, *args)`` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), self._read, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one ``BEGIN IMMEDIATE`` transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), self._write, fn, args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_connection(self.target)
        return self._conn

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._connection()
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            _rollback(conn)
            raise translate(exc, self.target) from exc

    def _write(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.Error as exc:
            raise translate(exc, self.target) from exc
        return result

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._close)
        finally:
            executor.shutdown(wait=False)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the connection is unusable anyway
            conn.execute("ROLLBACK")
