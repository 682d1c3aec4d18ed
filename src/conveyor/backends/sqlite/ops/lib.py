"""Helpers the state changes share: delete jobs, trim finished sets, hold a lease."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence

CHUNK = 500
"""Rows per set-based statement (well under SQLite's limit on bound parameters)."""


def shown_id(raw: object) -> str:
    """A job id read as bytes (``CAST(id AS BLOB)``), as text for events and reports: an id
    that is not UTF-8 must not fail the statement that read it (sqlite3 decodes every text
    column of a row, and one bad value would stop a whole fetch or stalled check)."""
    if isinstance(raw, bytes):
        return raw.decode(errors="backslashreplace")
    return str(raw)


def marks(count: int, width: int = 1) -> str:
    """``?, ?, …`` for an IN list, or ``(?, ?), (?, ?), …`` for VALUES rows."""
    if width == 1:
        return ", ".join("?" * count)
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)


def adjust_counts(conn: sqlite3.Connection, queue: str, deltas: Mapping[str, int]) -> None:
    """Apply per-state changes to ``state_counts`` (every state change calls this)."""
    rows = [(queue, state, n) for state, n in deltas.items() if n]
    if rows:
        conn.executemany(
            "INSERT INTO state_counts (queue, state, n) VALUES (?, ?, ?)"
            " ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n",
            rows,
        )


def delete_jobs(conn: sqlite3.Connection, queue: str, ids: Sequence[str]) -> None:
    """Delete jobs with their logs and error records, and what a flow's parent keeps of
    its children (``flow_children``), and count them out. Settling a deleted job with its
    own parent is the caller's (``flow.py``)."""
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        where = f"queue = ? AND {{}} IN ({marks(len(chunk))})"
        gone = Counter(
            row[0]
            for row in conn.execute(
                f"DELETE FROM jobs WHERE {where.format('id')} RETURNING state", (queue, *chunk)
            ).fetchall()
        )
        adjust_counts(conn, queue, {state: -n for state, n in gone.items()})
        conn.execute(f"DELETE FROM logs WHERE {where.format('job_id')}", (queue, *chunk))
        conn.execute(f"DELETE FROM job_errors WHERE {where.format('job_id')}", (queue, *chunk))
        conn.execute(
            f"DELETE FROM flow_children WHERE {where.format('parent_id')}", (queue, *chunk)
        )


def trim_finished(
    conn: sqlite3.Connection,
    queue: str,
    state: str,
    now: int,
    age: int,
    count: int,
    total: int | None = None,
) -> bool:
    """Apply a retention policy to the completed or failed set (ranked by finish time):
    drop jobs older than ``age`` ms and all but the newest ``count``; -1 disables either
    bound. ``total``: the set's size when the caller knows it (counts not yet written to
    ``state_counts`` included). At most 1000 jobs go per call so the cost stays bounded,
    as on Redis.

    The count bound is applied with a little slack: the set is trimmed back to ``count``
    only once it holds more than ``count + trim_slack(count)`` jobs, so most batches skip
    the delete (and its index and page writes) and one batch in a few deletes them
    together. Bounds below 20 are kept exactly. Returns whether jobs were deleted."""
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
        if total is None:
            total = count_state(conn, queue, state)
        excess = total - len(doomed) - count
        if excess > trim_slack(count):
            doomed += [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM jobs WHERE queue = ? AND state = ?"
                    " ORDER BY rank, id LIMIT ? OFFSET ?",
                    (queue, state, min(excess, 1000), len(doomed)),
                )
            ]
    delete_jobs(conn, queue, doomed)
    return bool(doomed)


def trim_slack(count: int) -> int:
    """How far a finished set kept at ``count`` may grow before it is trimmed back:
    5 % of the bound, at most 50 jobs (0 below 20, so small bounds are exact)."""
    return min(50, count // 20)


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
