"""add: store a batch of new jobs atomically (Backend.add; Redis: add.lua).

Arguments: queue, the jobs (``NewJob``), now (ms).
Returns one ``AddResult`` per job: created, or not when a job with that id already
existed (idempotent add; a repeated id within the batch counts as existing too).
Events: added (name, state); delayed (delay, due) too for a delayed job. Wakes idle
workers (marker), also for delayed jobs so that they set their timers.
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
    rows = []
    out = []
    for job in jobs:
        if job.job_id:
            job_id = job.job_id
            if job_id in existing:
                out.append(AddResult(job_id, False))
                continue
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
