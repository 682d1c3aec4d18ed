"""release_lock: free a named lock if the token holds it (Backend.release_lock; Redis:
release_lock.lua).

Arguments: name, token, lease clock now (ms). Only the holder's token frees the lock, and
only while its hold lasts: a holder whose time ran out cannot free the next one's. The
commit is what waiters notice (``wait_for_lock`` watches for commits).
Returns whether it was released.
"""

from __future__ import annotations

import sqlite3


def release_lock(conn: sqlite3.Connection, name: str, token: str, now: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM locks WHERE name = ? AND token = ? AND expires_at > ?", (name, token, now)
    )
    return cursor.rowcount == 1
