"""What a handler receives: the running job, with progress and log calls.

``async def`` handlers get a :class:`JobContext` (coroutine methods); plain ``def``
handlers run in a thread and get a :class:`SyncJobContext` whose methods block; handlers
in a child process get a :class:`ProcessJob`, a snapshot whose progress and log calls
travel to the worker over the child's pipe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import Refusal
from ..options import JobOptions
from ..serialization import dumps

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..backends.base import Backend
    from ..flows import FlowJob, FlowNode

T = TypeVar("T")


class JobContext(Generic[T]):
    """The job being run, as an ``async def`` handler receives it.

    ``data`` is the payload, in the type the job name declares when it declares one.
    Progress and log lines are stored at once, so any process reading the job (``get_job``,
    the CLI, an event stream) sees them while the handler still runs.
    """

    __slots__ = (
        "_backend",
        "_log_keep",
        "_now",
        "_stopping",
        "attempts_made",
        "data",
        "id",
        "name",
        "options",
        "queue",
        "timestamp",
        "token",
    )

    def __init__(
        self,
        *,
        backend: Backend,
        queue: str,
        job_id: str,
        name: str,
        data: T,
        options: JobOptions,
        attempts_made: int,
        timestamp: int,
        token: str,
        log_keep: int,
        now: Any,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._backend = backend
        self._stopping = stopping
        self.queue = queue
        """The name of the job's queue."""
        self.id = job_id
        """The job's id (generated, or the ``job_id`` given to ``add``)."""
        self.name = name
        """The job name, which picked this handler."""
        self.data = data
        """The payload, decoded into the declared payload type when there is one."""
        self.options = options
        """The job's options as stored with it (the queue's defaults and the add's own)."""
        self.attempts_made = attempts_made
        """Attempts finished before this one (0 on the first run)."""
        self.timestamp = timestamp
        """When the job was added, in ms since the epoch."""
        self.token = token
        """This attempt's lease token: a worker that lost the job cannot store its end."""
        self._log_keep = log_keep
        self._now = now

    def __repr__(self) -> str:
        return f"<JobContext {self.queue}/{self.id} {self.name!r}>"

    @property
    def stopping(self) -> bool:
        """True once the worker has begun to shut down (SIGTERM, a deploy).

        A long handler checks it between units of work to save where it got to and
        return early, rather than be cancelled when the grace period ends; either way
        the job goes back in line untouched. ``raise Postpone(data=checkpoint)`` makes
        the next run start from the checkpoint.
        """
        return self._stopping()

    async def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        """Store progress (a number or a JSON object), visible to any process at once.

        It replaces the previous value (``Job.progress`` reads it) and emits a
        ``progress`` event carrying it.
        """
        code = await self._backend.update_progress(
            self.queue, self.id, dumps(progress), self._now()
        )
        self._check(code, "update progress of")

    async def log(self, text: str) -> None:
        """Append a line to the job's log (the newest lines are kept)."""
        kept = await self._backend.add_log(self.queue, self.id, text, self._log_keep)
        self._check(min(kept, 0), "log to")

    async def add_children(self, nodes: Sequence[FlowNode]) -> list[FlowJob]:
        """Add jobs (with their own subtrees) as this job's children, in one atomic call.

        End the run with ``raise WaitForChildren(...)`` to wait for them without holding
        the worker slot. A run that is cut short (its worker killed) runs again and adds
        them again: give children ids of your own (``job_id=f"{job.id}-{sku}"``) so that
        the second add finds the first one's jobs instead of doubling them.
        """
        from ..backends.base import node_ref
        from ..flows import add_children

        return await add_children(self._backend, nodes, parent_ref=node_ref(self.queue, self.id))

    async def children_values(self) -> dict[str, Any]:
        """What each completed child returned, by ``queue:id``."""
        from ..flows import decode_values

        return decode_values(await self._backend.get_children(self.queue, self.id))

    async def children_failures(self) -> dict[str, str]:
        """Why each child that failed for good failed, by ``queue:id`` (``ignore`` and
        ``continue`` children; see ``FlowNode.on_failure``)."""
        return (await self._backend.get_children(self.queue, self.id)).failures

    def _check(self, code: int, action: str) -> None:
        if code < 0:  # removed meanwhile, or its record is damaged
            raise Refusal(code).error(queue=self.queue, job_id=self.id, action=action)


class SyncJobContext(Generic[T]):
    """The running job for a plain ``def`` handler, which runs in a thread: the same
    attributes and calls as ``JobContext``, blocking until stored."""

    __slots__ = ("_inner", "_loop", "attempts_made", "data", "id", "name", "options", "queue")

    def __init__(self, inner: JobContext[T], loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self.queue = inner.queue
        """The name of the job's queue."""
        self.id = inner.id
        """The job's id."""
        self.name = inner.name
        """The job name, which picked this handler."""
        self.data = inner.data
        """The payload, decoded into the declared payload type when there is one."""
        self.options = inner.options
        """The job's options as stored with it."""
        self.attempts_made = inner.attempts_made
        """Attempts finished before this one (0 on the first run)."""

    @property
    def stopping(self) -> bool:
        """True once the worker has begun to shut down: see ``JobContext.stopping``."""
        return self._inner.stopping

    def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        """Store progress (a number or a JSON object), visible to any process at once."""
        asyncio.run_coroutine_threadsafe(self._inner.update_progress(progress), self._loop).result()

    def log(self, text: str) -> None:
        """Append a line to the job's log (the newest lines are kept)."""
        asyncio.run_coroutine_threadsafe(self._inner.log(text), self._loop).result()

    def add_children(self, nodes: Sequence[FlowNode]) -> list[FlowJob]:
        """Add children in one atomic call: see ``JobContext.add_children``."""
        call = self._inner.add_children(nodes)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def children_values(self) -> dict[str, Any]:
        """What each completed child returned, by ``queue:id``."""
        call = self._inner.children_values()
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def children_failures(self) -> dict[str, str]:
        """Why each child that failed for good failed, by ``queue:id``."""
        call = self._inner.children_failures()
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()


@dataclass(frozen=True, slots=True)
class ProcessJob(Generic[T]):
    """The job for a ``cpu_bound`` handler, which runs in another process.

    ``update_progress`` and ``log`` work as in any handler: each is sent to the worker,
    which stores it and answers before the call returns, so progress is visible while
    the handler runs and in order with its result. Built by hand (a unit test of a
    handler), it has no worker to send to, and both calls do nothing.
    """

    queue: str
    """The name of the job's queue."""
    id: str
    """The job's id."""
    name: str
    """The job name."""
    data: T
    """The payload, decoded into the declared payload type when there is one."""
    attempts_made: int
    """Attempts finished before this one (0 on the first run)."""
    _channel: Any = field(default=None, repr=False, compare=False)

    def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        """Store progress (a number or a JSON object), visible to any process at once."""
        self._send("progress", progress)

    def log(self, text: str) -> None:
        """Append a line to the job's log (the newest lines are kept)."""
        self._send("log", text)

    def _send(self, kind: str, value: Any) -> None:
        if self._channel is None:
            return
        self._channel.send((kind, value))
        answer, error = self._channel.recv()
        if answer == "error":
            raise error
