"""add_log: append one line to a job's log, keeping the newest ``keep``
(Backend.add_log; Redis: add_log.lua).
Returns the number of lines kept, or -1 when the job does not exist.
"""

from __future__ import annotations

import sqlite3


def add_log(conn: sqlite3.Connection, queue: str, job_id: str, line: str, keep: int) -> int:
    if conn.execute(
        "SELECT 1 FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
    ).fetchone() is None:
        return -1
    conn.execute(
        "INSERT INTO logs (queue, job_id, line) VALUES (?, ?, ?)", (queue, job_id, line)
    )
    (length,) = conn.execute(
        "SELECT COUNT(*) FROM logs WHERE queue = ? AND job_id = ?", (queue, job_id)
    ).fetchone()
    if length > keep:
        if keep > 0:  # as LTRIM -keep -1, which keeps everything when keep is 0
            conn.execute(
                "DELETE FROM logs WHERE queue = ? AND job_id = ? AND seq <= (SELECT seq FROM"
                " logs WHERE queue = ? AND job_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (queue, job_id, queue, job_id, keep),
            )
        return keep
    return int(length)
