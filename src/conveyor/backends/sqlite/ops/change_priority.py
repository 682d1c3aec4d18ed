"""change_priority: re-rank one job (Backend.change_priority; Redis: change_priority.lua).
A job that waits moves between waiting and prioritized, to the back of its new line; a
job in any other state keeps its place and takes the priority when it next waits.
Returns 0, or -1 when the job does not exist.
"""

from __future__ import annotations

import sqlite3

from .queue_row import QueueRow


def change_priority(conn: sqlite3.Connection, queue: str, job_id: str, priority: int) -> int:
    row = conn.execute(
        "SELECT rid, state FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
    ).fetchone()
    if row is None:
        return -1
    rid, state = row
    if state in ("waiting", "prioritized"):
        tx = QueueRow(conn, queue)
        new_state, rank = tx.enqueue(priority, False)
        tx.moved(state, new_state)
        conn.execute(
            "UPDATE jobs SET priority = ?, state = ?, rank = ? WHERE rid = ?",
            (priority, new_state, rank, rid),
        )
        tx.finish()
    else:
        conn.execute("UPDATE jobs SET priority = ? WHERE rid = ?", (priority, rid))
    return 0
