"""add_tree: store a flow, its jobs across queues, all or none (Backend.add_tree; Redis:
add_tree.lua).

Arguments: the nodes (``TreeNode``, parents first), now (ms).
Returns ``TreeResult``: code 0 and one ``AddResult`` per node; or -1 (a root's
``parent_ref`` names no job), -3 (that job is neither active nor waiting-children) or -4
(its stored state is no state) and nothing stored.
Rules (docs/flows-storage.md, "Adding a tree"): a node whose id exists is not created
and its subtree is skipped (``AddResult("", False)``, or a skipped node's own id when it
names one that exists; an id named twice in the call exists the second time); generated
ids come from each queue's counter, skipping ids that are taken. A created node
with children in the call starts in ``waiting-children`` (ranked by its timestamp), any
other as ``add`` starts it (delayed, prioritized or waiting; the engine refuses dedup keys
and delayed parents); each created node with a parent is a pending child of it (the root's
``parent_ref`` included); a parent left with no pending child is made ready at the end.
A root with a ``parent_ref`` and an id of its own that the parent has recorded as finished
(it was trimmed by retention) is not added again (``AddResult(id, False)``).
Events, in each node's queue: added (name, state); delayed (delay, due) for a delayed
job; waiting (prev=waiting-children) for a parent made ready at the end. Wakes each queue
that got a ready or delayed job (marker), as ``add``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

from ....errors import Refusal
from ....options import STORED_STATES
from ...base import AddResult, TreeNode, TreeResult, node_ref, split_ref
from .add import _existing_ids
from .flow import Rows
from .queue_row import QueueRow

_ADOPTERS = ("active", "waiting-children")
"""States in which an existing job takes new children (``parent_ref``)."""

_INSERT_CHUNK = 5000
_INSERT = (
    "INSERT INTO jobs (queue, id, name, data, opts, state, rank, timestamp, delay, priority,"
    " parent, on_failure, pending_children) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def add_tree(conn: sqlite3.Connection, nodes: Sequence[TreeNode], now: int) -> TreeResult:
    refused = _check_parent_refs(conn, nodes)
    if refused:
        return TreeResult(refused, [])
    tree = _Tree(conn, nodes, now)
    out = [tree.add(i, node) for i, node in enumerate(nodes)]
    tree.store()
    return TreeResult(0, out)


class _Tree:
    """One call's nodes on their way in: ids, states, events and the rows to insert."""

    def __init__(self, conn: sqlite3.Connection, nodes: Sequence[TreeNode], now: int) -> None:
        self.conn, self.nodes, self.now = conn, nodes, now
        self.rows = Rows(conn)
        named: dict[str, list[str]] = {}
        for node in nodes:
            self.rows.get(node.queue).listed = 1
            if node.job.job_id:
                named.setdefault(node.queue, []).append(node.job.job_id)
        # Per queue, the ids taken: in the database (named ones, and generated ones as the
        # counter meets them) or by this call.
        self.taken = {q: _existing_ids(conn, q, named.get(q, [])) for q in self.rows.rows}
        generated = Counter(node.queue for node in nodes if not node.job.job_id)
        self.ids = {
            q: _Ids(conn, self.rows.get(q), n, self.taken[q]) for q, n in generated.items()
        }
        self.has_children = {node.parent for node in nodes if node.parent >= 0}
        self.created: list[str | None] = [None] * len(nodes)
        self.pending = [0] * len(nodes)
        self.adopted: set[str] = set()  # parent_refs that got children
        self.inserts: list[list[object]] = []  # the last column is pending_children
        self.row_of: dict[int, int] = {}
        self.links: list[tuple[str, str, str]] = []

    def add(self, i: int, node: TreeNode) -> AddResult:
        queue, job = node.queue, node.job
        taken = self.taken[queue]
        if node.parent >= 0:
            parent_id = self.created[node.parent] if node.parent < i else None
            if parent_id is None:  # under a node that was not created: skipped
                return AddResult(job.job_id if job.job_id in taken else "", False)
            parent_ref = node_ref(self.nodes[node.parent].queue, parent_id)
        else:
            parent_ref = node.parent_ref
        if job.job_id in taken:
            return AddResult(job.job_id, False)
        if job.job_id and node.parent < 0 and self._settled(parent_ref, queue, job.job_id):
            return AddResult(job.job_id, False)  # finished and trimmed: not run again
        job_id = job.job_id or self.ids[queue].take()
        taken.add(job_id)
        tx = self.rows.get(queue)
        if i in self.has_children:
            state, rank = "waiting-children", self.now
        elif job.delay_ms > 0:
            state, rank = "delayed", self.now + job.delay_ms
        else:
            state, rank = tx.enqueue(job.priority, job.lifo)
        tx.moved(None, state)
        tx.emit("added", job_id, {"name": job.name, "state": state})
        if state == "delayed":
            tx.emit("delayed", job_id, {"delay": str(job.delay_ms), "due": str(rank)})
        tx.wake = tx.wake or state != "waiting-children"
        self.row_of[i] = len(self.inserts)
        self.inserts.append(
            [queue, job_id, job.name, job.data, job.options, state, rank, self.now,
             job.delay_ms, job.priority, parent_ref or None,
             node.on_failure if parent_ref else None, 0]
        )
        self.created[i] = job_id
        if parent_ref:
            parent_queue, parent_id = split_ref(parent_ref)
            self.links.append((parent_queue, parent_id, node_ref(queue, job_id)))
            if node.parent >= 0:
                self.pending[node.parent] += 1
            else:
                self.adopted.add(parent_ref)
        return AddResult(job_id, True)

    def _settled(self, parent_ref: str, queue: str, job_id: str) -> bool:
        """Whether the parent has recorded this child as finished (a value or a failure):
        a re-added child that finished and was trimmed must not run again."""
        if not parent_ref:
            return False
        parent_queue, parent_id = split_ref(parent_ref)
        found = self.conn.execute(
            "SELECT 1 FROM flow_children WHERE queue = ? AND parent_id = ? AND child = ?"
            " AND status != 'pending'",
            (parent_queue, parent_id, node_ref(queue, job_id)),
        ).fetchone()
        return found is not None

    def store(self) -> None:
        conn = self.conn
        for i in sorted(self.has_children):
            if i in self.row_of:
                row = self.inserts[self.row_of[i]]
                row[-1] = self.pending[i]
                if not self.pending[i]:  # its children all existed: ready at the end
                    _ready_at_end(self.rows.get(self.nodes[i].queue), row)
        for start in range(0, len(self.inserts), _INSERT_CHUNK):
            conn.executemany(_INSERT, self.inserts[start : start + _INSERT_CHUNK])
        if self.links:
            conn.executemany(
                "INSERT INTO flow_children (queue, parent_id, child, status) VALUES (?, ?, ?,"
                " 'pending') ON CONFLICT (queue, parent_id, child) DO UPDATE SET"
                " status = 'pending', value = NULL, reason = NULL",
                self.links,
            )
        for parent_ref in self.adopted:
            conn.execute(  # counted from its rows: a child added again under its old ref
                "UPDATE jobs SET pending_children = (SELECT count(*) FROM flow_children"
                " WHERE queue = :queue AND parent_id = :id AND status = 'pending')"
                " WHERE queue = :queue AND id = :id",
                dict(zip(("queue", "id"), split_ref(parent_ref), strict=True)),
            )
        self.rows.finish_all()


def _check_parent_refs(conn: sqlite3.Connection, nodes: Sequence[TreeNode]) -> int:
    """0, or the refusal for a root's ``parent_ref`` (checked before anything is written)."""
    for ref in dict.fromkeys(n.parent_ref for n in nodes if n.parent < 0 and n.parent_ref):
        queue, job_id = split_ref(ref)
        row = conn.execute(
            "SELECT CAST(state AS TEXT) FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
        ).fetchone()
        if row is None:
            return int(Refusal.JOB_NOT_FOUND)
        if row[0] not in STORED_STATES:  # a garbled state, as Redis reads a broken record
            return int(Refusal.DAMAGED)
        if row[0] not in _ADOPTERS:
            return int(Refusal.INVALID_STATE)
    return 0


def _ready_at_end(tx: QueueRow, row: list[object]) -> None:
    """A parent none of whose children was created: it is stored ready (enqueued after
    every job of the call), with the events of being made ready."""
    job_id, priority = str(row[1]), int(row[9])  # type: ignore[call-overload]
    state, rank = tx.enqueue(priority, False)
    row[5], row[6] = state, rank
    tx.moved("waiting-children", state)
    tx.wake = True
    tx.emit("waiting", job_id, {"prev": "waiting-children"})


class _Ids:
    """Generated ids of one queue: its counter, skipping ids already taken (checked a
    range at a time, in one statement per range)."""

    __slots__ = ("checked", "conn", "queue", "taken", "tx", "want")

    def __init__(self, conn: sqlite3.Connection, tx: QueueRow, want: int, taken: set[str]):
        self.conn, self.tx, self.queue = conn, tx, tx.queue
        self.checked = tx.next_id
        self.want = max(want, 1)
        self.taken = taken
        """The queue's ids taken (shared with the caller, who adds the ids it creates)."""

    def take(self) -> str:
        while True:
            self.tx.next_id += 1
            n = self.tx.next_id
            if n > self.checked:
                self._check(n, n + self.want + 16)
            job_id = str(n)
            if job_id not in self.taken:
                return job_id

    def _check(self, low: int, high: int) -> None:
        self.taken.update(
            row[0]
            for row in self.conn.execute(
                "WITH RECURSIVE n (x) AS (SELECT ? UNION ALL SELECT x + 1 FROM n WHERE x < ?)"
                " SELECT jobs.id FROM n JOIN jobs ON jobs.queue = ?"
                " AND jobs.id = CAST(n.x AS TEXT)",
                (low, high, self.queue),
            )
        )
        self.checked = high
