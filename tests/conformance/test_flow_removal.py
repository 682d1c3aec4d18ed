"""Removing jobs of a flow: remove, clean, drain, obliterate and retention leave no parent
waiting for a child that is gone and no unfinished child whose parent forgot it.

A parent goes with its pending subtree (in any queue), never while a job of that subtree
runs; an unfinished child that goes releases its parent; values outlive trimmed children.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from conveyor import (
    FlowNode,
    InvalidStateError,
    Job,
    JobContext,
    JobState,
    Queue,
    Task,
    WaitForChildren,
    Worker,
    add_flow,
)
from conveyor.backends.base import Event

from .helpers import FAST, has, read_events, total, until_state

Queues = tuple[Queue, Queue, Queue]
UNFINISHED: tuple[JobState, ...] = ("waiting", "prioritized", "delayed", "waiting-children")
AT_ONCE = dataclasses.replace(FAST, grace=0)
"""For workers running a gated job: an assertion that fails before the gate opens stops
the job at once rather than waiting out the grace period."""


@pytest.fixture
def three(make_queue: Callable[..., Queue]) -> Queues:
    """A parent queue, a middle queue and a leaf queue."""
    return make_queue(), make_queue(), make_queue()


def ref(job: Job[Any]) -> str:
    return f"{job.queue.name}:{job.id}"


async def stored(*jobs: Job[Any]) -> list[str]:
    """Those of ``jobs`` still stored, as ``queue:id state`` (empty: all gone)."""
    left = []
    for job in jobs:
        found = await job.queue.get_job(job.id)
        if found is not None:
            left.append(f"{ref(job)} {found.state}")
    return left


async def assert_settled(*queues: Queue) -> None:
    """No parent is stuck (waiting for no child, or for one that is gone or finished)
    and no unfinished job is an orphan (its parent gone, or no longer waiting for it)."""
    by_name = {q.name: q for q in queues}
    for queue in queues:
        for state in UNFINISHED:
            for job in await queue.get_jobs(state, limit=1000):
                if state == "waiting-children":
                    pending = await job.pending_children()
                    assert pending, f"{ref(job)} waits in waiting-children for no child"
                    for child_ref in pending:
                        name, _, child_id = child_ref.partition(":")
                        child = await by_name[name].get_job(child_id)
                        assert child is not None, f"{ref(job)} waits for {child_ref}, gone"
                        assert child.state not in ("completed", "failed"), child_ref
                if job.parent is not None:
                    parent = await job.get_parent()
                    assert parent is not None, f"{ref(job)} is an orphan"
                    assert ref(job) in await parent.pending_children(), f"{ref(job)} forgotten"


def gated(queue: Queue, gate: asyncio.Event) -> Task[int, int]:
    """A leaf handler that runs until the test opens ``gate``: a job of a subtree that
    stays active as long as the test needs."""

    @queue.job(payload=int)
    async def busy(job: JobContext[int]) -> int:
        await asyncio.wait_for(gate.wait(), 10)
        return job.data

    return busy


def removed(job_ids: list[str]) -> Callable[[list[Event]], bool]:
    return lambda events: set(job_ids) <= {e.job_id for e in events if e.name == "removed"}


# -- remove ----------------------------------------------------------------------------
async def test_removing_a_parent_removes_its_pending_subtree_in_every_queue(
    three: Queues,
) -> None:
    """The parent, its pending child and that child's pending children (two more queues)
    go in one call, each with a ``removed`` event in its own queue; a finished child
    stays, naming a parent that is gone."""
    top, mid, leaf = three

    @mid.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        return job.data**2

    mid.declare("section")
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                square.node(3),
                FlowNode(
                    mid,
                    "section",
                    children=[
                        FlowNode(leaf, "fetch", 1),
                        FlowNode(leaf, "fetch", 2, options={"priority": 2}),
                    ],
                ),
            ],
        )
    )
    root, done, section, x, y = flow.walk()
    async with Worker(mid, settings=FAST):  # runs `done`; `section` waits for its own
        assert await done.wait(timeout=10) == 9
    assert await root.pending_children() == [ref(section)]

    await top.remove(root.id)
    assert await stored(root, section, x, y) == []
    await read_events(mid, stop=removed([section.id]))
    await read_events(leaf, stop=removed([x.id, y.id]))
    await done.refresh()
    assert (done.state, done.result, done.parent) == ("completed", 9, (top.name, root.id))
    assert await done.get_parent() is None
    assert total(await leaf.counts()) == 0
    await assert_settled(top, mid, leaf)


async def test_removing_an_unfinished_child_releases_its_parent(three: Queues) -> None:
    """A child removed before it ran is dropped from its parent's pending children, and
    the last one to go makes the parent ready, with nothing recorded for either."""
    top, mid, leaf = three
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(mid, "a"),
                FlowNode(leaf, "b", options={"delay": 60}),
            ],
        )
    )
    root, a, b = flow.walk()
    await leaf.remove(b.id)
    assert await root.get_state() == "waiting-children"
    assert await root.pending_children() == [ref(a)]
    await assert_settled(top, mid, leaf)

    await mid.remove(a.id)
    assert await root.get_state() == "waiting"
    assert await root.pending_children() == []
    assert (await root.children_values(), await root.children_failures()) == ({}, {})
    events = await read_events(top, stop=has("waiting", job_id=root.id))
    (ready,) = [e for e in events if e.name == "waiting" and e.job_id == root.id]
    assert ready.fields.get("prev") == "waiting-children"
    await assert_settled(top, mid, leaf)


async def test_nothing_is_removed_while_a_job_of_the_pending_subtree_runs(
    three: Queues,
) -> None:
    """Removing the root or the middle parent while a grandchild runs is refused and
    changes nothing; once that grandchild finished, the root goes with what is pending."""
    top, mid, leaf = three
    gate = asyncio.Event()
    busy = gated(leaf, gate)
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(mid, "section", children=[busy.node(1), busy.node(2, delay=60)]),
            ],
        )
    )
    root, section, running, later = flow.walk()
    async with Worker(leaf, settings=AT_ONCE):
        await until_state(running, "active")
        with pytest.raises(InvalidStateError) as refused:
            await top.remove(root.id)
        assert (refused.value.queue, refused.value.job_id) == (top.name, root.id)
        with pytest.raises(InvalidStateError):
            await mid.remove(section.id)
        states = [await j.get_state() for j in flow.walk()]
        assert states == ["waiting-children", "waiting-children", "active", "delayed"]
        assert await section.pending_children() == sorted([ref(running), ref(later)])

        gate.set()
        assert await running.wait(timeout=10) == 1
        await top.remove(root.id)
    assert await stored(root, section, later) == []
    assert await running.get_state() == "completed"
    await assert_settled(top, mid, leaf)


# -- clean -----------------------------------------------------------------------------
async def test_clean_waiting_children_skips_parents_with_a_running_descendant(
    three: Queues,
) -> None:
    """``clean("waiting-children")`` removes a parent with its pending children in two
    other queues, and leaves a parent whose child is running."""
    top, mid, leaf = three
    gate = asyncio.Event()
    busy = gated(leaf, gate)
    idle = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                busy.node(1, delay=60),
                FlowNode(mid, "section", children=[busy.node(2, delay=60)]),
            ],
        )
    )
    held = await add_flow(FlowNode(top, "report", children=[busy.node(3)]))
    (running,) = held.children
    async with Worker(leaf, settings=AT_ONCE):
        await until_state(running.job, "active")
        assert await top.clean("waiting-children") == [idle.job.id]
        assert await stored(*idle.walk()) == []
        assert await held.job.get_state() == "waiting-children"
        gate.set()
        assert await running.job.wait(timeout=10) == 3
    assert await held.job.get_state() == "waiting"
    assert total(await mid.counts()) == 0
    await assert_settled(top, mid, leaf)


async def test_cleaning_children_releases_their_parent_in_another_queue(
    three: Queues,
) -> None:
    """Children cleaned from their own queues (waiting, a middle parent with its own
    pending child, delayed) leave the root's pending list one by one; the last makes it
    ready."""
    top, mid, leaf = three
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(leaf, "w"),
                FlowNode(leaf, "d", options={"delay": 60}),
                FlowNode(mid, "section", children=[FlowNode(leaf, "z", options={"delay": 60})]),
            ],
        )
    )
    root, w, d, section, z = flow.walk()
    assert await leaf.clean("waiting") == [w.id]
    assert await root.pending_children() == sorted([ref(d), ref(section)])
    assert await mid.clean("waiting-children") == [section.id]
    assert await stored(section, z) == [], "the middle parent went with its pending child"
    assert await root.pending_children() == [ref(d)]
    assert await root.get_state() == "waiting-children"
    await assert_settled(top, mid, leaf)

    assert await leaf.clean("delayed") == [d.id]
    assert await root.get_state() == "waiting"
    assert (await root.children_values(), await root.children_failures()) == ({}, {})
    await assert_settled(top, mid, leaf)


# -- drain -----------------------------------------------------------------------------
async def test_drain_releases_the_parent_of_drained_children(three: Queues) -> None:
    """Draining the children's queue releases their parent in another queue: waiting and
    prioritized children first, the delayed one only with ``include_delayed``."""
    top, _, leaf = three
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(leaf, "a"),
                FlowNode(leaf, "b", options={"priority": 3}),
                FlowNode(leaf, "c", options={"delay": 60}),
            ],
        )
    )
    root, _, _, c = flow.walk()
    assert await leaf.drain() == 2
    assert await root.pending_children() == [ref(c)]
    assert await root.get_state() == "waiting-children"
    await assert_settled(top, leaf)
    assert await leaf.drain(include_delayed=True) == 1
    assert await root.get_state() == "waiting"
    assert (await root.children_values(), await root.children_failures()) == ({}, {})
    await assert_settled(top, leaf)


@pytest.mark.parametrize("how", ["drain", "clean", "obliterate"])
async def test_a_parent_that_went_on_takes_its_pending_child_with_it(
    three: Queues, how: str
) -> None:
    """A parent made ready by a ``continue`` failure waits in line with a child still
    pending in another queue; draining, cleaning (``waiting``) or obliterating the
    parent's queue removes that child too instead of leaving it an orphan."""
    top, mid, leaf = three

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    flow = await add_flow(
        FlowNode(
            top, "report", children=[boom.node(1, on_failure="continue"), FlowNode(mid, "other")]
        )
    )
    parent, _, other = flow.walk()
    await asyncio.wait_for(Worker(leaf, settings=FAST).run_burst(handle_signals=False), 10)
    assert await parent.get_state() == "waiting", "it went on with a child pending"
    assert await parent.pending_children() == [ref(other)]
    if how == "drain":
        assert await top.drain() == 1
    elif how == "clean":
        assert await top.clean("waiting") == [parent.id]
    else:
        await top.obliterate()
    assert await stored(parent, other) == []
    await assert_settled(top, mid, leaf)


# -- obliterate ------------------------------------------------------------------------
async def test_obliterating_the_queues_of_children_releases_their_parent(
    three: Queues,
) -> None:
    top, mid, leaf = three
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(leaf, "c1"),
                FlowNode(leaf, "c2", options={"delay": 60}),
                FlowNode(mid, "m"),
            ],
        )
    )
    root, *_, m = flow.walk()
    await leaf.obliterate()
    assert await root.pending_children() == [ref(m)]
    assert await root.get_state() == "waiting-children"
    await mid.obliterate()
    assert await root.get_state() == "waiting"
    await assert_settled(top, mid, leaf)


async def test_obliterating_a_queue_of_parents_removes_their_children_elsewhere(
    three: Queues,
) -> None:
    """The parents' queue goes: their pending children in two other queues go with it,
    except one that runs, which then completes without bringing its parent back."""
    top, mid, leaf = three
    gate = asyncio.Event()
    busy = gated(leaf, gate)
    deep = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(mid, "section", children=[busy.node(1, delay=60), busy.node(2, delay=60)]),
            ],
        )
    )
    held = await add_flow(FlowNode(top, "report", children=[busy.node(3)]))
    parent, (running,) = held.job, held.children
    async with Worker(leaf, settings=AT_ONCE):
        await until_state(running.job, "active")
        await top.obliterate()
        assert await stored(*deep.walk(), parent) == []
        assert total(await mid.counts()) == 0
        assert (await leaf.counts())["active"] == 1
        gate.set()
        assert await running.job.wait(timeout=10) == 3
    assert total(await top.counts()) == 0
    assert await top.get_job(parent.id) is None
    assert total(await leaf.counts()) == 1
    left = await top.backend.get_children(top.name, parent.id)
    assert (left.pending, left.values, left.failures) == ([], {}, {}), "nothing recreated"
    await assert_settled(top, mid, leaf)


# -- retention -------------------------------------------------------------------------
async def test_values_outlive_children_trimmed_by_retention(three: Queues) -> None:
    """Children removed as they finish leave their values and reasons on the parent (the
    tree shows them missing); the parent removed as it finishes takes them with it."""
    top, _, leaf = three
    seen: list[Any] = []

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        return job.data**2

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> dict[str, Any]:
        tree = await top.tree(job.id)
        seen.append([(child.state, child.job) for child in tree.children])
        return {"values": await job.children_values(), "failures": await job.children_failures()}

    flow = await add_flow(
        report.node(
            None,
            remove_on_complete=True,
            children=[
                square.node(2, remove_on_complete=True),
                square.node(3, remove_on_complete=True),
                boom.node(4, on_failure="ignore", remove_on_fail=True),
            ],
        )
    )
    root, two, three_, four = flow.walk()
    async with Worker([top, leaf], settings=FAST):
        result = await root.wait(timeout=10)
    assert result == {
        "values": {ref(two): 4, ref(three_): 9},
        "failures": {ref(four): "RuntimeError: boom 4"},
    }
    assert seen == [[("missing", None)] * 3]
    assert total(await leaf.counts()) == 0
    assert total(await top.counts()) == 0
    left = await top.backend.get_children(top.name, root.id)
    assert (left.pending, left.values, left.failures) == ([], {}, {}), "deleted with it"


async def test_clean_leaves_a_parent_that_an_earlier_cleaned_child_made_ready(
    three: Queues,
) -> None:
    """A child and its parent both wait for children in one queue, the child first in
    line: cleaning the child makes the parent ready, and the same clean must not then
    delete the parent as if it were still waiting (it would leave its id in the wait
    list with no record behind it)."""
    top, _, leaf = three
    await leaf.pause()  # the grandchild never runs
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            job_id="zz-parent",
            children=[
                FlowNode(top, "section", job_id="aa-child", children=[FlowNode(leaf, "page")])
            ],
        )
    )
    (child,) = flow.children
    assert await top.clean("waiting-children") == [child.job.id]
    assert await flow.job.get_state() == "waiting"
    assert [job.id for job in await top.get_jobs("waiting")] == ["zz-parent"]
    assert total(await leaf.counts()) == 0
    await assert_settled(top, leaf)


async def test_a_rerun_does_not_add_again_a_child_trimmed_after_it_finished(
    three: Queues,
) -> None:
    """A handler that runs again and adds the same children (ids of its own) must not run
    one that already finished and was trimmed by retention: its parent remembers it."""
    top, _, leaf = three
    ran: list[str] = []
    second_add: list[int] = []

    @leaf.job(payload=int)
    async def page(job: JobContext[int]) -> int:
        ran.append(job.id)
        return job.data * 2

    @top.job(payload=dict)
    async def report(job: JobContext[dict[str, Any]]) -> dict[str, Any]:
        children = [page.node(7, job_id=f"{job.id}-page", remove_on_complete=True)]
        added = await job.add_children(children)
        if job.data.get("step") is None:
            raise WaitForChildren(data={"step": "again"})
        second_add.append(len(added))
        return await job.children_values()

    parent = await top.add("report", {})
    await asyncio.wait_for(
        Worker([top, leaf], settings=FAST).run_burst(handle_signals=False), 20
    )
    assert await parent.wait(5) == {f"{leaf.name}:{parent.id}-page": 14}
    assert ran == [f"{parent.id}-page"]
    assert second_add == [0]
    assert await leaf.get_job(f"{parent.id}-page") is None  # trimmed, not added again
