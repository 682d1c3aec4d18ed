"""clean: remove jobs of one state older than a grace period (Backend.clean; Redis:
clean.lua). Completed/failed jobs are judged by finish time (oldest first), others by
creation time (waiting in list order, newest first; sets in rank order).
Returns the ids removed. Events: removed per job. Active jobs are never cleaned.
"""

from __future__ import annotations

import sqlite3

from .lib import delete_jobs
from .queue_row import QueueRow


def clean(conn: sqlite3.Connection, queue: str, state: str, cutoff: int, limit: int) -> list[str]:
    if state in ("completed", "failed"):
        sql = (
            "SELECT id FROM jobs WHERE queue = ? AND state = ? AND rank <= ?"
            " ORDER BY rank, id LIMIT ?"
        )
    else:
        order = "DESC" if state == "waiting" else "ASC"
        sql = (
            "SELECT id FROM jobs WHERE queue = ? AND state = ? AND timestamp <= ?"
            f" ORDER BY rank {order}, id {order} LIMIT ?"
        )
    doomed = [row[0] for row in conn.execute(sql, (queue, state, cutoff, max(limit, 0)))]
    if doomed:
        delete_jobs(conn, queue, doomed)
        tx = QueueRow(conn, queue)
        for job_id in doomed:
            tx.emit("removed", job_id)
        tx.finish()
    return doomed
