"""remove: delete one job that is not running (Backend.remove; Redis: remove.lua).
Returns 0; -1 no such job; -3 the job is active (its worker owns it). Events: removed.
"""

from __future__ import annotations

import sqlite3

from .lib import delete_jobs
from .queue_row import QueueRow


def remove(conn: sqlite3.Connection, queue: str, job_id: str) -> int:
    row = conn.execute(
        "SELECT state FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
    ).fetchone()
    if row is None:
        return -1
    if row[0] == "active":
        return -3
    delete_jobs(conn, queue, [job_id])
    tx = QueueRow(conn, queue)
    tx.emit("removed", job_id)
    tx.finish()
    return 0
