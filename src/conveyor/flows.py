"""Flows: a parent job and its children, across queues and to any depth.

A parent waits in ``waiting-children`` without holding a worker slot and without polling:
the atomic step that finishes its last child makes it ready. It then reads what its
children returned (``await job.children_values()``). A tree is added in one atomic call
(:func:`add_flow`), and a running handler can add children of its own and end its run
waiting for them (``job.add_children`` and ``raise WaitForChildren``). See
``docs/flows.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from .backends.base import AddResult, Children, OnFailure, TreeNode, node_ref, split_ref
from .errors import ConfigurationError, InvalidOptionsError, Refusal
from .job import Job
from .options import JobOverrides, JobState
from .serialization import loads
from .wakeup import notify_local

if TYPE_CHECKING:
    from .backends.base import Backend
    from .queue import Queue

ON_FAILURE: tuple[str, ...] = get_args(OnFailure)

MAX_TREE_NODES = 100_000
"""The most jobs one ``add_flow`` stores: the call is one atomic step, which holds Redis
(or SQLite's write lock) for its whole length."""


@dataclass(frozen=True)
class FlowNode:
    """One job of a flow to add: where it goes, what it runs, and the children it waits for.

    ``on_failure`` says what this job failing for good does to its parent: ``"fail"`` the
    parent (the default; its reason names this child), ``"ignore"`` (the parent waits for
    the rest and lists the failure in ``children_failures()``), ``"continue"`` (the parent
    runs at once, failure listed) or ``"remove"`` the dependency (as if never added).
    """

    queue: Queue
    """The queue the job is added to (every node of a flow on one backend)."""
    name: str
    """The job name (a handler registered for it, or a declared name)."""
    data: Any = None
    """The payload, validated like ``add``'s."""
    children: Sequence[FlowNode] = ()
    """Jobs this one waits for; it starts in ``waiting-children`` when there are any."""
    job_id: str | None = None
    """An id of your own: an existing job with it is returned and its subtree not added."""
    options: JobOverrides = field(default_factory=JobOverrides)
    """Option overrides, as the keywords of ``add``."""
    on_failure: OnFailure = "fail"
    """What this job failing for good does to its parent."""


@dataclass(frozen=True)
class FlowJob:
    """The handle of one added node and those of its children, in the order given."""

    job: Job[Any]
    children: list[FlowJob]

    def walk(self) -> list[Job[Any]]:
        """Every job of this subtree, parents before their children."""
        out = [self.job]
        for child in self.children:
            out += child.walk()
        return out


@dataclass(frozen=True)
class JobTree:
    """A job as read now, with its children as read now (``Job.tree()``): by queue, then
    generated ids in number order, then ids of your own."""

    job: Job[Any] | None
    """None for a child that no longer exists (trimmed by retention, or removed)."""
    ref: str
    """The job's ``queue:id``."""
    children: list[JobTree]

    @property
    def state(self) -> str:
        return "missing" if self.job is None else self.job.state


async def add_flow(root: FlowNode) -> FlowJob:
    """Add a parent and its children (to any depth, across queues) in one atomic call:
    all of them or none. Returns a handle for every node."""
    flows = await add_children(root.queue.backend, [root], parent_ref="")
    if not flows:  # the root existed, and finished and was trimmed since the call
        job_id = root.job_id or ""
        raise Refusal.JOB_NOT_FOUND.error(queue=root.queue.name, job_id=job_id, action="read")
    return flows[0]


async def add_children(
    backend: Backend, roots: Sequence[FlowNode], *, parent_ref: str
) -> list[FlowJob]:
    """Add ``roots`` and their subtrees in one call; with ``parent_ref`` (``queue:id`` of a
    running job) each root becomes that job's child."""
    tree = _Flattened(backend, parent_ref)
    for root in roots:
        tree.visit(root, -1)
    if not tree.nodes:
        return []
    now = tree.queues[0].clock.now_ms()
    result = await backend.add_tree(tree.nodes, now)
    if result.code < 0:
        queue, job_id = split_ref(parent_ref)
        raise Refusal(result.code).error(queue=queue, job_id=job_id, action="add children to")
    for name in {q.name for q in tree.queues}:
        notify_local(backend.url, name)
    return await tree.handles(result.added, now)


class _Flattened:
    """A flow as ``Backend.add_tree`` takes it: nodes in preorder, parents first."""

    def __init__(self, backend: Backend, parent_ref: str) -> None:
        self.backend = backend
        self.parent_ref = parent_ref
        self.nodes: list[TreeNode] = []
        self.queues: list[Queue] = []
        self.given: list[tuple[FlowNode, int]] = []

    def visit(self, node: FlowNode, parent: int) -> None:
        if not isinstance(node, FlowNode):
            raise InvalidOptionsError(f"a flow's children are FlowNode objects, got {node!r}")
        queue = node.queue
        if queue.backend is not self.backend and queue.backend.url != self.backend.url:
            raise ConfigurationError(
                f"every job of a flow lives on one backend: {queue} is not on"
                f" {self.backend.url}"
            )
        if node.on_failure not in ON_FAILURE:
            raise InvalidOptionsError(
                f"on_failure must be one of {', '.join(ON_FAILURE)}, got {node.on_failure!r}"
            )
        new, options = queue._new_job(node.name, node.data, node.job_id, node.options)
        if options.dedup is not None:
            raise InvalidOptionsError("a job of a flow cannot take a dedup key")
        if node.children and new.delay_ms:
            raise InvalidOptionsError(
                "a parent cannot be delayed: it starts when its children are done"
            )
        if len(self.nodes) >= MAX_TREE_NODES:
            raise InvalidOptionsError(f"a flow holds at most {MAX_TREE_NODES} jobs per call")
        index = len(self.nodes)
        ref = self.parent_ref if parent < 0 else ""
        self.nodes.append(TreeNode(queue.name, new, parent, ref, node.on_failure))
        self.queues.append(queue)
        self.given.append((node, parent))
        for child in node.children:
            self.visit(child, index)

    async def handles(self, added: list[AddResult], now: int) -> list[FlowJob]:
        """A handle per node the call stored or found; the subtree under a job that
        existed already was not added, and gets none."""
        flows: list[FlowJob | None] = []
        tops: list[FlowJob] = []
        waits = {parent for (_, parent), r in zip(self.given, added, strict=True) if r.created}
        for index, ((node, parent), tree_node, result, queue) in enumerate(
            zip(self.given, self.nodes, added, self.queues, strict=True)
        ):
            owner = flows[parent] if parent >= 0 else None
            if (parent >= 0 and owner is None) or not (result.created or result.job_id):
                flows.append(None)
                continue
            if result.created:
                # A parent whose children all existed already is ready at once.
                state: JobState | None = "waiting-children" if index in waits else None
                if parent >= 0:
                    ref: str | None = node_ref(self.queues[parent].name, added[parent].job_id)
                else:
                    ref = self.parent_ref or None
                job = queue._handle(
                    tree_node.job, result.job_id, now, state=state, parent=ref,
                    on_failure=node.on_failure,
                )
            else:
                found = await queue.get_job(result.job_id)
                if found is None:  # finished and trimmed since the call: nothing to hand
                    flows.append(None)
                    continue
                job, job.created = found, False
            flow = FlowJob(job, [])
            flows.append(flow if result.created else None)
            (owner.children if owner is not None else tops).append(flow)
        return tops


def decode_values(children: Children) -> dict[str, Any]:
    return {ref: loads(raw) for ref, raw in children.values.items()}


async def read_tree(queue: Queue, job_id: str, *, depth: int = 50) -> JobTree:
    """The tree under a job, each node read now (not one atomic read: a flow that runs
    meanwhile may show a child finished and its parent still waiting)."""
    from .queue import Queue as QueueType

    backend = queue.backend
    by_name: dict[str, Queue] = {queue.name: queue}

    def queue_named(name: str) -> Queue:
        if name not in by_name:
            by_name[name] = QueueType(name, backend=backend, clock=queue.clock)
        return by_name[name]

    async def node(q: Queue, jid: str, level: int) -> JobTree:
        job = await q.get_job(jid)
        ref = node_ref(q.name, jid)
        if job is None or level >= depth:
            return JobTree(job, ref, [])
        children = await backend.get_children(q.name, jid)
        refs = sorted({*children.pending, *children.values, *children.failures}, key=_ref_order)
        kids = []
        for child in refs:
            cq, cid = split_ref(child)
            kids.append(await node(queue_named(cq), cid, level + 1))
        return JobTree(job, ref, kids)

    return await node(queue, job_id, 0)


def _ref_order(ref: str) -> tuple[str, bool, int, str]:
    """Children by queue, then generated ids in number order, then ids of your own."""
    queue, job_id = split_ref(ref)
    generated = job_id.isdigit()
    return (queue, not generated, int(job_id) if generated else 0, job_id)
