"""Damage a stored job record the way a bug, a hand edit or another program might.

Each kind of damage is written with the storage's own client (the one place in the
conformance suite that is storage-specific), so that the tests can check that conveyor
confines it to that one job on every backend.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from conveyor import Queue
from conveyor.backends.redis import RedisBackend
from conveyor.backends.redis.keys import QueueKeys
from conveyor.backends.sqlite import SQLiteBackend

HUGE = 10 * 1024 * 1024

async def _replace_with_string(client: Redis, key: str) -> None:
    await client.delete(key)
    await client.set(key, "not a hash")


_REDIS: dict[str, Callable[[Redis, str], Awaitable[object]]] = {
    "wrong-type": _replace_with_string,
    "missing-name": lambda r, key: r.hdel(key, "name"),
    "missing-timestamp": lambda r, key: r.hdel(key, "timestamp"),
    "garbled-attempts": lambda r, key: r.hset(key, "attemptsMade", "many"),
    "invalid-json": lambda r, key: r.hset(key, "data", b'{"broken'),
    "invalid-options": lambda r, key: r.hset(key, "opts", b"{nope"),
    "huge-blob": lambda r, key: r.hset(key, "data", os.urandom(HUGE)),
    "not-utf8": lambda r, key: r.hset(key, "name", b"\xff\xfe\x00bad"),
}

_SQLITE: dict[str, tuple[str, tuple[object, ...]]] = {
    # SQLite's columns take any type: the damage is a value of the wrong one.
    "wrong-type": ("timestamp = ?", (b"\x00\xff",)),
    "missing-name": ("name = ''", ()),
    "missing-timestamp": ("timestamp = ''", ()),
    "garbled-attempts": ("attempts_made = 'many'", ()),
    "invalid-json": ("data = ?", (b'{"broken',)),
    "invalid-options": ("opts = ?", (b"{nope",)),
    "huge-blob": ("data = ?", (os.urandom(HUGE),)),
    "not-utf8": ("name = CAST(x'fffe00626164' AS TEXT)", ()),
}

KINDS = sorted(_REDIS)
assert set(KINDS) == set(_SQLITE)


async def damage(queue: Queue, job_id: str, kind: str) -> None:
    backend = queue.backend
    if isinstance(backend, RedisBackend):
        client = Redis.from_url(backend.url)
        try:
            await _REDIS[kind](client, QueueKeys(backend.prefix, queue.name).job(job_id))
        finally:
            await client.aclose()
    elif isinstance(backend, SQLiteBackend):
        assignment, args = _SQLITE[kind]
        conn = sqlite3.connect(backend.path, isolation_level=None)
        try:
            conn.execute(
                f"UPDATE jobs SET {assignment} WHERE queue = ? AND id = ?",
                (*args, queue.name, job_id),
            )
        finally:
            conn.close()
    else:  # pragma: no cover - a new backend must say how to damage its records
        raise NotImplementedError(type(backend).__name__)
