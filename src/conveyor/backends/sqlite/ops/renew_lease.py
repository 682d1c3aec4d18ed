"""renew_lease: keep a worker's lease alive and report jobs it no longer owns
(Backend.renew_lease; Redis: renew_lease.lua). Called from the worker's lease thread.

Arguments: queue, worker id, new expiry (lease clock ms), (id, token) pairs the worker
runs. Returns the ids whose token is no longer the given one (recovered as stalled after
the lease lapsed, finished elsewhere, or removed): the worker cancels those attempts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .lib import hold_lease


def renew_lease(
    conn: sqlite3.Connection,
    queue: str,
    worker: str,
    expires_at: int,
    active: Sequence[tuple[str, str]],
) -> list[str]:
    hold_lease(conn, queue, worker, expires_at)
    lost = []
    for job_id, token in active:
        row = conn.execute(
            "SELECT token FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
        ).fetchone()
        if row is None or row[0] != token:
            lost.append(job_id)
    return lost
