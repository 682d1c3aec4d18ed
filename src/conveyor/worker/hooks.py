"""Lifecycle hooks: subclass and override what you need; every method is a no-op here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import JobContext
    from .worker import Worker


@dataclass(frozen=True, slots=True)
class JobReport:
    """How one attempt ended, for ``after_job``."""

    status: str
    """``completed``, ``failed``, ``retrying``, ``postponed`` (the handler raised
    ``Postpone``: no attempt was spent) or ``waiting-children`` (it raised
    ``WaitForChildren``)."""
    duration_ms: float
    """How long the handler ran, in milliseconds."""
    result: Any = None
    """The handler's return value, when it completed."""
    error: BaseException | None = None
    """The exception the handler raised, when it failed or will be retried."""


class WorkerHooks:
    """Called on the worker's event loop; an exception in a hook is logged, never fatal.

    Subclass it, override the methods you need, and pass instances to
    ``Worker(hooks=[...])``; hooks run in the order given.
    """

    async def on_worker_start(self, worker: Worker) -> None:
        """After the worker has connected and before it takes its first job."""

    async def on_worker_stop(self, worker: Worker) -> None:
        """After the last job has finished or been put back in line."""

    async def before_job(self, job: JobContext[Any]) -> None:
        """Before the handler runs (inside the job's timeout)."""

    async def after_job(self, job: JobContext[Any], report: JobReport) -> None:
        """After the attempt ended, before its outcome is stored."""
