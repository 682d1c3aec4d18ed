"""finish_and_fetch: end a batch of attempts and take the next jobs, in one transaction
(Backend.finish_and_fetch; Redis: finish_and_fetch.lua). The worker's hot path.

Arguments: queue, worker id, lease ms, first token sequence number, outcomes, how many
jobs to fetch, now (ms), lease clock now (ms).
Each outcome is fenced: code 0 when its token is the job's, else -2 (lock lost) and the
job is left alone. Completed/failed jobs land in their set (or are deleted at once for
retention (0, 0)) and the set is trimmed; retried jobs go to the back of the line, or to
delayed. A job with a flow parent (its ``parent`` column, read with its token) settles
with it when it completes or fails (before a retention (0, 0) delete; ``flow.py``), which
may make the parent ready or fail it, in any queue. ``wait`` (a parent that added children
while running; its payload replaced by ``Outcome.data`` when not empty) fails the job when
a ``fail`` child failed while it ran (``child_failed``; it then settles with its own
parent), makes it ready again at once when ``resume`` is set or no child is pending (event
waiting, prev=active), else moves it to ``waiting-children`` (ranked by now, as Redis
scores it).
Then due delayed jobs are promoted and up to ``fetch`` jobs move to active —
waiting ones first, then prioritized — under tokens ``<worker>:<n>``, and the worker's
lease is (re)written.
Returns ``Fetched`` (codes, jobs, next delayed due time or None, paused, marker, and the
other queues in which a parent was made ready).
Events: completed, failed, retrying, delayed (a retry that waits), waiting (a delayed
job now due, or a parent that waits no more), waiting-children, active, drained; in a
parent's queue: waiting (prev=waiting-children), failed. Each attempt's error record is
numbered by the job's error count, so records survive manual retries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ...base import FetchedJob, Outcome, node_ref
from ...stored import fetched_job
from .flow import Rows, ref_text, settle, settle_completed
from .lib import CHUNK, delete_jobs, hold_lease, marks, shown_id, trim_finished
from .queue_row import QueueRow

LOCK_LOST = -2
_FINISHED = {"complete": "completed", "fail": "failed"}


@dataclass(slots=True)
class Fetched:
    codes: list[int]
    jobs: list[FetchedJob]
    next_due: int | None
    paused: bool
    marker: int
    woken: tuple[str, ...] = ()


def finish_and_fetch(
    conn: sqlite3.Connection,
    queue: str,
    worker: str,
    lease_expires: int,
    seq: int,
    outcomes: Sequence[Outcome],
    fetch: int,
    now: int,
) -> Fetched:
    tx = QueueRow(conn, queue)
    rows = Rows(conn, tx)
    codes = _apply(rows, tx, outcomes, now) if outcomes else []
    jobs: list[FetchedJob] = []
    # The next due time, read once: only a promotion changes the delayed set after this.
    next_due = _next_due(tx)
    if fetch > 0 and not tx.paused:
        if next_due is not None and next_due <= now:
            _promote_due(tx, now)
            next_due = _next_due(tx)
        jobs = _take(tx, worker, seq, fetch, now)
        if jobs:
            hold_lease(conn, queue, worker, lease_expires)
            if tx.count("waiting") + tx.count("prioritized"):
                tx.wake = True
            else:
                tx.emit("drained", None)
    rows.finish_all()
    return Fetched(codes, jobs, next_due, bool(tx.paused), tx.marker, tuple(rows.woken))


def _next_due(tx: QueueRow) -> int | None:
    row = tx.conn.execute(
        "SELECT MIN(rank) FROM jobs WHERE queue = ? AND state = 'delayed'", (tx.queue,)
    ).fetchone()
    return None if row[0] is None else int(row[0])


def _apply(rows: Rows, tx: QueueRow, outcomes: Sequence[Outcome], now: int) -> list[int]:
    codes: list[int] = []
    for start in range(0, len(outcomes), CHUNK):
        codes += _apply_chunk(rows, tx, outcomes[start : start + CHUNK], now)
    return codes


def _apply_chunk(
    rows: Rows, tx: QueueRow, outcomes: Sequence[Outcome], now: int
) -> list[int]:
    conn, queue = tx.conn, tx.queue
    held = {
        row[1]: row
        for row in conn.execute(
            "SELECT rid, id, token, CAST(priority AS INTEGER), CAST(parent AS BLOB),"
            " CAST(on_failure AS BLOB) FROM jobs"
            f" WHERE queue = ? AND id IN ({marks(len(outcomes))})",
            (queue, *[o.job_id for o in outcomes]),
        )
    }
    codes: list[int] = []
    finished: list[object] = []
    errors: list[tuple[str, str, bytes]] = []
    doomed: list[str] = []
    policies: set[tuple[str, int, int]] = set()
    settled: list[tuple[str, str, bytes]] = []
    for o in outcomes:
        rid, _, token, priority, parent, policy = held.pop(o.job_id, _NOT_HELD)
        if token is None or token != o.token:
            codes.append(LOCK_LOST)
            continue
        codes.append(0)
        if o.action in _AGAIN:
            if o.action == "wait":
                _wait(rows, tx, rid, priority, o, now)
                continue
            _retry(tx, rid, priority, o, now)
            if o.action == "retry":
                errors.append((queue, o.job_id, o.error))
            continue
        age, count = o.retention
        state = _FINISHED[o.action]
        if age == 0 and count == 0:
            doomed.append(o.job_id)
        else:
            complete = o.action == "complete"
            if not complete:
                errors.append((queue, o.job_id, o.error))
            tx.moved("active", state)
            finished += (rid, state, o.result if complete else None,
                         None if complete else o.reason, o.attempts_made)
            if age >= 0 or count >= 0:
                policies.add((state, age, count))
        _ended(rows, tx, o, parent, policy, now, settled)
    if settled:
        settle_completed(rows, settled)
    if finished:
        conn.execute(
            f"WITH o (rid, state, result, reason, attempts) AS (VALUES"
            f" {marks(len(finished) // 5, 5)}) UPDATE jobs SET state = o.state,"
            " returnvalue = coalesce(o.result, returnvalue),"
            " failed_reason = CASE o.state WHEN 'completed' THEN NULL"
            " ELSE coalesce(o.reason, failed_reason) END, finished_on = ?,"
            " attempts_made = o.attempts, rank = ?, worker = NULL, token = NULL"
            " FROM o WHERE jobs.rid = o.rid",
            (*finished, now, now),
        )
    if errors:
        conn.executemany(
            "INSERT INTO job_errors (queue, job_id, attempt, error) VALUES (?, ?, (SELECT"
            " COALESCE(MAX(attempt), 0) + 1 FROM job_errors WHERE queue = ? AND job_id = ?),"
            " ?)",
            [(q, job_id, q, job_id, error) for q, job_id, error in errors],
        )
    _release_dedup_keys(conn, queue, outcomes, codes)
    _remove(tx, doomed, policies, now)
    return codes


def _release_dedup_keys(
    conn: sqlite3.Connection, queue: str, outcomes: Sequence[Outcome], codes: list[int]
) -> None:
    """A job that completed or failed no longer holds its dedup key."""
    released = [
        (queue, o.dedup_key, o.job_id)
        for o, code in zip(outcomes, codes, strict=True)
        if code == 0 and o.dedup_key and o.action in ("complete", "fail")
    ]
    if released:
        conn.executemany("DELETE FROM dedup WHERE queue = ? AND key = ? AND job_id = ?", released)


def _remove(
    tx: QueueRow, doomed: list[str], policies: set[tuple[str, int, int]], now: int
) -> None:
    """Delete jobs kept for no time and apply the retention policies. Count changes stay
    pending until QueueRow.finish writes them all at once; QueueRow.count adds them to the stored
    counts, read again after a delete (which writes its own)."""
    if doomed:
        delete_jobs(tx.conn, tx.queue, doomed)
        tx.forget_counts()
    for state, age, count in sorted(policies):
        if trim_finished(tx.conn, tx.queue, state, now, age, count, tx.count(state)):
            tx.forget_counts()


_AGAIN = frozenset({"wait", "retry", "postpone"})
_NOT_HELD = (0, "", None, 0, None, None)


def _ended(
    rows: Rows,
    tx: QueueRow,
    o: Outcome,
    parent: bytes | None,
    policy: bytes | None,
    now: int,
    settled: list[tuple[str, str, bytes]],
) -> None:
    """A job completed or failed for good: its event, and it settles with its flow
    parent when it has one (its ``parent`` column, read with its token). Completed
    children are settled together after the batch (``settled``): a few statements per
    batch and parent instead of two per child."""
    if o.action == "complete":
        tx.emit("completed", o.job_id, {"returnvalue": o.result.decode()})
        if parent is not None:
            settled.append((node_ref(tx.queue, o.job_id), ref_text(parent), o.result))
    else:
        tx.emit("failed", o.job_id, {"reason": o.reason})
        if parent is not None:
            settle(rows, node_ref(tx.queue, o.job_id), ref_text(parent), policy,
                   "failed", reason=o.reason, now=now)


def _wait(rows: Rows, tx: QueueRow, rid: int, priority: int, o: Outcome, now: int) -> None:
    """A parent ends its run to wait for the children it added (the ``wait`` outcome)."""
    conn = tx.conn
    if o.data:
        conn.execute("UPDATE jobs SET data = ? WHERE rid = ?", (o.data, rid))
    failed, failed_by, resume, pending, parent, policy = conn.execute(
        "SELECT child_failed, child_failed_by, resume, pending_children, CAST(parent AS BLOB),"
        " CAST(on_failure AS BLOB) FROM jobs WHERE rid = ?",
        (rid,),
    ).fetchone()
    if failed is not None:
        conn.execute(
            "UPDATE jobs SET state = 'failed', rank = ?, failed_reason = ?, finished_on = ?,"
            " failed_by = ?, child_failed = NULL, child_failed_by = NULL, resume = 0,"
            " worker = NULL, token = NULL WHERE rid = ?",
            (now, failed, now, failed_by, rid),
        )
        tx.moved("active", "failed")
        tx.emit("failed", o.job_id, {"reason": failed})
        if parent is not None:
            settle(rows, node_ref(tx.queue, o.job_id), ref_text(parent), policy, "failed",
                   reason=failed, now=now)
    elif resume or not pending:
        state, rank = tx.enqueue(priority, False)
        conn.execute(
            "UPDATE jobs SET state = ?, rank = ?, resume = 0, worker = NULL, token = NULL"
            " WHERE rid = ?",
            (state, rank, rid),
        )
        tx.moved("active", state)
        tx.wake = True
        tx.emit("waiting", o.job_id, {"prev": "active"})
    else:
        conn.execute(
            "UPDATE jobs SET state = 'waiting-children', rank = ?, worker = NULL,"
            " token = NULL WHERE rid = ?",
            (now, rid),
        )
        tx.moved("active", "waiting-children")
        tx.emit("waiting-children", o.job_id)


def _retry(tx: QueueRow, rid: int, priority: int, o: Outcome, now: int) -> None:
    """Another attempt after ``retry_delay_ms``: a retry counts the failed attempt and
    keeps its reason; a postpone (the handler's "not now") leaves both as they were."""
    delay = o.retry_delay_ms
    if delay > 0:
        state, rank = "delayed", now + delay
    else:
        state, rank = tx.enqueue(priority, False)
    tx.moved("active", state)
    if o.action == "retry":
        tx.conn.execute(
            "UPDATE jobs SET state = ?, rank = ?, attempts_made = ?, failed_reason = ?,"
            " worker = NULL, token = NULL WHERE rid = ?",
            (state, rank, o.attempts_made, o.reason, rid),
        )
        tx.emit("retrying", o.job_id, {"delay": str(delay), "reason": o.reason})
    else:
        tx.conn.execute(
            "UPDATE jobs SET state = ?, rank = ?, worker = NULL, token = NULL WHERE rid = ?",
            (state, rank, rid),
        )
        if delay == 0:
            tx.emit("waiting", o.job_id, {"prev": "active"})
    tx.wake = True
    if delay > 0:
        tx.emit("delayed", o.job_id, {"delay": str(delay), "due": str(rank)})


def _promote_due(tx: QueueRow, now: int) -> None:
    due = tx.conn.execute(
        "SELECT rid, CAST(id AS BLOB), CAST(priority AS INTEGER) FROM jobs WHERE queue = ?"
        " AND state = 'delayed' AND rank <= ?"
        " ORDER BY rank, id LIMIT 1000",
        (tx.queue, now),
    ).fetchall()
    if due:
        moves = []
        for rid, raw_id, priority in due:
            state, rank = tx.enqueue(priority, False)
            tx.moved("delayed", state)
            moves.append((state, rank, rid))
            tx.emit("waiting", shown_id(raw_id), {"prev": "delayed"})
        tx.conn.executemany("UPDATE jobs SET state = ?, rank = ? WHERE rid = ?", moves)


def _take(tx: QueueRow, worker: str, seq: int, fetch: int, now: int) -> list[FetchedJob]:
    conn, queue = tx.conn, tx.queue
    rids = [
        row[0]
        for row in conn.execute(
            "SELECT rid FROM jobs WHERE queue = ? AND state = 'waiting' ORDER BY rank LIMIT ?",
            (queue, fetch),
        )
    ]
    tx.moved("waiting", "active", len(rids))
    if len(rids) < fetch:
        taken = len(rids)
        rids += [
            row[0]
            for row in conn.execute(
                "SELECT rid FROM jobs WHERE queue = ? AND state = 'prioritized'"
                " ORDER BY rank, id LIMIT ?",
                (queue, fetch - len(rids)),
            )
        ]
        tx.moved("prioritized", "active", len(rids) - taken)
    jobs: list[FetchedJob] = []
    for start in range(0, len(rids), CHUNK):
        chunk = rids[start : start + CHUNK]
        order = {rid: i for i, rid in enumerate(chunk)}
        tokens: list[object] = []
        for i, rid in enumerate(chunk):
            tokens += (rid, f"{worker}:{seq + start + i}")
        rows = conn.execute(
            f"WITH t (rid, token) AS (VALUES {marks(len(chunk), 2)}) UPDATE jobs SET"
            " state = 'active', processed_on = ?, worker = ?, token = t.token FROM t"
            " WHERE jobs.rid = t.rid"
            # Text columns come back as bytes, so that a value that is not UTF-8 damages
            # its own job only (sqlite3 would fail the whole statement decoding it).
            " RETURNING rid, CAST(id AS BLOB), token, CAST(name AS BLOB), CAST(data AS BLOB),"
            " CAST(opts AS BLOB), attempts_made, timestamp, CAST(parent AS BLOB)",
            (*tokens, now, worker),
        ).fetchall()
        rows.sort(key=lambda row: order[row[0]])
        for rid, raw_id, token, name, data, opts, attempts, timestamp, parent in rows:
            try:
                job_id = raw_id.decode()
            except (AttributeError, UnicodeDecodeError):  # no caller could name it
                _confine_unnamed(tx, rid, raw_id, now)
                continue
            job = fetched_job(job_id, token, name, data, opts, attempts, timestamp)
            if parent is not None:
                job = replace(job, parent=ref_text(parent))
            jobs.append(job)
            tx.emit("active", job.job_id)
    return jobs


def _confine_unnamed(tx: QueueRow, rid: int, raw_id: object, now: int) -> None:
    """Fail, in the fetch that took it, a job whose stored id is not UTF-8 text: the worker
    could not finish it by id, and decoding it would fail the whole fetch."""
    reason = "the stored job record is damaged: its id is not UTF-8 text"
    tx.conn.execute(
        "UPDATE jobs SET state = 'failed', rank = ?, finished_on = ?, failed_reason = ?,"
        " worker = NULL, token = NULL WHERE rid = ?",
        (now, now, reason, rid),
    )
    tx.moved("active", "failed")
    tx.emit("failed", shown_id(raw_id), {"reason": reason})
