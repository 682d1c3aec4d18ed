"""drain: remove every job that has not started (Backend.drain; Redis: drain.lua).
Waiting jobs (in list order, newest first), then prioritized, then — when asked —
delayed ones. Returns how many were removed. Events: removed per job, then drained.
"""

from __future__ import annotations

import sqlite3

from .lib import delete_jobs
from .queue_row import QueueRow


def drain(conn: sqlite3.Connection, queue: str, include_delayed: bool) -> int:
    tx = QueueRow(conn, queue)
    ids = _ids(conn, queue, "waiting", "DESC") + _ids(conn, queue, "prioritized", "ASC")
    if include_delayed:
        ids += _ids(conn, queue, "delayed", "ASC")
    delete_jobs(conn, queue, ids)
    for job_id in ids:
        tx.emit("removed", job_id)
    tx.emit("drained", None)
    tx.finish()
    return len(ids)


def _ids(conn: sqlite3.Connection, queue: str, state: str, order: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM jobs WHERE queue = ? AND state = ? ORDER BY rank {order}, id {order}",
            (queue, state),
        )
    ]
