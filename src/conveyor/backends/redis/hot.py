"""A lean, pipelined channel for the hot scripts (``add``, ``finish_and_fetch``).

Through redis-py's client each call takes a connection from the pool, wraps itself in
retry and observability layers, and its reply travels socket → stream reader → parser
task → caller: several turns of the event loop per round trip, more time than Redis
spends running the script. This channel has redis-py open ONE connection (so AUTH, TLS,
db selection, Sentinel and client options are redis-py's), then takes over its transport
with a small protocol: replies are parsed by hiredis in the transport's own callback and
handed straight to the waiting callers, in order. Concurrent callers share the
connection as a pipeline.

Every error reply is raised as the exception redis-py would raise for it (a ``LOADING``
reply is ``BusyLoadingError``, a ``ConnectionError``; ``NOSCRIPT`` is ``NoScriptError``),
so the backend translates both paths alike. If the connection fails, every request in
flight fails with a connection error, the connection is dropped, and the next call opens
a fresh one. A ``socket_timeout`` set in the URL bounds each call, as in redis-py.

Without a usable hiredis (see ``packing``) the channel sends through redis-py's own client
on the same pool: the same replies and errors, only slower; a warning says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from typing import Any

from redis import exceptions as rx
from redis._parsers.base import BaseParser
from redis.asyncio import Redis

from .packing import HIREDIS, NOT_ENOUGH_DATA, WHY_NO_HIREDIS

log = logging.getLogger("conveyor.redis")
_warned_plain = False


class _Replies(asyncio.Protocol):
    """Parses replies as bytes arrive and resolves the oldest waiting call for each."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.lost: BaseException | None = None
        self._transport = transport
        self._parser = HIREDIS.Reader(
            protocolError=rx.InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=NOT_ENOUGH_DATA,
        )
        self._paused: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        try:
            while (reply := self._parser.gets()) is not NOT_ENOUGH_DATA:
                future = self.pending.popleft()
                if future.done():  # its caller was cancelled; the reply is dropped
                    continue
                # replyError builds redis-py's exception for each error reply; not all are
                # ResponseErrors (LOADING, "max number of clients" are ConnectionErrors).
                if isinstance(reply, BaseException):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (rx.InvalidResponse, IndexError) as exc:
            # Bytes that are not RESP, or a reply nobody asked for: nothing after this
            # point can be matched to its caller, so the connection goes.
            self._fail_all(rx.ConnectionError(f"Redis sent an unexpected reply: {exc!r}"))
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(rx.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))
        self.resume_writing()

    def _fail_all(self, error: rx.ConnectionError) -> None:
        if self.lost is None:
            self.lost = error
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(self.lost)

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


def _get_connection_args(pool: Any) -> tuple[str, ...]:
    """What to pass to ``pool.get_connection``: redis-py < 5.3 requires a command name;
    5.3 made it optional and warns (DeprecationWarning) when any argument is given."""
    try:
        param = inspect.signature(pool.get_connection).parameters.get("command_name")
    except (TypeError, ValueError):  # not introspectable: assume the current signature
        return ()
    if param is not None and param.default is inspect.Parameter.empty:
        return ("EVALSHA",)
    return ()


def _plain_client(pool: Any) -> Redis:
    """redis-py's client on ``pool``, for when hiredis is missing. Its retries are the
    pool's connections' own, which ``connection`` pins to none."""
    global _warned_plain
    if not _warned_plain:
        _warned_plain = True
        log.warning(
            "%s: the Redis backend sends its hot scripts through redis-py's plain path,"
            " which works but costs CPU per job; install it with: pip install 'redis[hiredis]'",
            WHY_NO_HIREDIS,
        )
    return Redis(connection_pool=pool)


class HotChannel:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        # redis-py types replies as "Awaitable[T] | T"; as in the backend, Any.
        self._plain: Any = _plain_client(pool) if HIREDIS is None else None
        self._conn: Any = None
        self._transport: asyncio.Transport | None = None
        self._replies: _Replies | None = None
        self._timeout: float | None = None
        self._opening: asyncio.Lock | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (error replies raise, as in redis-py)."""
        if self._plain is not None:
            return await self._plain.execute_command(*args)
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._open()
        assert self._transport is not None
        # Packed before the caller joins the queue of replies: an argument that cannot be
        # packed raises here with nothing sent, instead of leaving a future that would
        # take the next caller's reply.
        packed = HIREDIS.pack_command(args)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        replies.pending.append(future)
        self._transport.write(packed)
        if self._timeout is None:
            await replies.drained()
            return await future
        try:
            async with asyncio.timeout(self._timeout):
                await replies.drained()
                return await future
        except TimeoutError:
            raise rx.TimeoutError(f"Timeout reading from Redis ({self._timeout}s)") from None

    async def _open(self) -> _Replies:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._replies is None or self._replies.lost is not None:
                await self._drop()
                conn = await self._pool.get_connection(*_get_connection_args(self._pool))
                transport = conn._writer.transport  # redis-py has done the handshake
                replies = _Replies(transport)
                transport.set_protocol(replies)
                self._conn, self._transport, self._replies = conn, transport, replies
                self._timeout = getattr(conn, "socket_timeout", None)
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
