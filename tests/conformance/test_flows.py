"""Flows: parents that wait for their children, across queues and to any depth.

A tree is added in one atomic call and runs bottom-up, each parent once, made ready in
the step its last child finishes; a child's failure for good does what its policy says
to its parent; a running handler adds children and waits for them without holding its
worker slot; and the read side (``parent``, ``tree``, ``pending_children``) shows it all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor import (
    Backoff,
    ConfigurationError,
    Dedup,
    FlowNode,
    InvalidOptionsError,
    InvalidStateError,
    Job,
    JobContext,
    JobFailedError,
    JobNotFoundError,
    JobTree,
    Queue,
    SyncJobContext,
    Task,
    WaitForChildren,
    Worker,
    add_flow,
)
from conveyor.backends import from_url
from conveyor.backends.base import Event
from conveyor.worker.outcomes import STALLED_REASON

from .by_hand import fetch, lease, recover
from .helpers import FAST, collect, names_for, read_events, total, until_state

Queues = tuple[Queue, Queue, Queue]


@pytest.fixture
def three(make_queue: Callable[..., Queue]) -> Queues:
    """A parent queue, a middle queue and a leaf queue (named so that they sort so)."""
    return make_queue(), make_queue(), make_queue()


def ref(job: Job[Any]) -> str:
    return f"{job.queue.name}:{job.id}"


def event_of(events: list[Event], job_id: str, name: str) -> Event:
    (found,) = [e for e in events if e.job_id == job_id and e.name == name]
    return found


def failing_and_gated(leaf: Queue, gate: asyncio.Event) -> tuple[Task[int, None], Task[int, int]]:
    """Two leaf handlers: ``boom`` fails at once (no retry); ``slow`` runs until the test
    opens ``gate``, so a sibling is still pending when ``boom``'s failure lands."""

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    @leaf.job(payload=int)
    async def slow(job: JobContext[int]) -> int:
        await asyncio.wait_for(gate.wait(), 10)
        return job.data

    return boom, slow


def seen(job_id: str, name: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(e.job_id == job_id and e.name == name for e in events)


async def burst(*queues: Queue) -> None:
    """Run the queues' jobs until none is left to run (a parent made ready counts)."""
    await asyncio.wait_for(Worker(list(queues), settings=FAST).run_burst(handle_signals=False), 20)


# -- a whole tree ----------------------------------------------------------------------
async def test_a_three_level_tree_runs_bottom_up_and_its_root_once_last(three: Queues) -> None:
    """One call stores the whole tree across three queues; every node gets a handle, and
    each parent runs once, after its children, with their values keyed ``queue:id``."""
    top, mid, leaf = three
    finished: list[str] = []

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        finished.append(f"{job.queue}:{job.id}")
        return job.data**2

    @mid.job(payload=str)
    async def section(job: JobContext[str]) -> dict[str, Any]:
        values = await job.children_values()
        finished.append(f"{job.queue}:{job.id}")
        return {"section": job.data, "squares": sorted(values.values())}

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> dict[str, Any]:
        finished.append(f"{job.queue}:{job.id}")
        return await job.children_values()

    flow = await add_flow(
        report.node(
            None,
            children=[
                section.node("a", children=[square.node(1), square.node(2)]),
                section.node("b", children=[square.node(3)]),
                square.node(4),  # a leaf right under the root, beside whole subtrees
            ],
        )
    )
    a, b, four = flow.children
    jobs = flow.walk()
    assert [len(a.children), len(b.children), len(four.children)] == [2, 1, 0]
    assert [j.queue.name for j in jobs] == [top.name, *[mid.name, leaf.name, leaf.name] * 2], (
        "preorder, children in the order given"
    )
    assert all(j.created for j in jobs)
    assert len({ref(j) for j in jobs}) == 7
    states = ["waiting-children", *["waiting-children", "waiting", "waiting"] * 2]
    assert [j.state for j in jobs] == states, "the handles say what was stored"
    assert [await j.get_state() for j in jobs] == states
    assert [j.parent for j in jobs] == [
        None,
        (top.name, flow.job.id),
        (mid.name, a.job.id),
        (mid.name, a.job.id),
        (top.name, flow.job.id),
        (mid.name, b.job.id),
        (top.name, flow.job.id),
    ]

    async with Worker([top, mid, leaf], settings=FAST):
        result = await flow.job.wait(timeout=10)

    l1, l2 = a.children
    assert result == {
        ref(a.job): {"section": "a", "squares": [1, 4]},
        ref(b.job): {"section": "b", "squares": [9]},
        ref(four.job): 16,
    }
    assert await a.job.children_values() == {ref(l1.job): 1, ref(l2.job): 4}
    assert finished[-1] == ref(flow.job), "the root ran last"
    assert sorted(finished) == sorted(ref(j) for j in jobs), "every job ran exactly once"
    for parent in (a, b):
        after = finished.index(ref(parent.job))
        assert all(finished.index(ref(c.job)) < after for c in parent.children)
    assert (await top.counts())["completed"] == 1


async def test_the_parent_is_ready_in_the_step_its_last_child_finishes(three: Queues) -> None:
    """No worker of the parent's queue runs (it is paused): the parent moves to waiting
    only because the step that finished its last child moved it, with a ``waiting``
    event whose ``prev`` is ``waiting-children``."""
    top, mid, leaf = three

    @leaf.job("square", payload=int)
    async def square_leaf(job: JobContext[int]) -> int:
        return job.data**2

    @mid.job("square", payload=int)
    async def square_mid(job: JobContext[int]) -> int:
        return job.data**2

    await top.pause()
    flow = await add_flow(
        FlowNode(top, "report", children=[square_leaf.node(2), square_mid.node(3)])
    )
    root, first, last = flow.walk()

    await burst(leaf)
    assert await first.get_state() == "completed"
    assert await root.get_state() == "waiting-children", "one child is still pending"
    assert await root.pending_children() == [ref(last)]
    assert await root.children_values() == {ref(first): 4}

    await burst(mid)
    assert await last.get_state() == "completed"
    # ready as its last child completed (``waiting`` reads ``paused`` in a paused queue)
    assert await root.get_state() == "paused"
    assert await root.pending_children() == []
    assert await root.children_values() == {ref(first): 4, ref(last): 9}
    assert (await top.counts())["paused"] == 1
    events = await read_events(top, stop=seen(root.id, "waiting"))
    assert event_of(events, root.id, "waiting").fields.get("prev") == "waiting-children"
    assert names_for(events, root.id)[0] == "added"


# -- failure policies ------------------------------------------------------------------
async def test_a_failing_child_fails_its_parent_and_the_failure_climbs(three: Queues) -> None:
    """Under ``fail`` (the default) the parent fails without running, its reason naming
    the child and the child's reason, and so does the grandparent, naming the parent —
    even while another of its children is still pending."""
    top, mid, leaf = three
    ran: list[str] = []

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        return job.data**2

    @mid.job(payload=str)
    async def section(job: JobContext[str]) -> None:
        ran.append(job.data)

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> None:
        ran.append("report")

    flow = await add_flow(
        report.node(
            None,
            children=[
                section.node("a", children=[boom.node(1)]),
                square.node(5, delay=60),  # pending all along
            ],
        )
    )
    root, parent, child, sibling = flow.walk()
    async with (
        top.events(after="0") as top_events,
        Worker([top, mid, leaf], settings=FAST),
    ):
        with pytest.raises(JobFailedError) as failed:
            await root.wait(timeout=10)
        events = await collect(top_events, seen(root.id, "failed"))

    await child.refresh()
    await parent.refresh()
    assert child.failed_reason == "RuntimeError: boom 1"
    assert parent.state == "failed"
    assert parent.failed_reason == f"child {leaf.name}:{child.id} failed: RuntimeError: boom 1"
    reason = f"child {mid.name}:{parent.id} failed: {parent.failed_reason}"
    assert failed.value.reason == reason
    assert event_of(events, root.id, "failed").fields.get("reason") == reason
    assert ran == [], "no parent ran"
    assert await sibling.get_state() == "delayed"
    assert await root.children_failures() == {ref(parent): parent.failed_reason}


async def test_ignore_lists_the_failure_and_waits_for_the_rest(three: Queues) -> None:
    """An ``ignore`` child's failure leaves its parent waiting for the others; the
    parent then runs and reads both the values and the failure."""
    top, _, leaf = three
    gate = asyncio.Event()

    boom, slow = failing_and_gated(leaf, gate)

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> dict[str, Any]:
        return {"values": await job.children_values(), "failures": await job.children_failures()}

    flow = await add_flow(
        report.node(None, children=[boom.node(1, on_failure="ignore"), slow.node(2)])
    )
    root, bad, good = flow.walk()
    async with Worker([top, leaf], settings=FAST):
        await until_state(bad, "failed")
        assert await root.get_state() == "waiting-children"
        assert await root.children_failures() == {ref(bad): "RuntimeError: boom 1"}
        assert await root.pending_children() == [ref(good)]
        gate.set()
        result = await root.wait(timeout=10)
    assert result == {"values": {ref(good): 2}, "failures": {ref(bad): "RuntimeError: boom 1"}}


async def test_continue_makes_the_parent_run_before_the_others_finish(three: Queues) -> None:
    """A ``continue`` child's failure makes the parent ready at once: it runs (and
    completes) while its other child is still running, and that child still finishes."""
    top, _, leaf = three
    gate = asyncio.Event()
    pending_when_run: list[list[str]] = []

    boom, slow = failing_and_gated(leaf, gate)

    flow = await add_flow(
        FlowNode(top, "report", children=[boom.node(1, on_failure="continue"), slow.node(2)])
    )
    root, bad, good = flow.walk()

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> dict[str, str]:
        pending_when_run.append(await root.pending_children())
        return await job.children_failures()

    async with Worker([top, leaf], settings=FAST):
        assert await root.wait(timeout=10) == {ref(bad): "RuntimeError: boom 1"}
        assert await good.get_state() in ("waiting", "active"), "the parent did not wait"
        gate.set()
        assert await good.wait(timeout=10) == 2
    assert pending_when_run == [[ref(good)]]


async def test_remove_forgets_the_failed_child(three: Queues) -> None:
    """A ``remove`` child's failure drops the dependency as if it had never been added:
    the parent runs after the rest, and lists no failure."""
    top, _, leaf = three

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        return job.data**2

    @top.job(payload=type(None))
    async def report(job: JobContext[None]) -> dict[str, Any]:
        return {"values": await job.children_values(), "failures": await job.children_failures()}

    flow = await add_flow(
        report.node(None, children=[boom.node(1, on_failure="remove"), square.node(3)])
    )
    root, bad, good = flow.walk()
    await burst(top, leaf)
    assert await bad.get_state() == "failed"
    assert root.on_failure == "fail"
    assert await root.wait(timeout=1) == {"values": {ref(good): 9}, "failures": {}}
    assert await root.children_failures() == {}


async def test_a_child_that_stalls_too_often_settles_its_parent(three: Queues) -> None:
    """A child failed by the stalled check (``max_stalled``) fails its ``fail`` parent
    with the stall reason; that parent, an ``ignore`` child, leaves the root ready."""
    top, mid, leaf = three
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[
                FlowNode(mid, "section", children=[FlowNode(leaf, "fetch")], on_failure="ignore"),
            ],
        )
    )
    root, parent, child = flow.walk()
    for stalls in (1, 2):
        dead = lease("dead")
        assert len(await fetch(leaf, dead)) == 1
        await leaf.backend.release_lease(leaf.name, dead)
        recovered, failed = await recover(leaf, max_stalled=1)
        if stalls == 1:
            assert recovered == [child.id]
            assert await parent.get_state() == "waiting-children", "one stall is allowed"
    assert failed == [child.id]
    await parent.refresh()
    assert parent.failed_reason == f"child {ref(child)} failed: {STALLED_REASON}"
    assert await root.get_state() == "waiting", "its only child failed under ignore"
    assert await root.children_failures() == {ref(parent): parent.failed_reason}


# -- a handler adds children -----------------------------------------------------------
async def test_a_handler_waits_for_the_children_it_added_without_its_slot(
    three: Queues,
) -> None:
    """The parent's queue runs one job at a time: the job that the parent added while it
    ran can only run, and let the children finish, if waiting freed the slot. The parent
    then runs again with the step it stored, on the same attempt count."""
    top, _, leaf = three
    gate = asyncio.Event()
    steps: list[Any] = []
    parent_state_meanwhile: list[str] = []

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        await asyncio.wait_for(gate.wait(), 10)  # children end only after `meanwhile` ran
        return job.data**2

    @top.job(payload=dict)
    async def fan_out(job: JobContext[dict[str, Any]]) -> int:
        steps.append(job.data.get("step"))
        if job.data.get("step") is None:
            added = await job.add_children([square.node(n) for n in (1, 2, 3)])
            assert [f.job.created for f in added] == [True, True, True]
            await top.add("meanwhile", job.id)
            raise WaitForChildren(data={**job.data, "step": "sum"})
        return sum((await job.children_values()).values())

    @top.job(payload=str)
    async def meanwhile(job: JobContext[str]) -> None:
        parent = await top.get_job(job.data)
        assert parent is not None
        parent_state_meanwhile.append(parent.state)
        gate.set()

    job = await fan_out.add({"n": 3})
    settings = dataclasses.replace(FAST, queue_concurrency={top.name: 1})
    async with top.events(after="0") as stream, Worker([top, leaf], settings=settings):
        assert await job.wait(timeout=15) == 14
        events = await collect(stream, seen(job.id, "completed"))
    assert steps == [None, "sum"]
    assert parent_state_meanwhile == ["waiting-children"]
    await job.refresh()
    assert (job.data, job.attempts_made) == ({"n": 3, "step": "sum"}, 1)
    assert names_for(events, job.id) == [
        "added",
        "active",
        "waiting-children",
        "waiting",
        "active",
        "completed",
    ]
    assert event_of(events, job.id, "waiting").fields.get("prev") == "waiting-children"


async def test_waiting_with_no_child_pending_runs_again_at_once(queue: Queue) -> None:
    """``WaitForChildren`` with nothing pending puts the job straight back in line
    (``waiting`` from ``active``), with its new data."""
    steps: list[Any] = []

    @queue.job(payload=dict)
    async def stepper(job: JobContext[dict[str, int]]) -> dict[str, int]:
        steps.append(job.data["step"])
        if job.data["step"] == 0:
            raise WaitForChildren(data={"step": 1})
        return job.data

    job = await stepper.add({"step": 0})
    async with queue.events(after="0") as stream, Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == {"step": 1}
        events = await collect(stream, seen(job.id, "completed"))
    assert steps == [0, 1]
    names = names_for(events, job.id)
    assert "waiting-children" not in names
    assert event_of(events, job.id, "waiting").fields.get("prev") == "active"


async def test_a_fail_child_that_failed_while_the_parent_ran_fails_it_at_its_wait(
    three: Queues,
) -> None:
    """The child fails while the parent still runs; the parent's ``WaitForChildren``
    then fails it with the child's reason (its new data stored in the same step)."""
    top, _, leaf = three
    runs: list[int] = []

    @leaf.job(payload=int)
    async def boom(job: JobContext[int]) -> None:
        raise RuntimeError(f"boom {job.data}")

    @top.job(payload=dict)
    async def waits_late(job: JobContext[dict[str, Any]]) -> None:
        runs.append(job.attempts_made)
        (child,) = await job.add_children([boom.node(7)])
        await until_state(child.job, "failed")
        raise WaitForChildren(data={"step": "never"})

    job = await waits_late.add({}, attempts=3)
    async with Worker([top, leaf], settings=FAST):
        with pytest.raises(JobFailedError) as failed:
            await job.wait(timeout=10)
    (child_ref,) = (await job.children_failures()).keys()
    assert child_ref.startswith(f"{leaf.name}:")
    assert failed.value.reason == f"child {child_ref} failed: RuntimeError: boom 7"
    assert runs == [0], "a child's failure is not retried by the parent's attempts"
    await job.refresh()
    assert job.data == {"step": "never"}


async def test_a_continue_child_that_failed_while_the_parent_ran_resumes_it(
    three: Queues,
) -> None:
    """A ``continue`` child that failed while the parent ran sends the parent's wait
    straight back in line, although its other child is still pending."""
    top, _, leaf = three
    gate = asyncio.Event()
    pending_on_second_run: list[list[str]] = []

    boom, slow = failing_and_gated(leaf, gate)

    @top.job(payload=dict)
    async def parent(job: JobContext[dict[str, int]]) -> dict[str, str]:
        if job.data["step"] == 0:
            bad, _ = await job.add_children([boom.node(1, on_failure="continue"), slow.node(2)])
            await until_state(bad.job, "failed")
            raise WaitForChildren(data={"step": 1})
        handle = await top.get_job(job.id)
        assert handle is not None
        pending_on_second_run.append(await handle.pending_children())
        return await job.children_failures()

    job = await parent.add({"step": 0})
    async with Worker([top, leaf], settings=FAST):
        failures = await job.wait(timeout=10)
        gate.set()
    assert len(failures) == 1
    assert list(failures.values()) == ["RuntimeError: boom 1"]
    ((slow_ref,),) = pending_on_second_run
    assert slow_ref.startswith(f"{leaf.name}:")


async def test_a_plain_def_handler_adds_children_and_reads_their_values(
    three: Queues,
) -> None:
    """The blocking twins of ``add_children`` and ``children_values`` in a thread."""
    top, _, leaf = three

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        return job.data**2

    @top.job(payload=dict)
    def threaded(job: SyncJobContext[dict[str, int]]) -> dict[str, Any]:
        if job.data["step"] == 0:
            job.add_children([square.node(4), square.node(5)])
            raise WaitForChildren(data={"step": 1})
        return {"values": job.children_values(), "failures": job.children_failures()}

    job = await threaded.add({"step": 0})
    async with Worker([top, leaf], settings=FAST):
        result = await job.wait(timeout=10)
    assert sorted(result["values"].values()) == [16, 25]
    assert all(key.startswith(f"{leaf.name}:") for key in result["values"])
    assert result["failures"] == {}


# -- adding twice ----------------------------------------------------------------------
async def test_a_flow_whose_root_exists_adds_nothing(three: Queues) -> None:
    """``add_flow`` with a root id that exists returns that job (created False) and adds
    none of the new subtree; a new root whose only child exists is ready at once."""
    top, mid, leaf = three
    first = await add_flow(
        FlowNode(
            top,
            "report",
            {"v": 1},
            job_id="report-7",
            children=[FlowNode(leaf, "square", 1), FlowNode(leaf, "square", 2)],
        )
    )
    again = await add_flow(
        FlowNode(
            top,
            "report",
            {"v": 2},
            job_id="report-7",
            children=[FlowNode(leaf, "square", 3, children=[FlowNode(mid, "x")])],
        )
    )
    assert first.job.created
    assert (again.job.created, again.job.id, again.job.data) == (False, "report-7", {"v": 1})
    assert again.children == []
    assert total(await leaf.counts()) == 2
    assert total(await mid.counts()) == 0
    assert len(await first.job.pending_children()) == 2

    other = await add_flow(
        FlowNode(top, "other", children=[FlowNode(top, "report", {"v": 3}, job_id="report-7")])
    )
    (existing,) = other.children
    handle_state = other.job.state
    assert (existing.job.created, existing.job.id) == (False, "report-7")
    assert await other.job.pending_children() == []
    assert await other.job.get_state() == "waiting", "no child of its own is pending"
    adopted = await top.get_job("report-7")
    assert adopted is not None
    assert adopted.parent is None, "an existing job is not made a child"
    assert total(await leaf.counts()) == 2
    assert handle_state == "waiting", "the handle says what was stored"


async def test_adding_children_with_ids_twice_adds_each_once(three: Queues) -> None:
    """A run that fails after adding its children runs again and adds them again: with
    ids of its own each child is stored once, runs once, and its value is there."""
    top, _, leaf = three
    square_runs: list[int] = []
    created: list[list[bool | None]] = []

    @leaf.job(payload=int)
    async def square(job: JobContext[int]) -> int:
        square_runs.append(job.data)
        return job.data**2

    @top.job(payload=dict)
    async def fan_out(job: JobContext[dict[str, Any]]) -> dict[str, Any]:
        if job.data.get("step") is None:
            added = await job.add_children(
                [square.node(n, job_id=f"{job.id}-sq-{n}") for n in (1, 2, 3)]
            )
            created.append([f.job.created for f in added])
            if job.attempts_made == 0:
                raise RuntimeError("cut short after adding")
            raise WaitForChildren(data={"step": "sum"})
        return await job.children_values()

    job = await fan_out.add({}, attempts=2, backoff=Backoff.fixed(0.05))
    async with Worker([top, leaf], settings=FAST):
        values = await job.wait(timeout=10)
    assert created == [[True, True, True], [False, False, False]]
    assert values == {f"{leaf.name}:{job.id}-sq-{n}": n * n for n in (1, 2, 3)}
    assert sorted(square_runs) == [1, 2, 3]
    assert total(await leaf.counts()) == 3


# -- refusals --------------------------------------------------------------------------
async def test_refused_flows_store_nothing(three: Queues, backend_url: str, tmp_path: Path) -> None:
    """Dedup on a node, a delay on a parent, an unknown policy and a node on another
    backend are refused before anything is stored, with errors that say why."""
    top, mid, leaf = three

    def tree(child: FlowNode) -> FlowNode:
        return FlowNode(top, "report", children=[FlowNode(mid, "section", children=[child])])

    with pytest.raises(InvalidOptionsError, match="dedup"):
        await add_flow(tree(FlowNode(leaf, "x", options={"dedup": Dedup.throttle("k")})))
    with pytest.raises(InvalidOptionsError, match="delayed"):
        await add_flow(
            FlowNode(top, "report", options={"delay": 5}, children=[FlowNode(leaf, "x")])
        )
    with pytest.raises(InvalidOptionsError, match="on_failure"):
        await add_flow(tree(FlowNode(leaf, "x", on_failure="explode")))  # type: ignore[arg-type]
    other_url = (
        f"sqlite:///{tmp_path / 'other.db'}"
        if backend_url.startswith("sqlite")
        else backend_url.rsplit("/", 1)[0] + "/1"
    )
    other = Queue(leaf.name, backend=from_url(other_url))
    try:
        with pytest.raises(ConfigurationError, match="one backend"):
            await add_flow(tree(FlowNode(other, "x")))
        assert total(await other.counts()) == 0
    finally:
        await other.close()
    for q in three:
        assert total(await q.counts()) == 0, f"nothing stored in {q.name}"

    flow = await add_flow(
        FlowNode(top, "report", children=[FlowNode(leaf, "x", options={"delay": 60})])
    )
    assert [await j.get_state() for j in flow.walk()] == ["waiting-children", "delayed"], (
        "a delayed leaf is fine"
    )


async def test_adding_children_to_a_finished_or_missing_job_is_refused(
    three: Queues,
) -> None:
    """A context kept past its run cannot add children: the job finished
    (``InvalidStateError``) or is gone (``JobNotFoundError``); nothing is stored."""
    top, _, leaf = three
    kept: list[JobContext[None]] = []

    @top.job(payload=type(None))
    async def keep(job: JobContext[None]) -> None:
        kept.append(job)

    job = await keep.add(None)
    async with Worker(top, settings=FAST):
        await job.wait(timeout=10)
    (context,) = kept
    with pytest.raises(InvalidStateError) as finished:
        await context.add_children([FlowNode(leaf, "square", 1)])
    assert (finished.value.queue, finished.value.job_id) == (top.name, job.id)
    await job.remove()
    with pytest.raises(JobNotFoundError) as missing:
        await context.add_children([FlowNode(leaf, "square", 1)])
    assert missing.value.job_id == job.id
    assert total(await leaf.counts()) == 0


# -- reading a flow --------------------------------------------------------------------
def shape(tree: JobTree) -> tuple[str, str, list[Any]]:
    return (tree.ref, tree.state, [shape(c) for c in tree.children])


async def test_parent_tree_and_pending_children_show_the_flow(three: Queues) -> None:
    """Handles name their parent and policy; ``tree`` lists children by queue, then by
    numeric id (11 of them: 10 sorts after 9); a missing id is an error."""
    top, mid, leaf = three
    leaves = [FlowNode(leaf, "square", n, on_failure="ignore") for n in range(11)]
    flow = await add_flow(
        FlowNode(
            top,
            "report",
            children=[*leaves, FlowNode(mid, "section", children=[FlowNode(leaf, "square", 99)])],
        )
    )
    root = flow.job
    *direct, section = flow.children
    (deep,) = section.children
    assert [int(c.job.id) for c in direct] == list(range(1, 12))

    handle = direct[0].job
    stored = await leaf.get_job(handle.id)
    assert stored is not None
    assert (stored.parent, stored.on_failure) == ((top.name, root.id), "ignore")
    assert root.parent is None
    assert await root.get_parent() is None
    parent = await stored.get_parent()
    assert parent is not None
    assert (parent.id, parent.state) == (root.id, "waiting-children")
    grandchild = await leaf.get_job(deep.job.id)
    assert grandchild is not None
    parent = await grandchild.get_parent()
    assert parent is not None
    assert (parent.queue.name, parent.id) == (mid.name, section.job.id)

    assert await root.pending_children() == sorted([ref(c.job) for c in flow.children])
    assert await section.job.pending_children() == [ref(deep.job)]
    tree = await top.tree(root.id)
    assert shape(tree) == (
        ref(root),
        "waiting-children",
        [
            (ref(section.job), "waiting-children", [(ref(deep.job), "waiting", [])]),
            *[(ref(c.job), "waiting", []) for c in direct],
        ],
    )
    assert shape(await root.tree()) == shape(tree)
    assert tree.job is not None
    assert tree.job.id == root.id
    with pytest.raises(JobNotFoundError):
        await top.tree("no-such-job")
    assert shape(await leaf.tree(deep.job.id)) == (ref(deep.job), "waiting", [])
    assert (handle.parent, handle.on_failure) == ((top.name, root.id), "ignore"), (
        "the add's handle knows its parent and policy"
    )
