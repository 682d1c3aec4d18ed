"""The worker: runs the handlers of one or more queues until told to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from ..backends.base import Lease
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import BackendUnavailableError, ConfigurationError, ConveyorError, SchemaError
from ..options import JobState, Seconds, to_ms
from ..queue import Queue
from . import os_signals
from .consumer import Consumer
from .context import JobContext
from .hooks import JobReport, WorkerHooks
from .lease import LeaseKeeper
from .outcomes import BackoffStrategy
from .runner import Runner
from .settings import WorkerSettings

log = logging.getLogger("conveyor.worker")

OUTAGE_SETTLE = 1.5
"""Seconds without backend failures before a stalled check may run again."""
BURST_CHECK_S = 0.05
"""How often an idle burst worker asks the backend whether any work is left."""
BURST_WORK: tuple[JobState, ...] = (
    "waiting", "prioritized", "active", "delayed", "waiting-children"
)
"""States that keep a burst worker running."""


class Worker:
    """Runs jobs from ``queues`` with the handlers registered on them.

    ``async with Worker(queue):`` runs it in the background (tests, embedding);
    ``await worker.run()`` runs until SIGTERM/SIGINT: the first signal stops fetching and
    lets running jobs finish within ``settings.grace``; a second exits at once.

    ``backoff_strategies`` names the functions ``Backoff.custom(name)`` refers to, each
    ``(attempts_made, error) -> seconds``; ``hooks`` are ``WorkerHooks`` called around
    jobs; ``clock`` is the one the queues use (a ``ManualClock`` in tests).
    """

    def __init__(
        self,
        queues: Queue | Sequence[Queue],
        *,
        settings: WorkerSettings | None = None,
        hooks: Sequence[WorkerHooks] = (),
        backoff_strategies: Mapping[str, BackoffStrategy] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.queues = [queues] if isinstance(queues, Queue) else list(queues)
        """The queues this worker takes jobs from, with the handlers registered on them."""
        if not self.queues:
            raise ConfigurationError("a worker needs at least one queue")
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"queue listed twice: {names}")
        self.settings = settings or WorkerSettings()
        """How the worker runs (``WorkerSettings()`` unless given)."""
        self.hooks = list(hooks)
        """The hooks called around jobs, in order."""
        self.strategies = dict(backoff_strategies or {})
        self.clock = clock
        """Where "now" comes from; the worker wakes when a ``ManualClock`` moves."""
        self.consumers: list[Consumer] = []
        self.runner = Runner(self.settings.total_concurrency(names), self.settings.processes)
        self.last_tick = time.monotonic()
        self.last_backend_failure = 0.0
        """When a call to the backend last failed (monotonic); set from any thread."""
        self._tasks: set[asyncio.Task[Any]] = set()
        """One-off background work (dead-letter forwards)."""
        self._loops: list[asyncio.Task[Any]] = []
        """Loops that run until shutdown (stalled checks, the loop tick)."""
        self._main: list[asyncio.Task[Any]] = []
        self._shutdown: asyncio.Future[None] | None = None
        self._lease_keeper: LeaseKeeper | None = None
        self._stopped = asyncio.Event()
        self._signals = 0
        self._unsubscribe_clock: Callable[[], None] = lambda: None
        self.failure: ConveyorError | None = None
        """The error that stopped this worker on its own (storage it cannot use), if any."""

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Check that every queue's backend answers, then fetch and run jobs in the
        background until ``stop()``; ``async with Worker(...)`` calls both."""
        for queue in self.queues:
            await queue.backend.ping()
        self.consumers = [Consumer(self, q) for q in self.queues]
        for consumer in self.consumers:
            self._main.append(asyncio.ensure_future(consumer.run()))
            self._loops.append(asyncio.ensure_future(self._stalled_checks(consumer)))
        self._loops.append(asyncio.ensure_future(self._tick()))
        self._unsubscribe_clock = self.clock.subscribe(self._kick_all)
        self._lease_keeper = LeaseKeeper(self)
        self._lease_keeper.start()
        for hook in self.hooks:
            await self._call_hook(hook.on_worker_start(self))
        log.info(
            "worker started on %s",
            ", ".join(
                f"{q.name} (concurrency {self.settings.concurrency_for(q.name)})"
                for q in self.queues
            ),
            extra={"queues": [q.name for q in self.queues]},
        )

    async def stop(self, grace: Seconds | None = None) -> None:
        """Stop fetching; wait up to ``grace`` seconds for running jobs, then stop them and
        put them back at the front of waiting, attempts and stall count untouched.

        Safe to call more than once and from several tasks: all wait for one shutdown.
        """
        seconds = None if grace is None else to_ms(grace, "grace") / 1000
        await asyncio.shield(self._begin_stop(seconds))

    def _begin_stop(self, grace: float | None) -> asyncio.Future[None]:
        """Stop fetching now (before any await), and start the shutdown once."""
        if self._shutdown is None:
            for consumer in self.consumers:
                consumer.stopping = True
                consumer.changed.set()
            self._shutdown = asyncio.ensure_future(self._stop(grace))
        return self._shutdown

    async def _stop(self, grace: float | None) -> None:
        grace = self.settings.grace if grace is None else grace
        # Every lease in use, taken before abandoned jobs forget theirs.
        leases = self._leases()
        await self._drain(grace, leases)
        await self._requeue_unfinished()
        if self._tasks:  # dead-letter forwards in flight
            await asyncio.wait(set(self._tasks), timeout=5)
        for task in self._loops + list(self._tasks):
            task.cancel()
        if self._loops or self._tasks:
            await asyncio.wait([*self._loops, *self._tasks], timeout=5)
        # Stop renewing before releasing, or a renewal in flight could revive a lease.
        if self._lease_keeper is not None:
            self._lease_keeper.stop()
            await asyncio.to_thread(self._lease_keeper.join, 5)
        await self._release(leases)
        self._unsubscribe_clock()
        self.runner.close()
        for hook in self.hooks:
            await self._call_hook(hook.on_worker_stop(self))
        self._stopped.set()
        log.info("worker stopped")

    def _leases(self) -> list[tuple[Consumer, Lease]]:
        return [(c, lease) for c in self.consumers for lease in c.lease_snapshot()]

    async def _drain(self, grace: float, leases: list[tuple[Consumer, Lease]]) -> None:
        """Let running jobs finish within ``grace``, then cancel the rest."""
        if not self._main:
            return
        _, pending = await asyncio.wait(self._main, timeout=grace)
        if not pending:
            return
        leases += self._leases()
        abandoned = 0
        for consumer in self.consumers:
            for held in list(consumer.held.values()):
                if held.task is not None and not held.task.done():
                    held.task.cancel()
                    abandoned += 1
        log.warning(
            "grace period of %gs over: %d running job(s) stopped and put back in line",
            grace,
            abandoned,
        )
        # Let consumers store the outcomes they hold; then give up on them.
        _, pending = await asyncio.wait(pending, timeout=5)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _requeue_unfinished(self) -> None:
        """Jobs stopped by the shutdown go back to the front of waiting now, attempts and
        stall count untouched. One that cannot be (the backend is away) is left to the
        stalled check, as a job of a worker that died would be."""
        for consumer in self.consumers:
            if not consumer.unfinished:
                continue
            jobs, consumer.unfinished = consumer.unfinished, []
            try:
                moved = await consumer.backend.requeue(
                    consumer.queue.name, jobs, self.clock.now_ms()
                )
            except ConveyorError as exc:
                log.warning(
                    "could not put %d stopped job(s) of %s back in line (%s); the stalled"
                    " check will",
                    len(jobs),
                    consumer.queue.name,
                    exc,
                )
                continue
            log.info(
                "%d stopped job(s) of %s put back in line", len(moved), consumer.queue.name,
                extra={"queue": consumer.queue.name},
            )

    async def _release(self, leases: list[tuple[Consumer, Lease]]) -> None:
        """Drop the leases so that jobs left behind are recovered at the next check."""
        done: set[tuple[str, str]] = set()
        for consumer, lease in leases:
            if (consumer.queue.name, lease.worker_id) in done:
                continue
            done.add((consumer.queue.name, lease.worker_id))
            try:
                await consumer.backend.release_lease(consumer.queue.name, lease)
            except ConveyorError as exc:
                log.warning("could not release a lease on %s: %s", consumer.queue.name, exc)

    async def run(self, *, handle_signals: bool = True, burst: bool = False) -> None:
        """Run until stopped by a signal (or by ``stop()`` from another task).

        Several workers running on one event loop all receive SIGTERM/SIGINT. With
        ``burst``, stop on its own once its queues have no job left to run (see
        ``run_burst``).
        """
        await self.start()
        loop = asyncio.get_running_loop()
        unlisten = os_signals.listen(loop, self._on_signal) if handle_signals else None
        watch = asyncio.ensure_future(self._until_empty()) if burst else None
        try:
            await self._stopped.wait()
        finally:
            if unlisten is not None:
                unlisten()
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
        if self.failure is not None:
            raise self.failure

    async def run_burst(self, *, handle_signals: bool = True) -> None:
        """Process until the queues are empty, then stop: for batch runs, cron and tests.

        "Empty" means no job of these queues is waiting, prioritized, active (on any
        worker), delayed or waiting for its children — a retry waiting out its backoff
        is still part of the batch, so is a job delayed until tomorrow (use a plain
        worker for those), and so is a flow's parent: give the worker the queues of its
        children too. A paused queue's jobs do not count. Returns normally
        (``conveyor worker --burst`` exits 0).
        """
        await self.run(handle_signals=handle_signals, burst=True)

    async def _until_empty(self) -> None:
        """Stop once every consumer is idle and the backend holds no job left to run."""
        while True:
            idle = all(not c.busy and not c.outbox for c in self.consumers)
            if idle and await self._queues_empty():
                log.info("burst: no job left to run; stopping")
                self._begin_stop(None)
                return
            await asyncio.sleep(BURST_CHECK_S)

    async def _queues_empty(self) -> bool:
        for queue in self.queues:
            try:
                counts = await queue.counts()
            except BackendUnavailableError:
                return False  # ask again once it is back
            if any(counts[state] for state in BURST_WORK):
                return False
        return True

    def abort(self, error: ConveyorError) -> None:
        """Stop at once because of ``error`` (no retry can help); ``run`` raises it."""
        if self.failure is None:
            self.failure = error
            log.error("worker stops: %s", error)
        self._begin_stop(0)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: exiting at once", sig.name)
            logging.shutdown()
            os._exit(128 + sig.value)
        log.info(
            "%s received: finishing running jobs (up to %gs); send again to exit at once",
            sig.name,
            self.settings.grace,
        )
        self._begin_stop(None)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self.failure is not None and exc[0] is None:
            raise self.failure

    # -- helpers for consumers -------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run one-off background work (a dead-letter forward); what it raises is logged
        once, never left as "Task exception was never retrieved"."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._spawned_done)

    def _spawned_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background work of the worker failed: %r", error, exc_info=error)

    def _kick_all(self) -> None:
        for consumer in self.consumers:
            consumer.kick()

    async def _tick(self) -> None:
        while not _cancelling():
            self.last_tick = time.monotonic()
            await asyncio.sleep(0.2)

    async def _stalled_checks(self, consumer: Consumer) -> None:
        """Run the stalled check every ``stalled_interval``, but not right after an outage.

        Leases may have expired while the backend was away; live workers renew theirs
        within a fraction of a second of its return (their lease threads retry every
        0.25 s), so a check that waits ``OUTAGE_SETTLE`` does not take running jobs from
        them, and only the jobs of workers that really died run again.
        """
        while not _cancelling():
            quiet = time.monotonic() - self.last_backend_failure
            if quiet < OUTAGE_SETTLE:
                await asyncio.sleep(OUTAGE_SETTLE - quiet)
                continue
            try:
                await consumer.check_stalled()
            except BackendUnavailableError as exc:
                self.backend_failed()
                log.warning("stalled check on %s skipped: %s", consumer.queue.name, exc)
            except SchemaError as exc:  # storage no retry can help: stop, as a fetch does
                consumer.give_up(exc)
                return
            except Exception:
                log.exception("stalled check on %s failed", consumer.queue.name)
            await asyncio.sleep(self.settings.stalled_interval)

    def backend_failed(self) -> None:
        """A call to the backend failed (any thread): hold stalled checks back for a while."""
        self.last_backend_failure = time.monotonic()

    async def before_job(self, ctx: JobContext[Any]) -> None:
        for hook in self.hooks:
            await self._call_hook(hook.before_job(ctx))

    async def after_job(self, ctx: JobContext[Any], report: JobReport) -> None:
        for hook in self.hooks:
            await self._call_hook(hook.after_job(ctx, report))

    async def _call_hook(self, call: Coroutine[Any, Any, None]) -> None:
        try:
            await call
        except Exception:
            log.exception("a worker hook failed (ignored)")


def _cancelling() -> bool:
    """True once this task was asked to stop, even if a library swallowed the
    CancelledError (``asyncio.wait_for`` can, on Python 3.11)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
