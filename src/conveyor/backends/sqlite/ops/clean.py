"""clean: remove jobs of one state older than a grace period (Backend.clean; Redis:
clean.lua). Completed/failed jobs are judged by finish time (oldest first), others by
creation time (waiting in list order, newest first; sets in rank order).
Returns the ids removed. Events: removed per job. Active jobs are never cleaned.
Flows (``flow.leave``): each job cleaned takes its pending subtree with it (in any queue;
its events come first) and one that had not finished settles with its parent (removed);
a job of an unfinished state whose pending subtree has an active job is not cleaned (nor
counted), and one removed or made ready meanwhile by an earlier job of the same call is
passed over (Redis: ``flow_deleted``).
"""

from __future__ import annotations

import sqlite3

from .flow import Rows, leave
from .lib import delete_jobs

_PAGE = 500
_COLUMNS = (
    "rank, id, state, CAST(parent AS BLOB), CAST(on_failure AS BLOB), pending_children"
)


def clean(conn: sqlite3.Connection, queue: str, state: str, cutoff: int, limit: int) -> list[str]:
    limit = max(limit, 0)
    rows = Rows(conn)
    if state in ("completed", "failed"):
        found = conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE queue = ? AND state = ? AND rank <= ?"
            " ORDER BY rank, id LIMIT ?",
            (queue, state, cutoff, limit),
        ).fetchall()
        for _, job_id, job_state, parent, policy, pending in found:
            if pending:  # a parent that finished with children still pending
                leave(rows, queue, job_id, job_state, parent, policy, strict=False)
        doomed = [row[1] for row in found]
    else:
        doomed = _unfinished(rows, queue, state, cutoff, limit)
    if doomed:
        tx = rows.get(queue)
        delete_jobs(conn, queue, doomed)
        tx.forget_counts()
        for job_id in doomed:
            tx.emit("removed", job_id)
    if rows.rows:
        rows.finish_all()
    return doomed


def _unfinished(rows: Rows, queue: str, state: str, cutoff: int, limit: int) -> list[str]:
    """Up to ``limit`` jobs of ``state`` created by ``cutoff``, in clean's order, each
    having left its flow (strictly: one with an active job under it is passed over)."""
    conn = rows.conn
    desc = state == "waiting"
    order, after_op = ("DESC", "<") if desc else ("ASC", ">")
    doomed: list[str] = []
    after: tuple[int, str] | None = None
    while len(doomed) < limit:
        page = conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE queue = ? AND state = ? AND timestamp <= ?"
            + ("" if after is None else f" AND (rank, id) {after_op} (?, ?)")
            + f" ORDER BY rank {order}, id {order} LIMIT ?",
            (queue, state, cutoff, *(after or ()), _PAGE),
        ).fetchall()
        if not page:
            break
        after = (page[-1][0], page[-1][1])
        for _, job_id, job_state, parent, policy, pending in page:
            if len(doomed) >= limit:
                break
            if parent is None and not pending:
                doomed.append(job_id)  # no flow: nothing of this call can have moved it
                continue
            if (queue, job_id) in rows.deleted or not _still(conn, queue, job_id, state):
                continue
            if leave(rows, queue, job_id, job_state, parent, policy, strict=True,
                     pending=bool(pending)):
                doomed.append(job_id)
    return doomed


def _still(conn: sqlite3.Connection, queue: str, job_id: str, state: str) -> bool:
    """Whether the job is still in ``state`` (a settle earlier in the call may have made a
    parent ready)."""
    return bool(
        conn.execute(
            "SELECT 1 FROM jobs WHERE queue = ? AND id = ? AND state = ?", (queue, job_id, state)
        ).fetchone()
    )
