"""Time as an argument: the engine asks a clock for "now" and passes it to the backend.

Tests move a :class:`ManualClock` instead of sleeping; workers listening to it wake when
it moves, so a delayed job becomes due the moment the test says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta


class Clock:
    """Wall-clock milliseconds since the epoch: what queues and workers use by default.

    Subclass it to run the engine on another time source; ``subscribe`` lets workers
    wake when that time jumps instead of waiting for their next poll.
    """

    def now_ms(self) -> int:
        """The time now in whole milliseconds since the epoch, as passed to every backend call."""
        return time.time_ns() // 1_000_000

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever time jumps; returns an unsubscribe function."""
        return lambda: None


class ManualClock(Clock):
    """A clock that moves only when told to (for tests and simulations).

    Give the same clock to the queue and the worker: delays, backoffs and retention then
    follow ``advance`` rather than the wall clock, and a test never sleeps to wait for them.
    It starts at the wall clock's now, or at ``start_ms``.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = time.time_ns() // 1_000_000 if start_ms is None else start_ms
        self._listeners: list[Callable[[], None]] = []

    def now_ms(self) -> int:
        """The time it was last moved to; it does not change on its own."""
        return self._now

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward and wake every subscriber (workers look for due jobs)."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        self._now += round(seconds * 1000)
        for listener in list(self._listeners):
            listener()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after every ``advance``; returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)


SYSTEM_CLOCK = Clock()
