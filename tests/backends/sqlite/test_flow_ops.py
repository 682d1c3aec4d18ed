"""The SQLite twin of flows, op by op (``backends/sqlite/ops/add_tree.py``, ``flow.py`` and
the ops that settle): each test runs the ops in their own transactions on one connection
and checks rows, events and ``state_counts`` directly. Engine-level behaviour on both
backends is pinned by ``tests/conformance/test_flows*.py``."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conveyor import Queue
from conveyor.backends.base import (
    CHILD_FAILED,
    Children,
    FetchedJob,
    NewJob,
    Outcome,
    TreeNode,
)
from conveyor.backends.sqlite import SQLiteBackend, reads, schema
from conveyor.backends.sqlite.ops.add import add
from conveyor.backends.sqlite.ops.add_tree import add_tree
from conveyor.backends.sqlite.ops.check_stalled import check_stalled
from conveyor.backends.sqlite.ops.clean import clean
from conveyor.backends.sqlite.ops.drain import drain
from conveyor.backends.sqlite.ops.finish_and_fetch import Fetched, finish_and_fetch
from conveyor.backends.sqlite.ops.obliterate import obliterate
from conveyor.backends.sqlite.ops.remove import remove
from conveyor.backends.sqlite.ops.retry import retry

T = TypeVar("T")
NOW = 1_000_000
FAR = 10**15  # a lease that never expires


class Db:
    """One connection to a fresh database; each op runs in its own ``BEGIN IMMEDIATE``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None)
        schema.prepare(self.conn, str(path))
        self.seq = 0

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self.conn, *args)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def tree(self, *nodes: TreeNode, now: int = NOW) -> list[str]:
        result = self.run(add_tree, list(nodes), now)
        assert result.code == 0
        return [a.job_id for a in result.added]

    def take(self, queue: str, n: int = 100, now: int = NOW) -> list[FetchedJob]:
        return self.finish(queue, [], fetch=n, now=now).jobs

    def finish(
        self, queue: str, outcomes: list[Outcome], fetch: int = 0, now: int = NOW
    ) -> Fetched:
        self.seq += 1000
        return self.run(finish_and_fetch, queue, "w", FAR, self.seq, outcomes, fetch, now)

    def state(self, queue: str, job_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT state FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def column(self, queue: str, job_id: str, column: str) -> Any:
        return self.conn.execute(
            f"SELECT {column} FROM jobs WHERE queue = ? AND id = ?", (queue, job_id)
        ).fetchone()[0]

    def events(self, queue: str) -> list[tuple[str, str | None, dict[str, str] | None]]:
        out = []
        for (batch,) in self.conn.execute(
            "SELECT batch FROM events WHERE queue = ? ORDER BY id", (queue,)
        ):
            out += [tuple(event) for event in json.loads(batch)]
        return out

    def snapshot(self) -> list[Any]:
        """Everything stored but the lease rows, to show that a refused call wrote nothing."""
        return [
            self.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("jobs", "queues", "events", "state_counts", "flow_children")
        ]

    def assert_counts(self) -> None:
        stored = {
            (q, s): n
            for q, s, n in self.conn.execute(
                "SELECT queue, state, COUNT(*) FROM jobs GROUP BY 1, 2"
            )
        }
        counted = {
            (q, s): n
            for q, s, n in self.conn.execute("SELECT queue, state, n FROM state_counts")
            if n
        }
        assert stored == counted
        pending = self.conn.execute(
            "SELECT j.queue, j.id, j.pending_children, (SELECT count(*) FROM flow_children c"
            " WHERE c.queue = j.queue AND c.parent_id = j.id AND c.status = 'pending')"
            " FROM jobs j"
        ).fetchall()
        assert [row for row in pending if row[2] != row[3]] == []


@pytest.fixture
def db(db_path: Path) -> Iterator[Db]:
    instance = Db(db_path)
    try:
        yield instance
        instance.assert_counts()
    finally:
        instance.conn.close()


def job(name: str = "j", **kwargs: Any) -> NewJob:
    return NewJob(name, b"null", b"{}", **kwargs)


def node(queue: str, parent: int = -1, name: str = "j", **kwargs: Any) -> TreeNode:
    on_failure = kwargs.pop("on_failure", "fail")
    parent_ref = kwargs.pop("parent_ref", "")
    return TreeNode(queue, job(name, **kwargs), parent, parent_ref, on_failure)


def done(fetched: FetchedJob, result: bytes = b"1", **kwargs: Any) -> Outcome:
    return Outcome(fetched.job_id, fetched.token, "complete", 1, result=result,
                   parent=fetched.parent, **kwargs)


def failed(fetched: FetchedJob, reason: str = "boom", **kwargs: Any) -> Outcome:
    return Outcome(fetched.job_id, fetched.token, "fail", 1, reason=reason, error=b"{}",
                   parent=fetched.parent, **kwargs)


def waits(fetched: FetchedJob, data: bytes = b"") -> Outcome:
    return Outcome(fetched.job_id, fetched.token, "wait", fetched.attempts_made, data=data)


# -- schema ------------------------------------------------------------------------------
_V3_COLUMNS = ("parent", "on_failure", "pending_children", "child_failed", "resume",
               "child_failed_by", "failed_by")


def downgrade(path: Path, version: int) -> None:
    """Make a current database file look like one written at ``version`` (2 or 1): without
    version 4's locks and version 3's flows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE locks")  # version 4
    conn.execute("DROP TABLE buckets")
    conn.execute("DROP TABLE flow_children")
    for column in _V3_COLUMNS:
        conn.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    if version < 2:
        conn.execute("DROP TABLE dedup")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def table_info(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                             " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}
    finally:
        conn.close()


@pytest.mark.parametrize("version", [2, 1])
async def test_an_older_database_is_migrated_to_hold_flows_and_keeps_its_jobs(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.db"
    first = Queue("q", url=f"sqlite:///{path}")
    kept = await first.add("noop", {"from": version})
    await first.close()
    downgrade(path, version)
    assert "flow_children" not in table_info(path)

    backend = SQLiteBackend(f"sqlite:///{path}")
    try:
        record = await backend.get_job("q", kept.id)
        assert record is not None
        assert json.loads(record.data) == {"from": version}
        assert (record.parent, record.on_failure) == (None, "fail")
        result = await backend.add_tree([node("q"), node("q", 0)], NOW)
        assert [a.created for a in result.added] == [True, True]
        children = await backend.get_children("q", result.added[0].job_id)
        assert children.pending == [f"q:{result.added[1].job_id}"]
    finally:
        await backend.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    fresh = tmp_path / "fresh.db"
    Db(fresh).conn.close()
    assert table_info(path) == table_info(fresh), "a migrated file has the schema of a new one"


# -- add_tree ----------------------------------------------------------------------------
def test_ten_thousand_nodes_in_one_call(db: Db) -> None:
    nodes = [node("root")]
    for i in range(99):  # 99 sections in two queues, 100 leaves each in a third
        nodes.append(node("mid" if i % 2 else "mid2", 0))
        section = len(nodes) - 1
        nodes += [node("leaf", section) for _ in range(100)]
    assert len(nodes) == 10_000
    result = db.run(add_tree, nodes, NOW)
    assert result.code == 0
    assert all(a.created for a in result.added)
    assert len({(n.queue, a.job_id) for n, a in zip(nodes, result.added, strict=True)}) == 10_000
    counts = dict(
        db.conn.execute("SELECT queue || '/' || state, n FROM state_counts WHERE n").fetchall()
    )
    assert counts == {
        "root/waiting-children": 1, "mid/waiting-children": 49, "mid2/waiting-children": 50,
        "leaf/waiting": 9900,
    }
    assert db.column("root", result.added[0].job_id, "pending_children") == 99
    assert db.conn.execute("SELECT count(*) FROM flow_children").fetchone()[0] == 9_999
    assert len(db.events("leaf")) == 9900

    assert db.run(remove, "root", result.added[0].job_id) == 0
    assert db.conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM flow_children").fetchone()[0] == 0


def test_generated_ids_skip_taken_ones_and_existing_ids_skip_their_subtree(db: Db) -> None:
    db.tree(node("q", job_id="2"), node("q", job_id="x"))
    ids = db.tree(
        node("q"),                          # 0: generated "1"
        node("q", 0),                       # 1: generated "3" ("2" is taken)
        node("q", 0, job_id="x"),           # 2: exists: not created, subtree skipped
        node("q", 2, job_id="2"),           # 3: skipped, names an existing id
        node("q", 2, job_id="new"),         # 4: skipped, its id does not exist
        node("q", 2),                       # 5: skipped
        node("q", 0, job_id="4"),           # 6: a named id the counter has not reached
        node("q", 0),                       # 7: generated "5" ("4" was taken just above)
    )
    assert ids == ["1", "3", "x", "2", "", "", "4", "5"]
    assert db.column("q", "1", "pending_children") == 3
    assert db.state("q", "new") is None
    assert sorted(reads.get_children(db.conn, "q", "1").pending) == ["q:3", "q:4", "q:5"]
    record = reads.get_job(db.conn, "q", "3")
    assert record is not None
    assert (record.parent, record.on_failure) == ("q:1", "fail")


def test_a_parent_whose_children_all_exist_is_ready_at_the_end(db: Db) -> None:
    db.tree(node("kids", job_id="a"), node("kids", job_id="b"))
    ids = db.tree(node("top", priority=2), node("kids", 0, job_id="a"),
                  node("kids", 0, job_id="b"), node("top"))
    assert ids == ["1", "a", "b", "2"]
    assert db.state("top", "1") == "prioritized"
    assert db.column("top", "1", "pending_children") == 0
    assert db.events("top") == [
        ("added", "1", {"name": "j", "state": "waiting-children"}),
        ("added", "2", {"name": "j", "state": "waiting"}),
        ("waiting", "1", {"prev": "waiting-children"}),
    ]
    assert db.conn.execute("SELECT marker FROM queues WHERE name = 'top'").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("parent_ref", "code"),
    [("q:nope", -1), ("q:done", -3), ("q:odd", -4)],
)
def test_a_refused_tree_stores_nothing(db: Db, parent_ref: str, code: int) -> None:
    db.tree(node("q", job_id="done"), node("q", job_id="odd"))
    (taken,) = db.take("q", 1)
    db.finish("q", [done(taken)])
    db.conn.execute("UPDATE jobs SET state = 'garbled' WHERE id = 'odd'")
    db.conn.execute("UPDATE state_counts SET n = n - 1 WHERE queue = 'q' AND state = 'waiting'")
    db.conn.execute("INSERT INTO state_counts VALUES ('q', 'garbled', 1)")
    before = db.snapshot()
    nodes = [node("q"), node("other", 0), node("other2", parent_ref=parent_ref)]
    result = db.run(add_tree, nodes, NOW)
    assert (result.code, result.added) == (code, [])
    assert db.snapshot() == before
    assert db.conn.execute("SELECT count(*) FROM queues WHERE name LIKE 'other%'").fetchone() == (
        0,
    )


def test_children_added_to_a_running_parent_and_its_wait(db: Db) -> None:
    (parent_id,) = db.tree(node("p"))
    (running,) = db.take("p")
    ids = db.tree(node("c", parent_ref=f"p:{parent_id}"), node("c", parent_ref=f"p:{parent_id}"))
    assert db.column("p", parent_id, "pending_children") == 2
    db.finish("p", [waits(running, data=b'{"step": 2}')])
    assert db.state("p", parent_id) == "waiting-children"
    assert db.column("p", parent_id, "data") == b'{"step": 2}'
    assert db.column("p", parent_id, "attempts_made") == 0
    for taken in db.take("c"):
        assert taken.parent == f"p:{parent_id}"
        db.finish("c", [done(taken, result=taken.job_id.encode())])
    assert db.state("p", parent_id) == "waiting"
    children = reads.get_children(db.conn, "p", parent_id)
    assert (children.pending, children.values) == ([], {f"c:{i}": i.encode() for i in ids})
    assert db.events("p")[-2:] == [
        ("waiting-children", parent_id, None),
        ("waiting", parent_id, {"prev": "waiting-children"}),
    ]


def test_wait_with_nothing_pending_or_resume_runs_again_and_child_failed_fails(db: Db) -> None:
    (alone,) = db.tree(node("p"))
    (running,) = db.take("p")
    db.finish("p", [waits(running)])
    assert db.state("p", alone) == "waiting"
    assert db.events("p")[-1] == ("waiting", alone, {"prev": "active"})

    (running,) = db.take("p")
    db.tree(node("c", parent_ref=f"p:{alone}", on_failure="continue"),
            node("c", parent_ref=f"p:{alone}", on_failure="fail"),
            node("c", parent_ref=f"p:{alone}", on_failure="ignore"))
    first, second, _ = db.take("c")
    db.finish("c", [failed(first, "soft")])
    assert db.column("p", alone, "resume") == 1
    db.finish("p", [waits(running)])
    assert db.state("p", alone) == "waiting", "resume: it goes on although two are pending"
    assert db.column("p", alone, "resume") == 0

    (running,) = db.take("p")
    db.finish("c", [failed(second, "hard")])
    reason = CHILD_FAILED.format(ref=f"c:{second.job_id}", reason="hard")
    assert db.column("p", alone, "child_failed") == reason
    db.finish("p", [waits(running)])
    assert db.state("p", alone) == "failed"
    assert db.column("p", alone, "failed_reason") == reason
    assert db.column("p", alone, "failed_by") == f"c:{second.job_id}"
    assert db.column("p", alone, "child_failed") is None


# -- settle ------------------------------------------------------------------------------
def test_a_failure_climbs_across_three_queues(db: Db) -> None:
    root, mid, leaf, sibling = db.tree(node("q1"), node("q2", 0), node("q3", 1), node("q3", 1))
    (taken, _) = db.take("q3")
    result = db.finish("q3", [failed(taken, "disk full")])
    assert result.woken == ()
    mid_reason = CHILD_FAILED.format(ref=f"q3:{leaf}", reason="disk full")
    root_reason = CHILD_FAILED.format(ref=f"q2:{mid}", reason=mid_reason)
    assert (db.state("q2", mid), db.column("q2", mid, "failed_reason")) == ("failed", mid_reason)
    assert (db.state("q1", root), db.column("q1", root, "failed_reason")) == (
        "failed", root_reason)
    assert db.events("q2")[-1] == ("failed", mid, {"reason": mid_reason})
    assert db.events("q1")[-1] == ("failed", root, {"reason": root_reason})
    assert reads.get_children(db.conn, "q2", mid).failures == {f"q3:{leaf}": "disk full"}
    assert reads.get_children(db.conn, "q2", mid).pending == [f"q3:{sibling}"]
    assert reads.get_children(db.conn, "q1", root).failures == {f"q2:{mid}": mid_reason}


def test_completing_children_wakes_parents_in_other_queues(db: Db) -> None:
    root, mid, leaf = db.tree(node("q1"), node("q2", 0), node("q3", 1))
    (taken,) = db.take("q3")
    marker = db.conn.execute("SELECT marker FROM queues WHERE name = 'q2'").fetchone()[0]
    result = db.finish("q3", [done(taken, b'"leaf"')])
    assert result.woken == ("q2",)
    assert db.conn.execute("SELECT marker FROM queues WHERE name = 'q2'").fetchone()[0] > marker
    (section,) = db.take("q2")
    assert (section.job_id, section.parent) == (mid, f"q1:{root}")
    assert db.finish("q2", [done(section)], fetch=0).woken == ("q1",)
    assert db.state("q1", root) == "waiting"
    assert reads.get_children(db.conn, "q2", mid).values == {f"q3:{leaf}": b'"leaf"'}


def test_a_parent_in_the_same_queue_is_ready_in_the_same_call(db: Db) -> None:
    root, _ = db.tree(node("q"), node("q", 0))
    (child,) = db.take("q")
    result = db.finish("q", [done(child)], fetch=5)
    assert result.woken == ()
    assert [j.job_id for j in result.jobs] == [root]


@pytest.mark.parametrize("policy", ["ignore", "continue", "remove"])
def test_policies_other_than_fail(db: Db, policy: str) -> None:
    root, _, _ = db.tree(node("p"), node("c", 0, on_failure=policy), node("c", 0))
    first, second = db.take("c")
    db.finish("c", [failed(first, "nope")])
    assert db.state("p", root) == ("waiting" if policy == "continue" else "waiting-children")
    children = reads.get_children(db.conn, "p", root)
    assert children.failures == ({} if policy == "remove" else {f"c:{first.job_id}": "nope"})
    db.finish("c", [done(second)])
    assert db.state("p", root) == "waiting"


def test_retention_zero_settles_before_the_delete_and_parents_take_their_rows(db: Db) -> None:
    root, mid, _ = db.tree(node("q1"), node("q2", 0), node("q3", 1))
    (leaf,) = db.take("q3")
    db.finish("q3", [done(leaf, b"7", retention=(0, 0))])
    assert db.state("q3", leaf.job_id) is None
    assert reads.get_children(db.conn, "q2", mid).values == {f"q3:{leaf.job_id}": b"7"}
    (section,) = db.take("q2")
    db.finish("q2", [done(section, retention=(0, 0))])
    assert db.conn.execute(
        "SELECT count(*) FROM flow_children WHERE queue = 'q2'"
    ).fetchone()[0] == 0
    assert db.state("q1", root) == "waiting"


def test_a_job_failed_for_stalling_settles_with_its_parent(db: Db) -> None:
    root, child = db.tree(node("p"), node("c", 0))
    db.take("c")
    db.conn.execute("UPDATE jobs SET stalled_count = 1 WHERE queue = 'c'")
    recovered, gone = db.run(check_stalled, "c", 1, 1000, NOW, 10**16, "stalled")
    assert (recovered, gone) == ([], [child])
    assert db.state("p", root) == "failed"
    assert db.column("p", root, "failed_reason") == CHILD_FAILED.format(
        ref=f"c:{child}", reason="stalled")


def test_retry_of_the_failed_child_puts_the_failed_parents_back(db: Db) -> None:
    root, mid, leaf = db.tree(node("q1"), node("q2", 0), node("q3", 1))
    (taken,) = db.take("q3")
    db.finish("q3", [failed(taken)])
    assert (db.state("q1", root), db.state("q2", mid)) == ("failed", "failed")
    assert db.run(retry, "q3", [leaf], NOW + 5) == 1
    assert (db.state("q1", root), db.state("q2", mid), db.state("q3", leaf)) == (
        "waiting-children", "waiting-children", "waiting")
    assert reads.get_children(db.conn, "q2", mid).pending == [f"q3:{leaf}"]
    assert reads.get_children(db.conn, "q2", mid).failures == {}
    assert db.column("q2", mid, "failed_by") is None
    assert db.events("q1")[-1] == ("waiting-children", root, {"prev": "failed"})
    (taken,) = db.take("q3")
    db.finish("q3", [done(taken)])
    assert db.state("q2", mid) == "waiting"


def test_retry_of_all_failed_in_one_queue_reads_parents_as_they_move(db: Db) -> None:
    root, child = db.tree(node("q", job_id="r"), node("q", 0, job_id="c"))
    (taken,) = db.take("q")
    db.finish("q", [failed(taken)])
    assert db.state("q", root) == "failed"
    # Oldest finish first, then id: the child "c" first, whose retry puts "r" back.
    assert db.run(retry, "q", None, NOW) == 1, "the parent went back with its child"
    assert (db.state("q", root), db.state("q", child)) == ("waiting-children", "waiting")


# -- removing ----------------------------------------------------------------------------
def test_remove_refuses_while_a_grandchild_runs_and_then_takes_the_subtree(db: Db) -> None:
    db.tree(node("g"))
    db.take("g")  # a running handler adds the flow as its children
    ids = db.tree(node("q1", parent_ref="g:1"), node("q2", 0), node("q3", 1),
                  node("q3", 1, delay_ms=60_000), node("q2", 0))
    root, mid, _, delayed, _ = ids
    (running,) = db.take("q3")
    before = db.snapshot()
    assert db.run(remove, "q1", root) == -3
    assert db.run(remove, "q2", mid) == -3
    assert db.snapshot() == before
    db.finish("q3", [done(running)])
    assert db.run(remove, "q1", root) == 0
    assert db.conn.execute("SELECT queue, id FROM jobs ORDER BY 1").fetchall() == [
        ("g", "1"), ("q3", running.job_id)]
    assert db.events("q3")[-1] == ("removed", delayed, None)
    assert db.events("q1")[-1] == ("removed", root, None)
    assert reads.get_children(db.conn, "g", "1").pending == []


def test_remove_of_a_child_releases_its_parent(db: Db) -> None:
    root, child = db.tree(node("p"), node("c", 0))
    assert db.run(remove, "c", child) == 0
    assert db.state("p", root) == "waiting"
    assert reads.get_children(db.conn, "p", root) == Children([], {}, {})


def test_clean_of_waiting_children_skips_a_parent_with_a_running_descendant(db: Db) -> None:
    idle = db.tree(node("top"), node("mid", 0), node("leaf", 1, delay_ms=60_000),
                   node("leaf", 0, delay_ms=60_000))
    busy = db.tree(node("top"), node("mid", 0), node("leaf", 1))
    db.take("leaf")
    assert db.run(clean, "top", "waiting-children", NOW, 10) == [idle[0]]
    assert [db.state(q, i) for q, i in zip(("top", "mid", "leaf", "leaf"), idle, strict=True)] \
        == [None] * 4
    assert db.state("top", busy[0]) == "waiting-children"
    assert db.run(clean, "mid", "waiting-children", NOW, 10) == []


def test_clean_passes_over_a_parent_made_ready_by_an_earlier_one(db: Db) -> None:
    root, inner = db.tree(node("q"), node("q", 0), node("q", 1, job_id="x"))[:2]
    # In rank (creation) order, then id: the root ("1") comes first and takes its subtree.
    assert db.run(clean, "q", "waiting-children", NOW, 10) == [root]
    assert db.state("q", inner) is None
    db.tree(node("q", job_id="b"), node("q", 0, job_id="a"), node("q", 1, job_id="leaf"))
    # "a" sorts first: cleaning it releases "b", which is waiting now and not cleaned.
    assert db.run(clean, "q", "waiting-children", NOW, 10) == ["a"]
    assert db.state("q", "b") == "waiting"


def test_drain_releases_parents_and_takes_pending_children_in_any_queue(db: Db) -> None:
    went_on, child, far = db.tree(node("kids"), node("kids", 0, on_failure="continue"),
                                  node("far", 0, delay_ms=60_000))
    (taken,) = db.take("kids")
    db.finish("kids", [failed(taken)])
    assert taken.job_id == child
    assert db.state("kids", went_on) == "waiting"
    root, _, delayed = db.tree(node("top"), node("kids", 0), node("kids", 0, delay_ms=60_000))
    assert db.run(drain, "kids", False) == 2
    assert db.state("far", far) is None, "the drained parent took its pending child along"
    assert db.events("far")[-1] == ("removed", far, None)
    assert db.state("top", root) == "waiting-children", "its delayed child is left"
    assert db.run(drain, "kids", True) == 1
    assert db.state("kids", delayed) is None
    assert db.state("top", root) == "waiting"


def test_obliterate_releases_parents_elsewhere_and_takes_children_elsewhere(db: Db) -> None:
    root, _, _ = db.tree(node("top"), node("gone", 0), node("gone", 1))
    parent, far, near = db.tree(node("gone"), node("far", 0), node("gone", 0))
    del parent, near
    assert db.run(obliterate, "gone", False, 2) == 1
    while db.run(obliterate, "gone", False, 2):
        pass
    assert db.state("top", root) == "waiting"
    assert db.state("far", far) is None
    assert db.conn.execute("SELECT count(*) FROM flow_children WHERE queue = 'gone'"
                           ).fetchone() == (0,)
    assert db.conn.execute("SELECT count(*) FROM events WHERE queue = 'gone'").fetchone() == (0,)


# -- the hot path ------------------------------------------------------------------------
@pytest.mark.parametrize("retention", [(-1, -1), (0, 0)])
def test_finishing_jobs_without_parents_costs_no_statement_per_job(
    db: Db, retention: tuple[int, int]
) -> None:
    statements: list[str] = []
    sizes = []
    for n in (5, 40):
        db.run(add, "q", [job() for _ in range(n)], NOW)
        taken = db.take("q", n)
        db.conn.set_trace_callback(statements.append)
        db.finish("q", [done(t, retention=retention) for t in taken])
        db.conn.set_trace_callback(None)
        sizes.append(len(statements))
        assert not any("flow_children" in s and "DELETE" not in s for s in statements)
        statements.clear()
    assert sizes[0] == sizes[1], "a statement per job"


def test_a_garbled_policy_fails_the_parent_as_fail_and_stops_nothing_else(db: Db) -> None:
    root, child, other = db.tree(node("p"), node("c", 0, on_failure="ignore"), node("c", 0))
    db.conn.execute("UPDATE jobs SET on_failure = CAST(x'ff00fe' AS TEXT) WHERE id = ?", (child,))
    first, second = db.take("c")
    result = db.finish("c", [done(second), failed(first)])
    assert result.codes == [0, 0]
    assert db.state("p", root) == "failed", "a policy that names none is `fail`"
    record = reads.get_job(db.conn, "c", child)
    assert record is not None
    assert record.on_failure == "fail"
    assert record.damage is not None
    del other
