"""Helpers the state changes share: delete jobs, trim finished sets, hold a lease."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def delete_jobs(conn: sqlite3.Connection, queue: str, ids: Sequence[str]) -> None:
    """Delete jobs with their logs and error records."""
    if not ids:
        return
    rows = [(queue, job_id) for job_id in ids]
    conn.executemany("DELETE FROM jobs WHERE queue = ? AND id = ?", rows)
    conn.executemany("DELETE FROM logs WHERE queue = ? AND job_id = ?", rows)
    conn.executemany("DELETE FROM job_errors WHERE queue = ? AND job_id = ?", rows)


def trim_finished(
    conn: sqlite3.Connection, queue: str, state: str, now: int, age: int, count: int
) -> None:
    """Apply a retention policy to the completed or failed set (ranked by finish time):
    drop jobs older than ``age`` ms and all but the newest ``count``; -1 disables either
    bound. At most 1000 jobs go per call so the cost stays bounded, as on Redis."""
    doomed: list[str] = []
    if age >= 0:
        doomed = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM jobs WHERE queue = ? AND state = ? AND rank <= ?"
                " ORDER BY rank, id LIMIT 1000",
                (queue, state, now - age),
            )
        ]
    if count >= 0:
        total = count_state(conn, queue, state)
        excess = total - len(doomed) - count
        if excess > 0:
            doomed += [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM jobs WHERE queue = ? AND state = ?"
                    " ORDER BY rank, id LIMIT ? OFFSET ?",
                    (queue, state, min(excess, 1000), len(doomed)),
                )
            ]
    delete_jobs(conn, queue, doomed)


def hold_lease(conn: sqlite3.Connection, queue: str, worker: str, expires_at: int) -> None:
    conn.execute(
        "INSERT INTO leases (queue, worker, expires_at) VALUES (?, ?, ?)"
        " ON CONFLICT (queue, worker) DO UPDATE SET expires_at = excluded.expires_at",
        (queue, worker, expires_at),
    )


def count_state(conn: sqlite3.Connection, queue: str, state: str) -> int:
    row = conn.execute(
        "SELECT n FROM state_counts WHERE queue = ? AND state = ?", (queue, state)
    ).fetchone()
    return 0 if row is None else int(row[0])
