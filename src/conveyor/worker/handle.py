"""What a queue's consumer may use of the worker that runs it: a narrow handle.

The consumer runs one queue's fetch loop; the worker owns what its queues share (clock,
pools, hooks, background work, the decision to stop). Typing the consumer against this
protocol instead of ``Worker`` keeps that line visible: anything new the consumer needs
from the worker is added here, on purpose.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..clock import Clock
    from ..errors import ConveyorError
    from .context import JobContext
    from .hooks import JobReport, WorkerHooks
    from .outcomes import BackoffStrategy
    from .runner import Runner
    from .settings import WorkerSettings


class WorkerHandle(Protocol):
    """The worker as its consumers see it (``Worker`` implements it)."""

    @property
    def settings(self) -> WorkerSettings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def runner(self) -> Runner: ...
    @property
    def hooks(self) -> Sequence[WorkerHooks]: ...
    @property
    def strategies(self) -> Mapping[str, BackoffStrategy]: ...

    async def before_job(self, ctx: JobContext[Any]) -> None:
        """Run the hooks' ``before_job``."""

    async def after_job(self, ctx: JobContext[Any], report: JobReport) -> None:
        """Run the hooks' ``after_job``."""

    def backend_failed(self) -> None:
        """A call to the backend failed: hold stalled checks back for a while."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run one-off background work (a dead-letter forward) owned by the worker."""

    def abort(self, error: ConveyorError) -> None:
        """Stop the whole worker at once: the storage cannot be used."""
