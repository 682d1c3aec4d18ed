"""Look at a database's write-ahead log from outside: its size and how often it restarted."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def wal_size(db: Path) -> int:
    """The ``-wal`` file's size in bytes; 0 when there is none."""
    try:
        return wal_path(db).stat().st_size
    except FileNotFoundError:
        return 0


def wal_restarts(db: Path) -> int:
    """The WAL header's checkpoint sequence number: one more each time a writer starts the
    log again from its beginning (0 for a new or missing file)."""
    try:
        with wal_path(db).open("rb") as f:
            header = f.read(16)
    except FileNotFoundError:
        return 0
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


def snapshot_held(db: Path) -> bool:
    """True when some connection still reads an older snapshot than the newest commit.

    A ``RESTART`` checkpoint that may not wait (busy timeout 0) finishes only when every
    reader is on the newest snapshot and then leaves the log; so call this right after a
    commit newer than the reads under test.
    """
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return bool(busy)
    finally:
        conn.close()
