"""Hold a private Redis (or Valkey) in its loading state, as after a restart, for as long
as a test needs.

``DEBUG RELOAD`` saves the dataset and loads it again; the server answers other clients
with ``-LOADING`` meanwhile. ``key-load-delay`` (a testing option of Redis ≥ 6 and Valkey)
stretches the load to minutes; setting it back to 0 lets the load end at once. The dataset
is random bytes (RDB compression cannot shrink it), so with
``loading-process-events-interval-bytes`` at its minimum the server answers after every
key it loads, promptly. Nothing here sleeps on a guess: it awaits ``loading:1`` in
``INFO persistence`` and the reload's own reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .redis_server import RedisServer

SERVER_OPTIONS = (
    "--enable-debug-command", "yes",
    "--loading-process-events-interval-bytes", "1024",
)
FILLER_KEYS = 3_000
KEY_LOAD_DELAY_US = 30_000  # 3,000 keys at 30 ms: 90 s of loading unless ended early


def loadable_server(binary: str) -> RedisServer:
    """A private server that ``loading`` can put into its loading state."""
    return RedisServer(binary, extra=SERVER_OPTIONS)


def _admin(server: RedisServer) -> Redis:
    # No retries (redis-py 6+ retries ConnectionErrors, LOADING among them, by default).
    return Redis(port=server.port, retry=Retry(NoBackoff(), 0), socket_timeout=None)


async def is_loading(admin: Redis) -> bool:
    info = await admin.info("persistence")
    return int(info["loading"]) == 1


@contextlib.asynccontextmanager
async def loading(server: RedisServer, timeout: float = 30.0) -> AsyncIterator[None]:
    """Inside the block the server is loading its dataset; on exit the load completes."""
    admin, reloader = _admin(server), _admin(server)
    try:
        if await admin.dbsize() < FILLER_KEYS:
            async with admin.pipeline(transaction=False) as pipe:
                for n in range(FILLER_KEYS):
                    pipe.set(f"loading-filler:{n}", os.urandom(2048))
                await pipe.execute()
        await admin.config_set("key-load-delay", KEY_LOAD_DELAY_US)
        reload = asyncio.ensure_future(reloader.execute_command("DEBUG", "RELOAD"))
        try:
            async with asyncio.timeout(timeout):
                while not await is_loading(admin):
                    assert not reload.done(), f"DEBUG RELOAD ended early: {reload.result()!r}"
                    await asyncio.sleep(0.005)  # INFO has no event to await
            yield
        finally:
            await admin.config_set("key-load-delay", 0)
            async with asyncio.timeout(timeout):
                assert await reload in (b"OK", "OK")
    finally:
        await admin.aclose()
        await reloader.aclose()
