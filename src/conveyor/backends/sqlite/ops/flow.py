"""Flows' shared steps inside one transaction (Redis: lua/lib/flow.lua), across queues.

The rules are docs/flows-storage.md's. A parent's children are rows of ``flow_children``
(keyed by the parent's queue and id, one per child ref ``queue:id``), ``pending`` until the
child ends, then ``completed`` with its value or ``failed`` with its reason; the parent's
``jobs.pending_children`` counts the pending ones, and its ``child_failed`` / ``resume``
columns are the contract's ``childFailed`` / ``resume`` flags.

A flow step touches several queues in one transaction, so every state change goes through
one :class:`~.queue_row.QueueRow` per queue (:class:`Rows`): counts, events and the wake-up
marker of each queue are written once, by :meth:`Rows.finish_all`. The caller's own row is
the registry's row for its queue.

Where the contract is silent, as the Redis twin does:

- A parent that fails because a ``fail`` child failed (the cascade) gets no error record,
  no retention trim and keeps its dedup key rules (parents take none); it is ranked in
  ``failed`` by now, like any finished job.
- ``make_ready`` puts the parent at the back (``enqueue(priority, front=False)``), clears
  nothing else; a paused queue keeps it waiting (counted as ``paused``).
- A second ``fail`` child failing while the parent runs replaces ``child_failed`` and
  ``child_failed_by`` (as HSET does): the parent's ``wait`` fails with the latest reason.
- ``failed_by`` (Redis ``failedBy``) names the child whose failure failed a parent, in the
  cascade or at its ``wait``; ``retry`` reads it (:func:`relink`).
- The pending subtree follows ``pending`` rows only, through unfinished jobs, and stops at
  an active one (it is reported, not descended into: removing refuses, or leaves it). A
  pending row naming a finished job (not made by conveyor) is neither followed nor
  deleted.
- A finished job is never a pending child (it settled when it finished), so removing one
  does not settle it: the Redis SREM finds nothing there either.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable

from ...base import CHILD_FAILED, node_ref, split_ref
from .lib import CHUNK, delete_jobs, marks
from .queue_row import QueueRow

FINISHED = ("completed", "failed")
TAKEN_BY_FAILURE = ("waiting-children", "waiting", "prioritized", "delayed")
"""States a parent leaves, for ``failed``, when a ``fail`` child fails for good."""


class Rows:
    """The QueueRow of every queue one transaction touches (one per queue, made on use)."""

    __slots__ = ("conn", "deleted", "home", "rows", "woken")

    def __init__(self, conn: sqlite3.Connection, home: QueueRow | None = None) -> None:
        self.conn = conn
        self.home = home
        self.rows: dict[str, QueueRow] = {}
        if home is not None:
            self.rows[home.queue] = home
        self.woken: list[str] = []
        """Queues other than ``home``'s in which a parent was made ready, in order."""
        self.deleted: set[tuple[str, str]] = set()
        """(queue, id) of the jobs :func:`delete_members` deleted (Redis flow_deleted),
        so that a caller going through a list of ids skips those gone with a parent."""

    def get(self, queue: str) -> QueueRow:
        row = self.rows.get(queue)
        if row is None:
            row = self.rows[queue] = QueueRow(self.conn, queue)
        return row

    def ready_in(self, queue: str) -> None:
        if (self.home is None or queue != self.home.queue) and queue not in self.woken:
            self.woken.append(queue)

    def finish_all(self) -> None:
        """Write every touched queue's counts, events and row (QueueRow.finish, once each)."""
        for row in self.rows.values():
            row.finish()


def ref_text(raw: object) -> str:
    """A ref read as ``CAST(... AS BLOB)`` (None or bytes) as text; empty for none."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode(errors="backslashreplace")
    return str(raw)


def settle(
    rows: Rows,
    child: str,
    parent: str,
    raw_policy: object,
    ended: str,
    value: bytes | None = None,
    reason: str = "",
    now: int = 0,
) -> None:
    """Settle the job ``child`` (a ref) that ``ended`` (``completed`` with ``value``,
    ``failed`` with ``reason``, or ``removed``) with its ``parent`` (a ref) under its
    failure policy (its ``on_failure`` as read, bytes or None: ``fail``); a parent failed
    by it settles with its own parent in turn, up the tree."""
    conn = rows.conn
    policy = _policy(raw_policy)
    while parent:
        parent_queue, parent_id = split_ref(parent)
        key = (parent_queue, parent_id, child)
        failing = ended == "failed"
        if ended == "completed":
            cursor = conn.execute(
                "UPDATE flow_children SET status = 'completed', value = ?"
                " WHERE queue = ? AND parent_id = ? AND child = ? AND status = 'pending'",
                (value, *key),
            )
        elif failing and policy != "remove":
            cursor = conn.execute(
                "UPDATE flow_children SET status = 'failed', reason = ?"
                " WHERE queue = ? AND parent_id = ? AND child = ? AND status = 'pending'",
                (reason, *key),
            )
        else:  # removed, or failed under `remove`: as if never added
            cursor = conn.execute(
                "DELETE FROM flow_children"
                " WHERE queue = ? AND parent_id = ? AND child = ? AND status = 'pending'",
                key,
            )
        if cursor.rowcount == 0:  # the parent is gone, or this child settled before
            return
        fails_parent = failing and policy in (None, "fail")
        parent_reason = CHILD_FAILED.format(ref=child, reason=reason) if fails_parent else None
        resumes = failing and policy == "continue"
        row = conn.execute(
            "UPDATE jobs SET pending_children = max(pending_children - 1, 0),"
            " child_failed = CASE WHEN state = 'active' AND :reason IS NOT NULL THEN :reason"
            " ELSE child_failed END,"
            " child_failed_by = CASE WHEN state = 'active' AND :reason IS NOT NULL THEN :child"
            " ELSE child_failed_by END,"
            " resume = CASE WHEN state = 'active' AND :resumes THEN 1 ELSE resume END"
            " WHERE queue = :queue AND id = :id"
            " RETURNING rid, CAST(state AS TEXT), pending_children, CAST(priority AS INTEGER),"
            " CAST(parent AS BLOB), CAST(on_failure AS BLOB)",
            {"reason": parent_reason, "child": child, "resumes": resumes,
             "queue": parent_queue, "id": parent_id},
        ).fetchone()
        if row is None:
            return
        rid, state, left, priority, grandparent, parent_policy = row
        if parent_reason is not None:
            if state not in TAKEN_BY_FAILURE:
                return  # active: flagged above (its `wait` fails it); finished: nothing
            fail(rows.get(parent_queue), rid, parent_id, state, parent_reason, child, now)
            child, parent, policy = parent, ref_text(grandparent), _policy(parent_policy)
            value, reason = None, parent_reason
            continue
        if state == "waiting-children" and (left <= 0 or resumes):
            make_ready(rows, parent_queue, rid, parent_id, priority)
        return


def settle_completed(rows: Rows, done: list[tuple[str, str, bytes]]) -> None:
    """Settle completed children, each (child ref, parent ref, value), as ``settle``
    would one by one: their rows in one statement per chunk, then each parent's count
    once, made ready when none is left pending. A completion never fails a parent, so
    the order within the batch does not matter."""
    conn = rows.conn
    changed: list[tuple[str, str]] = []
    for start in range(0, len(done), CHUNK):
        chunk = done[start : start + CHUNK]
        args: list[object] = []
        for child, parent, value in chunk:
            args += (*split_ref(parent), child, value)
        changed += conn.execute(
            f"WITH d (queue, parent_id, child, value) AS (VALUES {marks(len(chunk), 4)})"
            " UPDATE flow_children SET status = 'completed', value = d.value FROM d"
            " WHERE flow_children.queue = d.queue AND flow_children.parent_id = d.parent_id"
            " AND flow_children.child = d.child AND flow_children.status = 'pending'"
            " RETURNING flow_children.queue, flow_children.parent_id",
            args,
        ).fetchall()
    for (parent_queue, parent_id), n in Counter(changed).items():
        row = conn.execute(
            "UPDATE jobs SET pending_children = max(pending_children - ?, 0)"
            " WHERE queue = ? AND id = ?"
            " RETURNING rid, CAST(state AS TEXT), pending_children, CAST(priority AS INTEGER)",
            (n, parent_queue, parent_id),
        ).fetchone()
        if row is not None and row[1] == "waiting-children" and row[2] <= 0:
            make_ready(rows, parent_queue, row[0], parent_id, row[3])


def fail(
    tx: QueueRow, rid: int, job_id: str, state: str, reason: str, by: str, now: int
) -> None:
    """Take a job out of ``state`` (not active) into ``failed`` with ``reason``, failed
    ``by`` the child of that ref (Redis flow_fail)."""
    tx.conn.execute(
        "UPDATE jobs SET state = 'failed', rank = ?, failed_reason = ?, finished_on = ?,"
        " failed_by = ?, worker = NULL, token = NULL WHERE rid = ?",
        (now, reason, now, by, rid),
    )
    tx.moved(state, "failed")
    tx.emit("failed", job_id, {"reason": reason})


def make_ready(rows: Rows, queue: str, rid: int, job_id: str, priority: int) -> None:
    """A parent out of ``waiting-children``, to the back of the line (or prioritized)."""
    tx = rows.get(queue)
    state, rank = tx.enqueue(priority, False)
    rows.conn.execute("UPDATE jobs SET state = ?, rank = ? WHERE rid = ?", (state, rank, rid))
    tx.moved("waiting-children", state)
    tx.wake = True
    tx.emit("waiting", job_id, {"prev": "waiting-children"})
    rows.ready_in(queue)


_SUBTREE = """
WITH RECURSIVE sub (queue, id, state) AS (
  SELECT ?, ?, ''
  UNION
  SELECT j.queue, j.id, j.state
  FROM sub
  JOIN flow_children AS c
    ON c.queue = sub.queue AND c.parent_id = sub.id AND c.status = 'pending'
  JOIN jobs AS j
    ON j.queue = substr(c.child, 1, instr(c.child, ':') - 1)
    AND j.id = substr(c.child, instr(c.child, ':') + 1)
  WHERE sub.state NOT IN ('active', 'completed', 'failed') {other_queues}
)
SELECT queue, id, state FROM sub WHERE state <> ''
"""


def pending_subtree(
    conn: sqlite3.Connection, queue: str, job_id: str, *, other_queues_only: bool = False
) -> list[tuple[str, str, str]]:
    """(queue, id, state) of every job under ``job_id`` by pending links: its pending
    children, theirs, … in any queue (or only in queues other than ``queue``: jobs in
    ``queue`` are neither listed nor looked under). An active or finished job is listed
    but not looked under."""
    args: tuple[str, ...] = (queue, job_id)
    if other_queues_only:
        sql, args = _SUBTREE.format(other_queues="AND j.queue <> ?"), (*args, queue)
    else:
        sql = _SUBTREE.format(other_queues="")
    return [(str(q), str(i), str(s)) for q, i, s in conn.execute(sql, args)]


def delete_members(rows: Rows, members: Iterable[tuple[str, str, str]]) -> int:
    """Delete the unfinished, not active jobs of a pending subtree, queue by queue, with
    a ``removed`` event each; returns how many."""
    by_queue: dict[str, list[str]] = {}
    for queue, job_id, state in members:
        if state != "active" and state not in FINISHED:
            by_queue.setdefault(queue, []).append(job_id)
    for queue, ids in by_queue.items():
        tx = rows.get(queue)
        delete_jobs(rows.conn, queue, ids)
        tx.forget_counts()
        for job_id in ids:
            rows.deleted.add((queue, job_id))
            tx.emit("removed", job_id)
    return sum(len(ids) for ids in by_queue.values())


def leave(
    rows: Rows,
    queue: str,
    job_id: str,
    state: str,
    parent: object,
    policy: object,
    *,
    strict: bool,
    queue_goes: bool = False,
    pending: bool = True,
) -> bool:
    """Job ``job_id`` of ``queue`` (in ``state``, with its raw ``parent`` ref and
    ``policy``) is about to be deleted (Redis flow_leave): it settles with its parent
    (removed) unless it had finished, and its pending subtree is deleted (active jobs are
    left, with what is under them). ``strict`` (remove, clean of unfinished states):
    nothing changes and False comes back when the subtree has an active job.
    ``queue_goes`` (obliterate): the subtree's jobs in ``queue``, and a parent there, are
    left alone (they go with the queue). ``pending`` False: the job has no pending child
    (``jobs.pending_children``), so the subtree is not looked up. The caller deletes the
    job itself, after this."""
    members = []
    if pending:
        members = pending_subtree(rows.conn, queue, job_id, other_queues_only=queue_goes)
        if strict and any(member_state == "active" for _, _, member_state in members):
            return False
    if parent is not None and state not in FINISHED:
        parent_ref = ref_text(parent)
        if not (queue_goes and split_ref(parent_ref)[0] == queue):
            settle(rows, node_ref(queue, job_id), parent_ref, policy, "removed")
    delete_members(rows, members)
    return True


def relink(rows: Rows, queue: str, job_id: str, parent: object, now: int) -> None:
    """A failed job is retried (Redis flow_retry): it is its parent's pending child again
    (its failure off the parent's list; a ``child_failed`` it caused on a running parent
    cleared), and a parent its failure failed (``failed_by``) waits for its children
    again (event waiting-children, prev=failed), and so on up the tree. A completed (or
    missing) parent is left alone."""
    conn = rows.conn
    child, parent_ref = node_ref(queue, job_id), ref_text(parent)
    while parent_ref:
        parent_queue, parent_id = split_ref(parent_ref)
        row = conn.execute(
            "SELECT rid, CAST(state AS TEXT), CAST(parent AS BLOB), failed_by FROM jobs"
            " WHERE queue = ? AND id = ?",
            (parent_queue, parent_id),
        ).fetchone()
        if row is None or row[1] == "completed":
            return
        rid, state, grandparent, failed_by = row
        conn.execute(
            "INSERT INTO flow_children (queue, parent_id, child, status) VALUES (?, ?, ?,"
            " 'pending') ON CONFLICT (queue, parent_id, child) DO UPDATE SET"
            " status = 'pending', value = NULL, reason = NULL",
            (parent_queue, parent_id, child),
        )
        conn.execute(  # counted from the rows: the child may have been pending already
            "UPDATE jobs SET pending_children = (SELECT count(*) FROM flow_children"
            " WHERE queue = :queue AND parent_id = :id AND status = 'pending'),"
            " child_failed = CASE WHEN state = 'active' AND child_failed_by = :child THEN NULL"
            " ELSE child_failed END,"
            " child_failed_by = CASE WHEN state = 'active' AND child_failed_by = :child"
            " THEN NULL ELSE child_failed_by END WHERE rid = :rid",
            {"queue": parent_queue, "id": parent_id, "child": child, "rid": rid},
        )
        if state != "failed" or failed_by != child:
            return
        tx = rows.get(parent_queue)
        conn.execute(
            "UPDATE jobs SET state = 'waiting-children', rank = ?, failed_by = NULL,"
            " finished_on = NULL, failed_reason = NULL WHERE rid = ?",
            (now, rid),
        )
        tx.moved("failed", "waiting-children")
        tx.emit("waiting-children", parent_id, {"prev": "failed"})
        child, parent_ref = parent_ref, ref_text(grandparent)


def _policy(raw: object) -> str | None:
    """A job's ``on_failure`` as read (``CAST(... AS BLOB)``: a garbled value must not fail
    the statement that read it); None, or one that names no policy, means ``fail``."""
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    return raw if raw in _POLICIES else None


_POLICIES = ("fail", "ignore", "continue", "remove")
