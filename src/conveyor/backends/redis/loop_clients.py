"""One set of Redis connections per event loop, so that a backend works from any loop.

redis-py's asyncio connections belong to the loop that opened them: a module-level queue
used from two ``asyncio.run()`` calls (or from pytest's per-test loops) would otherwise
fail with "attached to a different loop" and then "Event loop is closed". Each loop gets
its own client, scripts and hot channel, made on first use there; a loop that ends closes
its own (a watcher task, cancelled by ``asyncio.run`` as the loop shuts down, closes them
while the loop can still run the close), so nothing is left to leak a socket.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from . import connection
from .hot import HotChannel
from .packing import use_hiredis_packing
from .scripts import SCRIPT_NAMES, source


@dataclass
class LoopClient:
    """The connections of one event loop: a redis-py client (typed Any: redis-py types
    every reply as ``Awaitable[T] | T``, which no caller can use), its registered scripts,
    the lean hot channel (None for a cluster client, which has a pool per node) and any
    helper clients (Sentinel's) to close with it."""

    client: Any
    scripts: dict[str, AsyncScript]
    hot: HotChannel | None
    helpers: list[Redis] = field(default_factory=list)
    watcher: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, target: connection.RedisTarget) -> LoopClient:
        client, helpers = connection.connect(target)
        use_hiredis_packing(client)
        scripts = {name: client.register_script(source(name)) for name in SCRIPT_NAMES}
        pool = getattr(client, "connection_pool", None)
        return cls(client, scripts, HotChannel(pool) if pool is not None else None, helpers)

    async def aclose(self) -> None:
        if self.hot is not None:
            await self.hot.close()
        await self.client.aclose()
        for helper in self.helpers:
            await helper.aclose()


class LoopClients:
    """The ``LoopClient`` of the running loop, made on first use in each loop."""

    def __init__(self, target: connection.RedisTarget) -> None:
        self._target = target
        self._unused: LoopClient | None = LoopClient.build(target)
        """Built at once, so that a URL redis-py refuses fails in the constructor; the
        first loop to use the backend takes it (connections open on first use)."""
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[asyncio.AbstractEventLoop, LoopClient] | None = None

    def current(self) -> LoopClient:
        """The running loop's connections (a dict lookup only when the loop changed)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        found = self._by_loop.get(loop)
        if found is None:
            found, self._unused = self._unused or LoopClient.build(self._target), None
            self._by_loop[loop] = found
            found.watcher = loop.create_task(self._close_when_loop_ends(loop, found))
        self._last = (loop, found)
        return found

    async def _close_when_loop_ends(
        self, loop: asyncio.AbstractEventLoop, client: LoopClient
    ) -> None:
        try:
            await loop.create_future()  # resolved by nobody: ends when cancelled
        finally:
            if self._forget(loop, client):  # not closed by aclose() already
                await client.aclose()

    def _forget(self, loop: asyncio.AbstractEventLoop, client: LoopClient) -> bool:
        """Drop ``client`` from the registry; False when it was dropped already."""
        if self._last is not None and self._last[1] is client:
            self._last = None
        if self._by_loop.get(loop) is not client:
            return False
        del self._by_loop[loop]
        return True

    async def aclose(self) -> None:
        """Close the running loop's connections, and stop the watcher that would have."""
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        if client is None or not self._forget(loop, client):
            return
        if client.watcher is not None:
            client.watcher.cancel()
        await client.aclose()
