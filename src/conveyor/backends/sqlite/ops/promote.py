"""promote: make a delayed job ready now (Backend.promote; Redis: promote.lua).
Returns 0; -1 no such job; -3 the job is not delayed. Events: waiting (prev=delayed).
"""

from __future__ import annotations

import sqlite3

from .queue_row import QueueRow


def promote(conn: sqlite3.Connection, queue: str, job_id: str) -> int:
    row = conn.execute(
        "SELECT rid, state, CAST(priority AS INTEGER) FROM jobs WHERE queue = ? AND id = ?",
        (queue, job_id),
    ).fetchone()
    if row is None:
        return -1
    rid, state, priority = row
    if state != "delayed":
        return -3
    tx = QueueRow(conn, queue)
    new_state, rank = tx.enqueue(priority, False)
    tx.moved("delayed", new_state)
    conn.execute(
        "UPDATE jobs SET state = ?, rank = ?, delay = 0 WHERE rid = ?", (new_state, rank, rid)
    )
    tx.wake = True
    tx.emit("waiting", job_id, {"prev": "delayed"})
    tx.finish()
    return 0
