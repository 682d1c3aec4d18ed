"""A lean, pipelined channel for the hot scripts (``add``, ``finish_and_fetch``).

Through redis-py's client each call takes a connection from the pool, wraps itself in
retry and observability layers, and its reply travels socket → stream reader → parser
task → caller: several turns of the event loop per round trip, more time than Redis
spends running the script. This channel has redis-py open ONE connection (so AUTH, TLS,
db selection, Sentinel and client options are redis-py's), then takes over its transport
with a small protocol: replies are parsed by hiredis in the transport's own callback and
handed straight to the waiting callers, in order. Concurrent callers share the
connection as a pipeline.

If the connection fails, every request in flight fails with a connection error, the
connection is dropped, and the next call opens a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import hiredis
from redis import exceptions as rx
from redis._parsers.base import BaseParser

_NOT_ENOUGH = object()


class _Replies(asyncio.Protocol):
    """Parses replies as bytes arrive and resolves the oldest waiting call for each."""

    def __init__(self) -> None:
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.lost: BaseException | None = None
        self._parser = hiredis.Reader(
            protocolError=rx.InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_NOT_ENOUGH,
        )
        self._paused: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not _NOT_ENOUGH:
            future = self.pending.popleft()
            if future.done():  # its caller was cancelled; the reply is dropped
                continue
            if isinstance(reply, rx.ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = rx.ConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(self.lost)
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._paused is None:
            self._paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)

    async def drained(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._paused is not None:
            await self._paused


class HotChannel:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._conn: Any = None
        self._transport: asyncio.WriteTransport | None = None
        self._replies: _Replies | None = None
        self._opening: asyncio.Lock | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (error replies raise, as in redis-py)."""
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._open()
        assert self._transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        replies.pending.append(future)
        self._transport.write(hiredis.pack_command(args))
        await replies.drained()
        return await future

    async def _open(self) -> _Replies:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._replies is None or self._replies.lost is not None:
                await self._drop()
                conn = await self._pool.get_connection()
                transport = conn._writer.transport  # redis-py has done the handshake
                replies = _Replies()
                transport.set_protocol(replies)
                self._conn, self._transport, self._replies = conn, transport, replies
        assert self._replies is not None
        return self._replies

    async def _drop(self) -> None:
        conn, self._conn, self._transport = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)

    async def close(self) -> None:
        await self._drop()
        self._replies = None
