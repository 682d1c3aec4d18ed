"""The lease keeper: a thread that renews leases and watches the event loop.

Renewal runs on its own thread, event loop and backend connection, so a handler that
blocks the worker's event loop (CPU work in ``async def``, a sync call) does not let its
lease lapse and have its job run a second time elsewhere. The same thread warns when the
worker's loop has not run for a while, naming the likely cause.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING

from ..errors import BackendUnavailableError, ConveyorError

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .worker import Worker

log = logging.getLogger("conveyor.worker")


class LeaseKeeper(threading.Thread):
    def __init__(self, worker: Worker) -> None:
        super().__init__(name="conveyor-lease", daemon=True)
        self.worker = worker
        self.interval = worker.settings.lease / 3
        self._stop_event = threading.Event()
        self._stalled_since: float | None = None
        self._failures = 0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        backends: dict[int, Backend] = {}
        try:
            delay = self.interval
            while not self._stop_event.wait(delay):
                renewed = await self._renew_all(backends)
                # After a failure, try again soon: a short outage must not cost a lease.
                delay = self.interval if renewed else min(self.interval, 0.25)
                self._watch_loop()
        finally:
            for backend in backends.values():
                await backend.close()

    async def _renew_all(self, backends: dict[int, Backend]) -> bool:
        """Renew every lease of every consumer; cancel jobs reported lost."""
        renewed = True
        for consumer in list(self.worker.consumers):
            key = id(consumer.backend)
            if key not in backends:
                backends[key] = consumer.backend.clone()
            backend = backends[key]
            for lease, jobs in consumer.lease_snapshot().items():
                try:
                    # Bounded: a hung server must not stop renewals of other queues,
                    # nor the loop-stall watch.
                    async with asyncio.timeout(self.interval):
                        lost = await backend.renew_lease(consumer.queue.name, lease, jobs)
                except Exception as exc:
                    renewed = False
                    self._failed(consumer.queue.name, exc)
                    continue
                if lost:
                    consumer.lost(lost)
        if renewed and self._failures:
            log.warning("leases renewed again after %d failed attempt(s)", self._failures)
            self._failures = 0
        return renewed

    def _failed(self, queue: str, exc: Exception) -> None:
        self._failures += 1
        if isinstance(exc, BackendUnavailableError | TimeoutError):
            self.worker.backend_failed()
        if self._failures == 1:
            level = logging.WARNING if isinstance(exc, ConveyorError) else logging.ERROR
            log.log(level, "could not renew the lease on %s: %s", queue, exc)
        else:
            log.debug("could not renew the lease on %s: %s", queue, exc)

    def _watch_loop(self) -> None:
        silent = time.monotonic() - self.worker.last_tick
        limit = self.worker.settings.loop_stall_warning
        if silent > limit:
            if self._stalled_since is None:
                self._stalled_since = self.worker.last_tick
                log.warning(
                    "the worker's event loop has been blocked for %.1fs: an async handler is"
                    " doing CPU work or a blocking call; make it a plain def (runs in a"
                    " thread) or cpu_bound. Leases are still being renewed.",
                    silent,
                )
        elif self._stalled_since is not None:
            log.warning(
                "the event loop is running again after %.1fs blocked",
                time.monotonic() - self._stalled_since,
            )
            self._stalled_since = None
