"""Named locks on the queues' backend, for work outside jobs (one shop sync at a time).

A lock is held by a random token for a TTL. While held, a thread of its own renews it
every third of the TTL on its own connection and event loop (as a worker's lease keeper
does), so a holder whose event loop is blocked keeps it, and a holder that dies frees it
when the TTL runs out. Release and extend check the token: a holder that ran out of time
cannot free, or stretch, the next holder's lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

from .backends import from_url
from .errors import ConfigurationError, LockNotHeldError, LockTimeoutError
from .options import QUEUE_NAME, Seconds, to_ms

if TYPE_CHECKING:
    from .backends.base import Backend

log = logging.getLogger("conveyor.locks")

MAX_WAIT_S = 1.0
"""The longest one wait for a release lasts before the lock is tried again (a release
note can be missed: a waiter that blocks just after it was taken by another)."""


class Lock:
    """A named lock: ``async with Lock("sync-store-42", ttl=30, timeout=10):``.

    ``url`` (or ``CONVEYOR_URL``, or the SQLite default) picks the backend; pass
    ``backend`` to share a queue's (``Lock(name, backend=queue.backend)``). ``timeout``
    is how long ``acquire`` waits for another holder (None: as long as it takes; 0: not
    at all), raising ``LockTimeoutError`` after it.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str | None = None,
        backend: Backend | None = None,
        ttl: Seconds = 30.0,
        timeout: Seconds | None = None,
    ) -> None:
        if not isinstance(name, str) or not QUEUE_NAME.match(name):
            raise ConfigurationError(
                f"lock name {name!r} must be 1-200 letters, digits, '.', '_' or '-'"
            )
        self.ttl_ms = to_ms(ttl, "ttl")
        if self.ttl_ms < 100:
            raise ConfigurationError(f"a lock's ttl is at least 0.1 s, got {ttl!r}")
        self.timeout_ms = None if timeout is None else to_ms(timeout, "timeout")
        self.name = name
        """The lock's name: every process that names it shares it on this backend."""
        self.backend = backend if backend is not None else from_url(url)
        """The storage the lock lives on."""
        self.token = uuid.uuid4().hex
        """This holder's token (a new one per ``Lock`` object)."""
        self._renewer: _Renewer | None = None

    def __repr__(self) -> str:
        return f"<Lock {self.name!r} on {self.backend.url}{' held' if self.held else ''}>"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock, as far as its renewals know."""
        return self._renewer is not None and not self._renewer.lost.is_set()

    async def acquire(self) -> None:
        """Take the lock, waiting for its holder to release it (or to run out of time)
        up to the ``Lock``'s ``timeout``; ``LockTimeoutError`` after that. Taking it again
        while held refreshes its TTL."""
        limit = self.timeout_ms
        deadline = None if limit is None else time.monotonic() + limit / 1000
        while True:
            left = await self.backend.acquire_lock(self.name, self.token, self.ttl_ms)
            if left == 0:
                break
            wait = min(left / 1000, MAX_WAIT_S)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockTimeoutError(
                        f"lock {self.name!r} is held by another and was not released"
                        f" within {limit / 1000:g} s"  # type: ignore[operator]
                    )
                wait = min(wait, remaining)
            await self.backend.wait_for_lock(self.name, wait)
        if self._renewer is None:
            self._renewer = _Renewer(self)
            self._renewer.start()

    async def extend(self, ttl: Seconds | None = None) -> None:
        """Hold the lock ``ttl`` seconds from now (its TTL by default; later renewals use
        the TTL again). ``LockNotHeldError`` when its hold has run out."""
        ttl_ms = self.ttl_ms if ttl is None else to_ms(ttl, "ttl")
        if not await self.backend.extend_lock(self.name, self.token, ttl_ms):
            self._stop_renewing()
            raise LockNotHeldError(f"lock {self.name!r} is no longer held by this holder")

    async def release(self) -> None:
        """Free the lock and wake a waiter. ``LockNotHeldError`` when its hold had run out
        before (the work it guarded may have overlapped another holder's)."""
        lost = self._renewer is not None and self._renewer.lost.is_set()
        self._stop_renewing()
        released = await self.backend.release_lock(self.name, self.token)
        if lost or not released:
            raise LockNotHeldError(
                f"lock {self.name!r} had run out of time before it was released"
            )

    def _stop_renewing(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.stop()

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except LockNotHeldError:
            if error is None:
                raise
            log.warning("lock %r had run out of time before the block failed", self.name)


class _Renewer(threading.Thread):
    """Renews one held lock every third of its TTL, on its own loop and connection."""

    def __init__(self, lock: Lock) -> None:
        super().__init__(name=f"conveyor-lock-{lock.name}", daemon=True)
        self.lock = lock
        self.interval = lock.ttl_ms / 3000
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        lock = self.lock
        backend = lock.backend.clone()
        try:
            delay = self.interval
            while not self._stop_event.wait(delay):
                try:
                    held = await backend.extend_lock(lock.name, lock.token, lock.ttl_ms)
                except Exception as exc:  # an outage: try again soon, the TTL still runs
                    log.warning("renewing lock %r failed: %s", lock.name, exc)
                    delay = min(self.interval, 0.25)
                    continue
                if not held:
                    log.warning("lock %r ran out of time before it was renewed", lock.name)
                    self.lost.set()
                    return
                delay = self.interval
        finally:
            await backend.close()
