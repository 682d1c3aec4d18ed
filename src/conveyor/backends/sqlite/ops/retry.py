"""retry: move failed jobs back to waiting with a fresh set of attempts
(Backend.retry; Redis: retry.lua). Every failed job (oldest finish first) when ``ids`` is
None. Earlier attempts' error records are kept. Returns how many jobs moved.
Events: waiting (prev=failed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .queue_row import QueueRow


def retry(conn: sqlite3.Connection, queue: str, ids: Sequence[str] | None) -> int:
    if ids is None:
        rows = conn.execute(
            "SELECT rid, id, CAST(priority AS INTEGER) FROM jobs WHERE queue = ?"
            " AND state = 'failed'"
            " ORDER BY rank, id",
            (queue,),
        ).fetchall()
    else:
        rows = []
        seen: set[str] = set()
        for job_id in ids:
            row = conn.execute(
                "SELECT rid, id, CAST(priority AS INTEGER) FROM jobs WHERE queue = ? AND id = ?"
                " AND state = 'failed'",
                (queue, job_id),
            ).fetchone()
            if row is not None and job_id not in seen:
                seen.add(job_id)
                rows.append(row)
    if not rows:
        return 0
    tx = QueueRow(conn, queue)
    moves = []
    for rid, job_id, priority in rows:
        state, rank = tx.enqueue(priority, False)
        tx.moved("failed", state)
        moves.append((state, rank, rid))
        tx.emit("waiting", job_id, {"prev": "failed"})
    conn.executemany(
        "UPDATE jobs SET state = ?, rank = ?, attempts_made = 0, stalled_count = 0,"
        " finished_on = NULL, processed_on = NULL, failed_reason = NULL, returnvalue = NULL"
        " WHERE rid = ?",
        moves,
    )
    tx.wake = True
    tx.finish()
    return len(rows)
