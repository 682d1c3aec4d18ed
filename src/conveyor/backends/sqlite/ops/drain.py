"""drain: remove every job that has not started (Backend.drain; Redis: drain.lua).
Waiting jobs (in list order, newest first), then prioritized, then — when asked —
delayed ones. Returns how many were removed. Events: removed per job, then drained.
Flows (``flow.leave``): each drained job settles with its parent (removed; a parent in
this queue made ready by it stays, waiting) and takes its pending subtree with it, in any
queue (an active job is left; those jobs' events come first, and a job already gone with
a parent is not removed twice, but counts).
"""

from __future__ import annotations

import sqlite3

from .flow import Rows, leave
from .lib import delete_jobs


def drain(conn: sqlite3.Connection, queue: str, include_delayed: bool) -> int:
    rows = Rows(conn)
    tx = rows.get(queue)
    doomed = _jobs(conn, queue, "waiting", "DESC") + _jobs(conn, queue, "prioritized", "ASC")
    if include_delayed:
        doomed += _jobs(conn, queue, "delayed", "ASC")
    ids: list[str] = []
    for job_id, state, parent, policy, pending in doomed:
        if parent is not None or pending:
            if (queue, job_id) in rows.deleted:
                continue
            leave(rows, queue, job_id, state, parent, policy, strict=False, pending=bool(pending))
        ids.append(job_id)
        tx.emit("removed", job_id)
    delete_jobs(conn, queue, ids)
    tx.forget_counts()
    tx.emit("drained", None)
    rows.finish_all()
    return len(doomed)


def _jobs(
    conn: sqlite3.Connection, queue: str, state: str, order: str
) -> list[tuple[str, str, bytes | None, bytes | None, int]]:
    return conn.execute(
        "SELECT id, state, CAST(parent AS BLOB), CAST(on_failure AS BLOB), pending_children"
        " FROM jobs"
        f" WHERE queue = ? AND state = ? ORDER BY rank {order}, id {order}",
        (queue, state),
    ).fetchall()
