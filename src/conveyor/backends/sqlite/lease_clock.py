"""The SQLite backend's one clock read: lease and guard expiry, in place of a server TTL.

Redis expires a lease by its own clock (``SET … PX``), never by a time the caller passes;
on SQLite every process runs on the same machine and therefore reads the same clock, so
this function plays the server's part. It is used for lease expiry and the stalled-check
guard only, never for job times (those come from the caller's ``now_ms``), so a test that
moves a :class:`conveyor.ManualClock` does not expire leases, exactly as on Redis.
"""

from __future__ import annotations

import time


def lease_clock_ms() -> int:
    """Wall-clock milliseconds, shared by every process on the machine."""
    return time.time_ns() // 1_000_000
