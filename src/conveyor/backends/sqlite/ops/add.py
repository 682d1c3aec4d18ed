"""add: store a batch of new jobs atomically (Backend.add; Redis: add.lua).

Arguments: queue, the jobs (``NewJob``), now (ms).
Returns one ``AddResult`` per job: created, or not when a job with that id already
existed (idempotent add; a repeated id within the batch counts as existing too), or
when its dedup key held (``deduplicated``: the holder's id; a debounce gives a holder
that has not started the add's data and a fresh delay). Rules as in add.lua.
Events: added (name, state); delayed (delay, due) too for a delayed job; deduplicated
(key, mode). Wakes idle workers (marker), also for delayed jobs so that they set their
timers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...base import AddResult, NewJob
from .queue_row import QueueRow

_CHUNK = 500


def add(conn: sqlite3.Connection, queue: str, jobs: Sequence[NewJob], now: int) -> list[AddResult]:
    tx = QueueRow(conn, queue)
    tx.listed = 1
    existing = _existing_ids(conn, queue, [j.job_id for j in jobs if j.job_id])
    next_id = tx.next_id
    rows: list[tuple[object, ...]] = []
    out = []
    for job in jobs:
        if job.job_id and job.job_id in existing:
            out.append(AddResult(job.job_id, False))
            continue
        if job.dedup_key:
            absorbed = _absorbed(tx, job, rows, now)
            if absorbed is not None:
                tx.emit("deduplicated", absorbed, {"key": job.dedup_key, "mode": job.dedup_mode})
                out.append(AddResult(absorbed, False, True))
                continue
        if job.job_id:
            job_id = job.job_id
            existing.add(job_id)
        else:
            next_id += 1
            job_id = str(next_id)
        if job.delay_ms > 0:
            state, rank = "delayed", now + job.delay_ms
        else:
            state, rank = tx.enqueue(job.priority, job.lifo)
        tx.moved(None, state)
        rows.append(
            (queue, job_id, job.name, job.data, job.options, state, rank, now, job.delay_ms,
             job.priority)
        )
        tx.emit("added", job_id, {"name": job.name, "state": state})
        if state == "delayed":
            tx.emit("delayed", job_id, {"delay": str(job.delay_ms), "due": str(rank)})
        if job.dedup_key:
            _hold(conn, queue, job, job_id, now)
        out.append(AddResult(job_id, True))
    tx.next_id = next_id
    if rows:
        conn.executemany(
            "INSERT INTO jobs (queue, id, name, data, opts, state, rank, timestamp, delay,"
            " priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        tx.wake = True
    tx.finish()
    return out


def _existing_ids(conn: sqlite3.Connection, queue: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT id FROM jobs WHERE queue = ? AND id IN ({marks})", (queue, *chunk)
            )
        )
    return found


_UNFINISHED = ("waiting", "prioritized", "delayed", "active", "waiting-children")
_NOT_STARTED = ("waiting", "prioritized", "delayed")


def _absorbed(tx: QueueRow, job: NewJob, pending: list[tuple[object, ...]], now: int) -> str | None:
    """The job that holds ``job``'s dedup key and absorbs the add, or None: then the add
    makes a new job (and holds the key)."""
    conn, queue = tx.conn, tx.queue
    held = conn.execute(
        "SELECT job_id, expires_at FROM dedup WHERE queue = ? AND key = ?",
        (queue, job.dedup_key),
    ).fetchone()
    if held is None or (held[1] and held[1] <= now):
        return None
    holder = str(held[0])
    state = _state_of(conn, queue, holder, pending)
    if state not in _UNFINISHED:
        return None
    if job.dedup_mode != "debounce":
        return holder
    if state not in _NOT_STARTED:
        return None  # it has started: the data of this add is for a new run
    if any(row[1] == holder for row in pending):  # added earlier in this batch
        index = next(i for i, row in enumerate(pending) if row[1] == holder)
        row = list(pending[index])
        row[3] = job.data
        if row[5] == "delayed":
            row[6] = now + job.delay_ms
        row[8] = job.delay_ms
        pending[index] = tuple(row)
    else:
        conn.execute(
            "UPDATE jobs SET data = ?, delay = ?, rank = CASE state WHEN 'delayed' THEN ?"
            " ELSE rank END WHERE queue = ? AND id = ?",
            (job.data, job.delay_ms, now + job.delay_ms, queue, holder),
        )
    _hold(conn, queue, job, holder, now)
    return holder


def _state_of(
    conn: sqlite3.Connection, queue: str, job_id: str, pending: list[tuple[object, ...]]
) -> str | None:
    for row in pending:  # a job added earlier in this batch is not stored yet
        if row[1] == job_id:
            return str(row[5])
    found = conn.execute(
        "SELECT CAST(state AS TEXT) FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
    ).fetchone()
    return None if found is None else str(found[0])


def _hold(conn: sqlite3.Connection, queue: str, job: NewJob, job_id: str, now: int) -> None:
    expires = now + job.dedup_ttl_ms if job.dedup_ttl_ms else 0
    conn.execute(
        "INSERT INTO dedup (queue, key, job_id, expires_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id,"
        " expires_at = excluded.expires_at",
        (queue, job.dedup_key, job_id, expires),
    )
