"""take_tokens: take tokens from a shared token bucket (Backend.take_tokens; Redis:
take_tokens.lua).

Arguments: name, count, capacity, tokens per second, now (ms). The bucket refills
continuously from its last take (a new bucket is full) and never holds more than its
capacity; a clock that moved back refills nothing.
Returns 0 when the tokens were taken, else the ms until enough would be there (nothing
is taken then).
"""

from __future__ import annotations

import math
import sqlite3


def take_tokens(
    conn: sqlite3.Connection, name: str, count: int, capacity: int, per_second: float, now: int
) -> int:
    row = conn.execute("SELECT tokens, at FROM buckets WHERE name = ?", (name,)).fetchone()
    at = now
    if row is None:
        tokens = float(capacity)
    else:
        tokens, at = float(row[0]), int(row[1])
        if now > at:
            tokens = min(capacity, tokens + (now - at) * per_second / 1000)
            at = now
    if tokens < count:
        return max(1, math.ceil((count - tokens) * 1000 / per_second))
    conn.execute(
        "INSERT INTO buckets (name, tokens, at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
        (name, tokens - count, at),
    )
    return 0
