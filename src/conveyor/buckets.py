"""Token buckets shared by every process on a backend: pace calls to an external API.

A bucket holds up to ``capacity`` tokens and refills at ``per_second``; a call takes one
(or ``n``) and waits, when there are too few, exactly as long as the refill needs — the
backend says how long, so nothing polls. Shopify's REST Admin API (a bucket of 40 calls
per store, leaking 2 a second) is ``TokenBucket(f"shopify-{shop}", capacity=40,
per_second=2)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .backends import from_url
from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigurationError, TokenBucketTimeoutError
from .options import QUEUE_NAME, Seconds, to_ms

if TYPE_CHECKING:
    from .backends.base import Backend


class TokenBucket:
    """A named token bucket on the backend (``url``, ``CONVEYOR_URL``, or the SQLite
    default; ``backend`` to share a queue's).

    Every process that names the bucket with the same ``capacity`` and ``per_second``
    shares it. Time is the callers' clock (``clock``): on Redis, processes on several
    machines need clocks kept in step (NTP), as for delays.
    """

    def __init__(
        self,
        name: str,
        *,
        capacity: int,
        per_second: float,
        url: str | None = None,
        backend: Backend | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(name, str) or not QUEUE_NAME.match(name):
            raise ConfigurationError(
                f"bucket name {name!r} must be 1-200 letters, digits, '.', '_' or '-'"
            )
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ConfigurationError(f"capacity must be an int of 1 or more, got {capacity!r}")
        if not isinstance(per_second, int | float) or not per_second > 0:
            raise ConfigurationError(f"per_second must be a positive number, got {per_second!r}")
        self.name = name
        """The bucket's name: every process that names it shares it on this backend."""
        self.capacity = capacity
        """The most tokens the bucket holds (the largest burst)."""
        self.per_second = float(per_second)
        """How many tokens come back each second."""
        self.backend = backend if backend is not None else from_url(url)
        """The storage the bucket lives on."""
        self.clock = clock
        """Where "now" comes from (a ``ManualClock`` in tests)."""

    def __repr__(self) -> str:
        return f"<TokenBucket {self.name!r} {self.capacity} at {self.per_second:g}/s>"

    async def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if the bucket has them now; whether it did."""
        return await self._take(n) == 0

    async def acquire(self, n: int = 1, *, timeout: Seconds | None = None) -> None:
        """Take ``n`` tokens, waiting as long as the refill needs (other processes may
        take tokens meanwhile: then it waits again). ``TokenBucketTimeoutError`` when
        they would not be there within ``timeout`` seconds; nothing is taken then."""
        deadline = None if timeout is None else time.monotonic() + to_ms(timeout, "timeout") / 1000
        while True:
            wait_ms = await self._take(n)
            if wait_ms == 0:
                return
            if deadline is not None and time.monotonic() + wait_ms / 1000 > deadline:
                raise TokenBucketTimeoutError(
                    f"{n} token(s) of bucket {self.name!r} would take {wait_ms} ms to come"
                    f" back, past the timeout"
                )
            await asyncio.sleep(wait_ms / 1000)

    async def _take(self, n: int) -> int:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.capacity:
            raise ConfigurationError(
                f"take 1 to {self.capacity} tokens (the capacity) at a time, got {n!r}"
            )
        return await self.backend.take_tokens(
            self.name, n, self.capacity, self.per_second, self.clock.now_ms()
        )
