"""Tasks: a job name bound to its handler, payload type and defaults on one queue."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, Unpack

from .options import JobOverrides

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .backends.base import OnFailure
    from .flows import FlowNode
    from .job import Job
    from .queue import Queue

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

HandlerKind = str  # "async" | "thread" | "process"


@dataclass(frozen=True, slots=True)
class Task(Generic[T, R]):
    """What ``@queue.job()`` returns: call ``add`` on it to enqueue with a typed result.

    The handler takes one argument, the running job (``job.data`` is the payload of type
    ``T``), and returns ``R``. ``async def`` handlers run on the event loop, plain ``def``
    ones in a thread pool, and ``cpu_bound=True`` ones in a process pool (they must be
    module-level functions, and receive a ``conveyor.ProcessJob``).
    """

    queue: Queue
    """The queue the job name is registered on."""
    name: str
    """The job name: the function's name unless ``job()`` was given one."""
    fn: Callable[..., Any]
    """The handler itself; calling the task calls it (useful in tests)."""
    payload: type[Any] | None
    """The declared payload type that ``add`` validates against, or None."""
    kind: HandlerKind
    """Where the handler runs: ``async`` (the event loop), ``thread`` or ``process``."""

    async def add(
        self, data: T, *, job_id: str | None = None, **options: Unpack[JobOverrides]
    ) -> Job[R]:
        """``queue.add(name, data, ...)`` for this job name, typed: ``await job.wait()``
        returns the handler's return type."""
        return await self.queue.add(self.name, data, job_id=job_id, **options)

    def node(
        self,
        data: T,
        *,
        children: Sequence[FlowNode] = (),
        job_id: str | None = None,
        on_failure: OnFailure = "fail",
        **options: Unpack[JobOverrides],
    ) -> FlowNode:
        """A ``FlowNode`` of this job name on this task's queue, for ``add_flow`` and
        ``job.add_children``: ``family.node({"a_number": "A1"}, children=[...])``."""
        from .flows import FlowNode

        return FlowNode(
            self.queue, self.name, data, tuple(children), job_id, options, on_failure
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the handler directly (useful in tests)."""
        return self.fn(*args, **kwargs)


def handler_kind(fn: Callable[..., Any], cpu_bound: bool) -> HandlerKind:
    if cpu_bound:
        if inspect.iscoroutinefunction(fn):
            raise TypeError("a cpu_bound handler must be a plain def, not async def")
        return "process"
    if inspect.iscoroutinefunction(fn):
        return "async"
    return "thread"
