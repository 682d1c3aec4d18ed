"""retry: move failed jobs back to waiting with a fresh set of attempts
(Backend.retry; Redis: retry.lua). Every failed job (oldest finish first) when ``ids`` is
None. Earlier attempts' error records are kept. Returns how many jobs moved.
Flows (docs/flows-storage.md, "Retrying"; ``flow.relink``): a retried child is its
parent's pending child again, and a parent its failure failed waits for its children
again, up the tree; a retried job with pending children waits for them
(``waiting-children``, ranked by now) instead of waiting. A retried job's own
``failed_by`` is cleared (it is no longer failed by anyone).
Events: waiting (prev=failed), or waiting-children (prev=failed); in a parent's queue,
waiting-children (prev=failed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .flow import Rows, relink
from .queue_row import QueueRow

_MOVE = (
    "UPDATE jobs SET state = ?, rank = ?, attempts_made = 0, stalled_count = 0,"
    " finished_on = NULL, processed_on = NULL, failed_reason = NULL, returnvalue = NULL,"
    " failed_by = NULL WHERE rid = ?"
)
_COLUMNS = "rid, id, CAST(priority AS INTEGER), CAST(parent AS BLOB), pending_children"


def retry(conn: sqlite3.Connection, queue: str, ids: Sequence[str] | None, now: int) -> int:
    if ids is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE queue = ? AND state = 'failed'"
            " ORDER BY rank, id",
            (queue,),
        ).fetchall()
    else:
        rows = []
        seen: set[str] = set()
        for job_id in ids:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE queue = ? AND id = ? AND state = 'failed'",
                (queue, job_id),
            ).fetchone()
            if row is not None and job_id not in seen:
                seen.add(job_id)
                rows.append(row)
    if not rows:
        return 0
    tx = QueueRow(conn, queue)
    flows = Rows(conn, tx)
    # With flows, each move is written at once (a later child's relink reads its parent's
    # state), and after a relink a job read above may have changed: it is read again.
    flowing = any(row[3] is not None for row in rows)
    relinked = False
    moves: list[tuple[str, int, int]] = []
    moved = 0
    for rid, job_id, priority, parent, pending_read in rows:
        pending = pending_read
        if relinked:
            again = conn.execute(
                "SELECT pending_children FROM jobs WHERE rid = ? AND state = 'failed'", (rid,)
            ).fetchone()
            if again is None:  # a parent an earlier retry put back to waiting-children
                continue
            pending = again[0]
        if parent is not None:
            relink(flows, queue, job_id, parent, now)
            relinked = True
        if pending:
            state, rank = "waiting-children", now
            tx.emit("waiting-children", job_id, {"prev": "failed"})
        else:
            state, rank = tx.enqueue(priority, False)
            tx.emit("waiting", job_id, {"prev": "failed"})
        tx.moved("failed", state)
        moves.append((state, rank, rid))
        moved += 1
        if flowing:
            conn.executemany(_MOVE, moves)
            moves = []
    conn.executemany(_MOVE, moves)
    tx.wake = True
    flows.finish_all()
    return moved
