"""remove: delete one job that is not running (Backend.remove; Redis: remove.lua).
Returns 0; -1 no such job; -3 the job is active (its worker owns it), or a job of its
pending subtree is (nothing is removed then).
A flow's parent goes with its pending subtree (its pending children, theirs, … in any
queue; finished children stay), and a job removed before it finished settles with its own
parent (removed; ``flow.leave``), which may make that parent ready.
Events: removed (in each removed job's queue, the subtree's first); waiting
(prev=waiting-children) in the queue of a parent made ready.
"""

from __future__ import annotations

import sqlite3

from .flow import Rows, leave
from .lib import delete_jobs


def remove(conn: sqlite3.Connection, queue: str, job_id: str) -> int:
    row = conn.execute(
        "SELECT state, CAST(parent AS BLOB), CAST(on_failure AS BLOB) FROM jobs"
        " WHERE queue = ? AND id = ?",
        (queue, job_id),
    ).fetchone()
    if row is None:
        return -1
    state, parent, policy = row
    if state == "active":
        return -3
    rows = Rows(conn)
    if not leave(rows, queue, job_id, state, parent, policy, strict=True):
        return -3
    tx = rows.get(queue)
    delete_jobs(conn, queue, [job_id])
    tx.forget_counts()
    tx.emit("removed", job_id)
    rows.finish_all()
    return 0
