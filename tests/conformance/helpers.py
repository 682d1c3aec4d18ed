"""Shared pieces of the conformance suite: quick worker settings and awaited conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from conveyor import WorkerSettings

FAST = WorkerSettings(concurrency=5, lease=1.0, stalled_interval=0.3, block_timeout=0.5, grace=5)


async def until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Await a condition checked against the backend, re-checking as events arrive."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
