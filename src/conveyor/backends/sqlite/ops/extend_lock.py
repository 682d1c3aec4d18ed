"""extend_lock: hold a named lock longer, if the token still holds it
(Backend.extend_lock; Redis: extend_lock.lua).

Arguments: name, token, ttl ms (from now), lease clock now (ms). A hold whose time has
run out is not the token's any more, even while no one has taken it over (as on Redis,
where the key has expired).
Returns whether it was extended.
"""

from __future__ import annotations

import sqlite3


def extend_lock(conn: sqlite3.Connection, name: str, token: str, ttl_ms: int, now: int) -> bool:
    cursor = conn.execute(
        "UPDATE locks SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > ?",
        (now + ttl_ms, name, token, now),
    )
    return cursor.rowcount == 1
