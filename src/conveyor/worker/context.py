"""What a handler receives: the running job, with progress and log calls.

``async def`` handlers get a :class:`JobContext` (coroutine methods); plain ``def``
handlers run in a thread and get a :class:`SyncJobContext` whose methods block; handlers
in a process pool get a :class:`ProcessJob`, a plain picklable snapshot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..options import JobOptions
from ..serialization import dumps

if TYPE_CHECKING:
    from ..backends.base import Backend

T = TypeVar("T")


class JobContext(Generic[T]):
    """The job being run. ``data`` is the payload, in its declared type when there is one."""

    __slots__ = (
        "_backend",
        "_log_keep",
        "_now",
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
    ) -> None:
        self._backend = backend
        self.queue = queue
        self.id = job_id
        self.name = name
        self.data = data
        self.options = options
        self.attempts_made = attempts_made
        """Attempts finished before this one (0 on the first run)."""
        self.timestamp = timestamp
        self.token = token
        self._log_keep = log_keep
        self._now = now

    def __repr__(self) -> str:
        return f"<JobContext {self.queue}/{self.id} {self.name!r}>"

    async def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        """Store progress (a number or a JSON object), visible to any process at once."""
        await self._backend.update_progress(self.queue, self.id, dumps(progress), self._now())

    async def log(self, text: str) -> None:
        """Append a line to the job's log (the newest lines are kept)."""
        await self._backend.add_log(self.queue, self.id, text, self._log_keep)


class SyncJobContext(Generic[T]):
    """The running job for a handler in a thread: the same calls, blocking."""

    __slots__ = ("_inner", "_loop", "attempts_made", "data", "id", "name", "options", "queue")

    def __init__(self, inner: JobContext[T], loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self.queue = inner.queue
        self.id = inner.id
        self.name = inner.name
        self.data = inner.data
        self.options = inner.options
        self.attempts_made = inner.attempts_made

    def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._inner.update_progress(progress), self._loop).result()

    def log(self, text: str) -> None:
        asyncio.run_coroutine_threadsafe(self._inner.log(text), self._loop).result()


@dataclass(frozen=True, slots=True)
class ProcessJob(Generic[T]):
    """The job for a cpu_bound handler in another process (no progress or log calls)."""

    queue: str
    id: str
    name: str
    data: T
    attempts_made: int
