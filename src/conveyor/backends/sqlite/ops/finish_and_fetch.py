"""finish_and_fetch: end a batch of attempts and take the next jobs, in one transaction
(Backend.finish_and_fetch; Redis: finish_and_fetch.lua). The worker's hot path.

Arguments: queue, worker id, lease ms, first token sequence number, outcomes, how many
jobs to fetch, now (ms), lease clock now (ms).
Each outcome is fenced: code 0 when its token is the job's, else -2 (lock lost) and the
job is left alone. Completed/failed jobs land in their set (or are deleted at once for
retention (0, 0)) and the set is trimmed; retried jobs go to the back of the line, or to
delayed. Then due delayed jobs are promoted and up to ``fetch`` jobs move to active —
waiting ones first, then prioritized — under tokens ``<worker>:<n>``, and the worker's
lease is (re)written.
Returns ``Fetched`` (codes, jobs, next delayed due time or None, paused, marker).
Events: completed, failed, retrying, delayed (a retry that waits), waiting (a delayed
job now due), active, drained. Each attempt's error record is numbered by the job's
error count, so records survive manual retries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ...base import FetchedJob, Outcome
from .lib import delete_jobs, hold_lease, trim_finished
from .tx import Tx

LOCK_LOST = -2
_FINISHED = {"complete": "completed", "fail": "failed"}


@dataclass(slots=True)
class Fetched:
    codes: list[int]
    jobs: list[FetchedJob]
    next_due: int | None
    paused: bool
    marker: int


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
    tx = Tx(conn, queue)
    codes = _apply(tx, outcomes, now) if outcomes else []
    jobs: list[FetchedJob] = []
    if fetch > 0 and not tx.paused:
        _promote_due(tx, now)
        jobs = _take(tx, worker, seq, fetch, now)
        if jobs:
            hold_lease(conn, queue, worker, lease_expires)
            if _has_ready(conn, queue):
                tx.wake = True
            else:
                tx.emit("drained", None)
    row = conn.execute(
        "SELECT MIN(rank) FROM jobs WHERE queue = ? AND state = 'delayed'", (queue,)
    ).fetchone()
    tx.finish()
    return Fetched(codes, jobs, row[0], bool(tx.paused), tx.marker)


def _apply(tx: Tx, outcomes: Sequence[Outcome], now: int) -> list[int]:
    conn, queue = tx.conn, tx.queue
    codes: list[int] = []
    finished: list[tuple[object, ...]] = []
    errors: list[tuple[object, ...]] = []
    doomed: list[str] = []
    policies: set[tuple[str, int, int]] = set()
    for o in outcomes:
        row = conn.execute(
            "SELECT rid, token, priority FROM jobs WHERE queue = ? AND id = ?", (queue, o.job_id)
        ).fetchone()
        if row is None or row[1] != o.token or row[1] is None:
            codes.append(LOCK_LOST)
            continue
        codes.append(0)
        rid, _, priority = row
        if o.action == "retry":
            _retry(tx, rid, priority, o, now)
            errors.append((queue, o.job_id, o.error))
            continue
        age, count = o.retention
        state = _FINISHED[o.action]
        if age == 0 and count == 0:
            doomed.append(o.job_id)
        else:
            if o.action == "fail":
                errors.append((queue, o.job_id, o.error))
            finished.append(
                (state, o.result if o.action == "complete" else None,
                 o.reason if o.action == "fail" else None, now, o.attempts_made, now, rid)
            )
            if age >= 0 or count >= 0:
                policies.add((state, age, count))
        if o.action == "complete":
            tx.emit("completed", o.job_id, {"returnvalue": o.result.decode()})
        else:
            tx.emit("failed", o.job_id, {"reason": o.reason})
    if finished:
        conn.executemany(
            "UPDATE jobs SET state = ?1, returnvalue = coalesce(?2, returnvalue),"
            " failed_reason = CASE ?1 WHEN 'completed' THEN NULL"
            " ELSE coalesce(?3, failed_reason) END, finished_on = ?4, attempts_made = ?5,"
            " rank = ?6, worker = NULL, token = NULL WHERE rid = ?7",
            finished,
        )
    if errors:
        conn.executemany(
            "INSERT INTO job_errors (queue, job_id, attempt, error) VALUES (?1, ?2, (SELECT"
            " COALESCE(MAX(attempt), 0) + 1 FROM job_errors WHERE queue = ?1 AND job_id = ?2),"
            " ?3)",
            errors,
        )
    delete_jobs(conn, queue, doomed)
    for state, age, count in sorted(policies):
        trim_finished(conn, queue, state, now, age, count)
    return codes


def _retry(tx: Tx, rid: int, priority: int, o: Outcome, now: int) -> None:
    delay = o.retry_delay_ms
    if delay > 0:
        state, rank = "delayed", now + delay
    else:
        state, rank = tx.enqueue(priority, False)
    tx.conn.execute(
        "UPDATE jobs SET state = ?, rank = ?, attempts_made = ?, failed_reason = ?,"
        " worker = NULL, token = NULL WHERE rid = ?",
        (state, rank, o.attempts_made, o.reason, rid),
    )
    tx.wake = True
    tx.emit("retrying", o.job_id, {"delay": str(delay), "reason": o.reason})
    if delay > 0:
        tx.emit("delayed", o.job_id, {"delay": str(delay), "due": str(rank)})


def _promote_due(tx: Tx, now: int) -> None:
    due = tx.conn.execute(
        "SELECT rid, id, priority FROM jobs WHERE queue = ? AND state = 'delayed' AND rank <= ?"
        " ORDER BY rank, id LIMIT 1000",
        (tx.queue, now),
    ).fetchall()
    if due:
        moves = []
        for rid, job_id, priority in due:
            moves.append((*tx.enqueue(priority, False), rid))
            tx.emit("waiting", job_id, {"prev": "delayed"})
        tx.conn.executemany("UPDATE jobs SET state = ?, rank = ? WHERE rid = ?", moves)


def _take(tx: Tx, worker: str, seq: int, fetch: int, now: int) -> list[FetchedJob]:
    conn, queue = tx.conn, tx.queue
    rids = [
        row[0]
        for row in conn.execute(
            "SELECT rid FROM jobs WHERE queue = ? AND state = 'waiting' ORDER BY rank LIMIT ?",
            (queue, fetch),
        )
    ]
    if len(rids) < fetch:
        rids += [
            row[0]
            for row in conn.execute(
                "SELECT rid FROM jobs WHERE queue = ? AND state = 'prioritized'"
                " ORDER BY rank, id LIMIT ?",
                (queue, fetch - len(rids)),
            )
        ]
    jobs = []
    for rid in rids:
        token = f"{worker}:{seq}"
        seq += 1
        job_id, name, data, opts, attempts, timestamp = conn.execute(
            "UPDATE jobs SET state = 'active', processed_on = ?, worker = ?, token = ?"
            " WHERE rid = ? RETURNING id, name, data, opts, attempts_made, timestamp",
            (now, worker, token, rid),
        ).fetchall()[0]
        jobs.append(FetchedJob(job_id, token, name, data, opts, attempts, timestamp))
        tx.emit("active", job_id)
    return jobs


def _has_ready(conn: sqlite3.Connection, queue: str) -> bool:
    row = conn.execute(
        "SELECT COALESCE(SUM(n), 0) FROM state_counts WHERE queue = ?"
        " AND state IN ('waiting', 'prioritized')",
        (queue,),
    ).fetchone()
    return bool(row[0])
