"""Awaiting a condition instead of sleeping to guess: the one ``until`` every suite uses
(the conformance helpers and the process harness re-export it)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], Awaitable[bool] | bool]
"""A plain check (a file read, ``process.poll()``) or a coroutine function (a backend read)."""


async def until(
    condition: Condition,
    within: float = 10.0,
    what: str = "condition",
    interval: float = 0.01,
) -> float:
    """Check ``condition`` every ``interval`` seconds until it holds and return the
    seconds it took; past ``within`` seconds, fail with an ``AssertionError`` naming
    ``what``."""
    started = time.monotonic()
    deadline = started + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(interval)
