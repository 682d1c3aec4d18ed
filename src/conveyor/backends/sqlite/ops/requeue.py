"""requeue: put a stopping worker's unfinished jobs back in line
(Backend.requeue; Redis: requeue.lua).

Arguments: queue, (id, token) pairs. A job moves only while it is active under the given
token, to the front of ``waiting`` (or ``prioritized``) with its attempts and stall count
untouched: a worker that stops is not a job that stalled. Returns the ids moved.
Events: waiting (prev=active).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .queue_row import QueueRow


def requeue(conn: sqlite3.Connection, queue: str, jobs: Sequence[tuple[str, str]]) -> list[str]:
    tx = QueueRow(conn, queue)
    moved: list[str] = []
    for job_id, token in jobs:
        row = conn.execute(
            "SELECT rid, CAST(priority AS INTEGER) FROM jobs"
            " WHERE queue = ? AND id = ? AND state = 'active' AND token = ?",
            (queue, job_id, token),
        ).fetchone()
        if row is None:  # finished, recovered or taken over meanwhile: not ours to move
            continue
        rid, priority = row
        state, rank = tx.enqueue(priority, True)
        tx.moved("active", state)
        conn.execute(
            "UPDATE jobs SET state = ?, rank = ?, worker = NULL, token = NULL WHERE rid = ?",
            (state, rank, rid),
        )
        tx.emit("waiting", job_id, {"prev": "active"})
        moved.append(job_id)
    tx.wake = bool(moved)
    tx.finish()
    return moved
