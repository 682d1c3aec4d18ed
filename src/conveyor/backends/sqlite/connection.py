"""Open a conveyor SQLite connection and turn SQLite's errors into conveyor's.

A connection runs in autocommit mode: every state change opens its own short
``BEGIN IMMEDIATE`` transaction. WAL lets readers run beside the one writer; the busy
timeout bounds how long a write waits for another process's transaction.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time

from ...errors import BackendError, BackendUnavailableError, SchemaError, ScriptError
from . import schema
from .checkpoint import RESTART_AT_BYTES
from .url import SQLiteTarget

# Primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_PERM = 3


def open_connection(target: SQLiteTarget) -> sqlite3.Connection:
    """Open, recognise and (when needed) create or migrate the database; never recreate."""
    path = target.path
    _ensure_directory(path)
    try:
        conn = sqlite3.connect(
            path,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise translate(exc, target) from exc
    try:
        # Opening waits with SQLite's own busy handler; afterwards every call retries in
        # :mod:`.dbthread` with finer waits, so the connection itself never sleeps.
        conn.execute(f"PRAGMA busy_timeout = {target.busy_timeout_ms}")
        needs_setup = schema.check(conn, path)
        mode = _enter_wal(conn, target)
        if mode.lower() != "wal":
            raise BackendError(
                f"could not put the SQLite database {path} in WAL mode (it stays {mode!r});"
                " conveyor needs WAL so that workers and producers do not block each other"
            )
        conn.execute(f"PRAGMA synchronous = {target.synchronous.upper()}")
        # A rewound log is cut back to this size by the next commit (see checkpoint.py).
        conn.execute(f"PRAGMA journal_size_limit = {RESTART_AT_BYTES}")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -16000")
        if needs_setup:
            schema.prepare(conn, path)
        conn.execute("PRAGMA busy_timeout = 0")
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, target) from exc
        raise
    return conn


def _enter_wal(conn: sqlite3.Connection, target: SQLiteTarget) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the write
    lock, up to the busy timeout. SQLite answers a mode change that would have to wait
    with SQLITE_BUSY at once, without calling the busy handler: two processes opening a
    new database together (one creating the schema) would otherwise see "locked"."""
    deadline = time.monotonic() + target.busy_timeout_ms / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", _BUSY) & 0xFF
            if code not in (_BUSY, _LOCKED) or time.monotonic() >= deadline:
                raise
            time.sleep(0.002)  # on the database thread: the lock is another process's


def _ensure_directory(path: str) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        why = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else exc.strerror
        raise BackendError(
            f"cannot create the directory {directory} for the SQLite database {path}: {why}"
        ) from exc
    if os.path.isdir(path):
        raise BackendError(f"the SQLite database path {path} is a directory, not a file")


def translate(exc: sqlite3.Error, target: SQLiteTarget) -> BackendError:
    """One clear conveyor error for a SQLite failure; the transaction was rolled back."""
    path = target.path
    text = str(exc)
    kind = _kind(exc)
    if kind == "busy":
        return BackendUnavailableError(
            f"the SQLite database {path} stayed locked past the busy timeout"
            f" ({target.busy_timeout_ms} ms): another connection holds a long write"
            " transaction; nothing was changed, try again (or raise busy_timeout_ms)"
        )
    if kind in ("readonly", "cantopen"):
        verb = "write to" if kind == "readonly" else "open"
        return BackendError(f"cannot {verb} the SQLite database {path}: {_readonly_why(path)}")
    messages: dict[str, tuple[type[BackendError], str]] = {
        "corrupt": (
            SchemaError,
            f"the SQLite database {path} is corrupted ({text}); conveyor will not recreate"
            " it: restore it from a backup, or inspect it with the sqlite3 shell's .recover",
        ),
        "notadb": (
            SchemaError,
            f"{path} is not a SQLite database ({text}); point conveyor at another file;"
            " this one was not changed",
        ),
        "full": (BackendError, f"the disk holding the SQLite database {path} is full: {text}"),
        "io": (BackendUnavailableError, f"I/O error on the SQLite database {path}: {text}"),
    }
    error, message = messages.get(
        kind, (ScriptError, f"SQLite refused a conveyor statement on {path}: {text}")
    )
    return error(message)


def _kind(exc: sqlite3.Error) -> str:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    text = str(exc)
    kind = _KINDS.get(code, "")
    if not kind:
        for needle, guess in _MESSAGES:
            if needle in text:
                return guess
    return kind


_KINDS = {
    _BUSY: "busy",
    _LOCKED: "busy",
    _READONLY: "readonly",
    _CANTOPEN: "cantopen",
    _PERM: "cantopen",
    _CORRUPT: "corrupt",
    _NOTADB: "notadb",
    _FULL: "full",
    _IOERR: "io",
}
_MESSAGES = (
    ("database is locked", "busy"),
    ("readonly", "readonly"),
    ("unable to open", "cantopen"),
    ("malformed", "corrupt"),
    ("not a database", "notadb"),
)


def _readonly_why(path: str) -> str:
    directory = os.path.dirname(path) or "."
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is read-only (conveyor needs to write to it); nothing was changed"
    if not os.access(directory, os.W_OK):
        return (
            f"its directory {directory} is read-only (SQLite creates the -wal and -shm files"
            " beside the database); nothing was changed"
        )
    return "the file or its directory is not writable, or the path is invalid"
