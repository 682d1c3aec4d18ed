"""acquire_lock: take a named lock for a token, for a time (Backend.acquire_lock; Redis:
acquire_lock.lua).

Arguments: name, token, ttl ms, lease clock now (ms). A row whose ``expires_at`` has
passed is free (its holder died or ran out of time) and is taken over; the holder taking
it again keeps it with the new ttl.
Returns 0 when the token holds the lock now, else the holder's ms left (at least 1).
"""

from __future__ import annotations

import sqlite3


def acquire_lock(conn: sqlite3.Connection, name: str, token: str, ttl_ms: int, now: int) -> int:
    row = conn.execute(
        "INSERT INTO locks (name, token, expires_at) VALUES (:name, :token, :until)"
        " ON CONFLICT (name) DO UPDATE SET token = :token, expires_at = :until"
        " WHERE locks.expires_at <= :now OR locks.token = :token"
        " RETURNING token",
        {"name": name, "token": token, "until": now + ttl_ms, "now": now},
    ).fetchone()
    if row is not None:
        return 0
    (expires_at,) = conn.execute(
        "SELECT expires_at FROM locks WHERE name = ?", (name,)
    ).fetchone()
    return max(int(expires_at) - now, 1)
