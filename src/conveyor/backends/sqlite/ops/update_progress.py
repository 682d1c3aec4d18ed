"""update_progress: store a job's progress and announce it
(Backend.update_progress; Redis: update_progress.lua).
Arguments: queue, job id, progress JSON. Returns 0, or -1 when the job does not exist.
Events: progress (data).
"""

from __future__ import annotations

import sqlite3

from .queue_row import QueueRow


def update_progress(conn: sqlite3.Connection, queue: str, job_id: str, progress: bytes) -> int:
    cursor = conn.execute(
        "UPDATE jobs SET progress = ? WHERE queue = ? AND id = ?", (progress, queue, job_id)
    )
    if cursor.rowcount == 0:
        return -1
    tx = QueueRow(conn, queue)
    tx.emit("progress", job_id, {"data": progress.decode()})
    tx.finish()
    return 0
