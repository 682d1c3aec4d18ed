"""obliterate: delete a queue and its jobs, a chunk per transaction
(Backend.obliterate; Redis: obliterate.lua).

Arguments: queue, force (proceed although jobs are active), jobs to delete in this call.
The queue is paused by the first call so nothing starts while chunks are deleted; the
last call deletes events, leases, logs and counts, and resets the queue's row but for
``next_id`` and ``marker``: generated ids never repeat (as Redis keeps its id key), and
an idle worker's wake-up watch still sees the marker move.
Flows (``flow.leave``): a deleted job that had not finished (active ones too, with
``force``) settles with its parent in another queue (removed), which may make it ready
there (a parent in this queue goes too, unsettled); the jobs any deleted job had pending
in other queues are removed (an active one is left).
Returns how many jobs remain (call again until 0), or -3 when jobs are active and
``force`` is false.
"""

from __future__ import annotations

import sqlite3

from .flow import Rows, leave
from .lib import delete_jobs


def obliterate(conn: sqlite3.Connection, queue: str, force: bool, budget: int) -> int:
    if not force and conn.execute(
        "SELECT 1 FROM jobs WHERE queue = ? AND state = 'active' LIMIT 1", (queue,)
    ).fetchone():
        return -3
    conn.execute("UPDATE queues SET paused = 1 WHERE name = ?", (queue,))
    doomed = conn.execute(
        "SELECT id, state, CAST(parent AS BLOB), CAST(on_failure AS BLOB), pending_children"
        " FROM jobs"
        " WHERE queue = ? ORDER BY state = 'active', rid LIMIT ?",
        (queue, budget + 1),
    ).fetchall()
    flows = [row for row in doomed[:budget] if row[2] is not None or row[4]]
    if flows:  # before the delete, which takes what they keep of their children
        rows = Rows(conn)
        for job_id, state, parent, policy, pending in flows:
            leave(rows, queue, job_id, state, parent, policy, strict=False, queue_goes=True,
                  pending=bool(pending))
        rows.finish_all()  # other queues' rows only: nothing in this one is touched
    delete_jobs(conn, queue, [row[0] for row in doomed[:budget]])
    if len(doomed) > budget:
        return 1
    for table, column in (
        ("events", "queue"),
        ("leases", "queue"),
        ("logs", "queue"),
        ("job_errors", "queue"),
        ("state_counts", "queue"),
        ("dedup", "queue"),
        ("flow_children", "queue"),
    ):
        conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (queue,))
    conn.execute(
        "UPDATE queues SET listed = 0, paused = 0, back_seq = 0, front_seq = 1, prio_seq = 0,"
        " event_count = 0, stalled_check_until = 0 WHERE name = ?",
        (queue,),
    )
    return 0
