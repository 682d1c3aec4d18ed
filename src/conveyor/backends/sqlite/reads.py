"""Read-only queries: jobs, pages by state, counts, logs, events and the wake-up marker.

Each runs on the backend's database thread; multi-statement reads share one snapshot
(a deferred transaction, which in WAL mode never blocks a writer).
"""

from __future__ import annotations

import json
import sqlite3
from typing import cast, get_args

from ...options import STATES, JobState
from ..base import Children, Event, JobRecord, OnFailure
from ..stored import FieldReader
from .ops.lib import shown_id

_JOB_COLUMNS = (
    "CAST(id AS BLOB), CAST(name AS BLOB), CAST(data AS BLOB), CAST(opts AS BLOB),"
    " CAST(state AS BLOB), timestamp, attempts_made, stalled_count, delay, priority,"
    " processed_on, finished_on, CAST(returnvalue AS BLOB), CAST(failed_reason AS BLOB),"
    " CAST(progress AS BLOB), rank, CAST(parent AS BLOB), CAST(on_failure AS BLOB)"
)
"""Text comes back as bytes and is decoded field by field (:mod:`..stored`), so that a
value that is not UTF-8 or not of its column's type damages only its own record."""


_POLICIES = get_args(OnFailure)


def event_id(row: int, index: int) -> str:
    """``<row>-<index>``, zero-padded so that ids order the same as strings and as
    (row, index) pairs."""
    return f"{row:020d}-{index:05d}"


def parse_event_id(text: str) -> tuple[int, int]:
    """The (row, index) of the last event seen; ``"0"`` is before every event."""
    row, sep, index = text.partition("-")
    if not row.isdigit() or (sep and not index.isdigit()):
        raise ValueError(text)
    return int(row), int(index) if sep else 1 << 62


def is_paused(conn: sqlite3.Connection, queue: str) -> bool:
    row = conn.execute("SELECT paused FROM queues WHERE name = ?", (queue,)).fetchone()
    return bool(row and row[0])


def marker(conn: sqlite3.Connection, queue: str) -> int:
    row = conn.execute("SELECT marker FROM queues WHERE name = ?", (queue,)).fetchone()
    return -1 if row is None else int(row[0])


def _record(
    conn: sqlite3.Connection, queue: str, row: tuple[object, ...], paused: bool
) -> JobRecord:
    (raw_id, name, data, opts, raw_state, timestamp, attempts, stalled, delay, priority,
     processed, finished, result, reason, progress, rank, parent, on_failure) = row
    read = FieldReader()
    job_id = read.text(raw_id, "id")
    state = read.text(raw_state, "state", "failed")
    if state not in STATES:
        read.note(f"state {state[:40]!r} is not a known state")
    if state == "waiting" and paused:
        state = "paused"
    policy = read.text(on_failure, "on_failure") if on_failure is not None else "fail"
    if policy not in _POLICIES:
        read.note(f"on_failure {policy[:40]!r} is not a failure policy")
        policy = "fail"
    errors = [
        r[0]
        for r in conn.execute(
            "SELECT CAST(error AS BLOB) FROM job_errors WHERE queue = ? AND job_id = ?"
            " ORDER BY attempt",
            (queue, job_id),
        )
    ]
    return JobRecord(
        queue=queue,
        job_id=job_id,
        name=read.name(name),
        data=read.blob(data, "data"),
        options=read.blob(opts, "opts", b"{}"),
        state=cast(JobState, state),
        timestamp=read.integer(timestamp, "timestamp"),
        attempts_made=read.integer(attempts, "attempts_made"),
        stalled_count=read.integer(stalled, "stalled_count"),
        delay_ms=read.integer(delay, "delay"),
        priority=read.integer(priority, "priority"),
        processed_on=read.optional_integer(processed, "processed_on") or None,
        finished_on=read.optional_integer(finished, "finished_on") or None,
        due_on=read.optional_integer(rank, "rank") if state == "delayed" else None,
        result=read.optional_blob(result, "returnvalue"),
        failed_reason=read.optional_text(reason, "failed_reason"),
        progress=read.optional_blob(progress, "progress"),
        errors=errors,
        damage=read.damage,
        parent=read.optional_text(parent, "parent"),
        on_failure=cast(OnFailure, policy),
    )


def get_job(conn: sqlite3.Connection, queue: str, job_id: str) -> JobRecord | None:
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
        ).fetchone()
        if row is None:
            return None
        return _record(conn, queue, row, row[4] == b"waiting" and is_paused(conn, queue))
    finally:
        conn.execute("COMMIT")


def get_children(conn: sqlite3.Connection, queue: str, job_id: str) -> Children:
    """What a flow's parent records of its children (``flow_children``), in one read."""
    pending: list[str] = []
    values: dict[str, bytes] = {}
    failures: dict[str, str] = {}
    for child, status, value, reason in conn.execute(
        "SELECT CAST(child AS BLOB), CAST(status AS TEXT), CAST(value AS BLOB),"
        " CAST(reason AS BLOB) FROM flow_children WHERE queue = ? AND parent_id = ?",
        (queue, job_id),
    ):
        ref = shown_id(child)
        if status == "pending":
            pending.append(ref)
        elif status == "completed":
            values[ref] = value if value is not None else b"null"
        elif status == "failed":
            failures[ref] = "" if reason is None else shown_id(reason)
    return Children(pending, values, failures)


def get_jobs(
    conn: sqlite3.Connection,
    queue: str,
    state: JobState,
    offset: int,
    limit: int,
    newest_first: bool,
) -> list[JobRecord]:
    conn.execute("BEGIN")
    try:
        paused = is_paused(conn, queue)
        if state in ("waiting", "paused"):
            if (state == "paused") != paused:
                return []
            state = "waiting"
        if state == "active":
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queue = ? AND state = 'active'", (queue,)
            ).fetchall()
            rows.sort(key=lambda r: _id_order(shown_id(r[0])), reverse=newest_first)
            rows = rows[offset : offset + limit]
        else:
            order = "DESC" if newest_first else "ASC"
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queue = ? AND state = ?"
                f" ORDER BY rank {order}, id {order} LIMIT ? OFFSET ?",
                (queue, state, limit, offset),
            ).fetchall()
        return [_record(conn, queue, row, paused) for row in rows]
    finally:
        conn.execute("COMMIT")


def _id_order(job_id: str) -> tuple[int, str]:
    return (0, f"{int(job_id):020d}") if job_id.isdigit() else (1, job_id)


def counts(conn: sqlite3.Connection, queue: str) -> dict[JobState, int]:
    conn.execute("BEGIN")
    try:
        paused = is_paused(conn, queue)
        rows = conn.execute(
            "SELECT state, n FROM state_counts WHERE queue = ?", (queue,)
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    result = dict.fromkeys(STATES, 0)
    for state, number in rows:
        if state in result:
            result[cast(JobState, state)] = int(number)
    if paused:
        result["paused"], result["waiting"] = result["waiting"], 0
    return result


def get_logs(
    conn: sqlite3.Connection, queue: str, job_id: str, offset: int, limit: int
) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT line FROM logs WHERE queue = ? AND job_id = ? ORDER BY seq LIMIT ? OFFSET ?",
            (queue, job_id, max(limit, 0), max(offset, 0)),
        )
    ]


def queues(conn: sqlite3.Connection) -> list[str]:
    return sorted(row[0] for row in conn.execute("SELECT name FROM queues WHERE listed = 1"))


def last_event(conn: sqlite3.Connection, queue: str) -> tuple[int, int]:
    """(row, index) of the newest event, or (0, 0) when there is none."""
    row = conn.execute(
        "SELECT id, n FROM events WHERE queue = ? ORDER BY id DESC LIMIT 1", (queue,)
    ).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]) - 1)


def read_events(
    conn: sqlite3.Connection, queue: str, after: tuple[int, int], count: int
) -> list[Event]:
    after_row, after_index = after
    events: list[Event] = []
    rows = conn.execute(
        "SELECT id, batch FROM events WHERE queue = ? AND id >= ?"
        " AND NOT (id = ? AND n <= ?) ORDER BY id LIMIT ?",
        (queue, after_row, after_row, after_index + 1, count),
    ).fetchall()
    for row_id, batch in rows:
        first = after_index + 1 if row_id == after_row else 0
        for index, (name, job_id, fields) in enumerate(json.loads(batch)[first:], first):
            events.append(Event(event_id(row_id, index), name, job_id or None, fields or {}))
            if len(events) >= count:
                return events
    return events
