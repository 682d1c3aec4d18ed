"""Control-flow signals a handler raises to steer its own job; they are not errors.

``UnrecoverableError`` fails the job at once, whatever attempts remain. ``Retry`` asks for
another attempt after a given delay, spending an attempt like any failure would.
"""

from __future__ import annotations


class UnrecoverableError(Exception):
    """Raise from a handler to fail the job now, skipping the remaining attempts."""


class Retry(Exception):
    """Raise from a handler to retry after ``delay`` seconds instead of the backoff's delay.

    It spends an attempt: when none remain, the job fails with ``reason`` like any error.
    """

    def __init__(self, delay: float = 0.0, reason: str = "retry requested by the handler"):
        super().__init__(reason)
        self.delay = delay
        """Seconds until the next attempt (0: at once, at the back of the wait list)."""
