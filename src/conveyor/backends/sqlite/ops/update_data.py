"""update_data: replace a job's payload (Backend.update_data; Redis: update_data.lua).
Returns 0, or -1 when the job does not exist.
"""

from __future__ import annotations

import sqlite3


def update_data(conn: sqlite3.Connection, queue: str, job_id: str, data: bytes) -> int:
    cursor = conn.execute(
        "UPDATE jobs SET data = ? WHERE queue = ? AND id = ?", (data, queue, job_id)
    )
    return 0 if cursor.rowcount else -1
