"""check_stalled: recover active jobs whose worker lease has expired
(Backend.check_stalled; Redis: check_stalled.lua).

Arguments: queue, max stalled recoveries, check interval ms, now (ms), lease clock now
(ms), failure reason.
The guard ``queues.stalled_check_until`` (lease clock) lets one check run per interval
however many workers call. A job is stalled when the lease named by its worker is gone or
expired; it returns to the front of the line, or fails once it has stalled more than
``max_stalled`` times; a job so failed that has a flow parent settles with it (failed,
with ``reason``; ``flow.py``), which may fail or wake the parent in its own queue.
Expired lease rows are deleted (Redis lets them expire).
Returns (recovered ids, failed ids); both empty when the guard is held.
Events: stalled, failed; in a parent's queue as settling emits them.
"""

from __future__ import annotations

import sqlite3

from ...base import node_ref
from .flow import Rows, ref_text, settle
from .lib import shown_id
from .queue_row import QueueRow


def check_stalled(
    conn: sqlite3.Connection,
    queue: str,
    max_stalled: int,
    interval_ms: int,
    now: int,
    lease_now: int,
    reason: str,
) -> tuple[list[str], list[str]]:
    tx = QueueRow(conn, queue)
    if lease_now < tx.stalled_check_until:
        return [], []
    tx.stalled_check_until = lease_now + interval_ms
    alive = {
        row[0]
        for row in conn.execute(
            "SELECT worker FROM leases WHERE queue = ? AND expires_at > ?", (queue, lease_now)
        )
    }
    conn.execute("DELETE FROM leases WHERE queue = ? AND expires_at <= ?", (queue, lease_now))
    active = conn.execute(
        "SELECT rid, CAST(id AS BLOB), worker, CAST(priority AS INTEGER),"
        " CAST(stalled_count AS INTEGER), CAST(parent AS BLOB), CAST(on_failure AS BLOB)"
        " FROM jobs"
        " WHERE queue = ? AND state = 'active' ORDER BY rid",
        (queue,),
    ).fetchall()
    recovered: list[str] = []
    failed: list[str] = []
    rows = Rows(conn, tx)
    for rid, raw_id, worker, priority, stalled_before, parent, policy in active:
        if worker in alive:
            continue
        job_id = shown_id(raw_id)
        stalled = stalled_before + 1
        if stalled > max_stalled:
            conn.execute(
                "UPDATE jobs SET state = 'failed', rank = ?, failed_reason = ?, finished_on = ?,"
                " stalled_count = ?, worker = NULL, token = NULL WHERE rid = ?",
                (now, reason, now, stalled, rid),
            )
            tx.moved("active", "failed")
            tx.emit("failed", job_id, {"reason": reason})
            failed.append(job_id)
            if parent is not None:
                settle(rows, node_ref(queue, job_id), ref_text(parent), policy, "failed",
                       reason=reason, now=now)
        else:
            state, rank = tx.enqueue(priority, True)
            tx.moved("active", state)
            conn.execute(
                "UPDATE jobs SET state = ?, rank = ?, stalled_count = ?, worker = NULL,"
                " token = NULL WHERE rid = ?",
                (state, rank, stalled, rid),
            )
            tx.emit("stalled", job_id)
            recovered.append(job_id)
    tx.wake = tx.wake or bool(recovered)
    rows.finish_all()
    return recovered, failed
