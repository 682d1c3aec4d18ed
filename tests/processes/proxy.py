"""A TCP proxy in front of Redis that can lose one reply: the command reaches Redis and
runs, but the connection drops before its answer comes back (a network cut, a failover)."""

from __future__ import annotations

import asyncio
import contextlib


class ReplyDropper:
    """Forwards ``127.0.0.1:<port>`` to Redis; ``arm(marker)`` makes the next request that
    contains ``marker`` run on Redis with its reply thrown away and the client cut off.
    With ``reply_marker``, only a reply that contains it is lost (e.g. a fetch that took
    jobs, not an idle one); requests before it pass as usual."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self.dropped = 0
        self._marker: bytes | None = None
        self._reply_marker: bytes | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> ReplyDropper:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def arm(self, marker: bytes, reply_marker: bytes | None = None) -> None:
        self._marker = marker
        self._reply_marker = reply_marker

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _loses(self, reply: bytes, cut: asyncio.Event) -> bool:
        """Whether this reply, after an armed request, is the one to lose."""
        if cut.is_set() and self._reply_marker is not None:
            if self._reply_marker not in reply:
                cut.clear()  # not the reply to lose: look at the next one
            else:
                self._marker = self._reply_marker = None
        return cut.is_set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        cut = asyncio.Event()

        async def upstream() -> None:
            tail = b""
            while data := await reader.read(65536):
                window = tail + data
                tail = window[-128:]
                if self._marker is not None and self._marker in window:
                    if self._reply_marker is None:
                        self._marker = None
                    cut.set()
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if self._loses(data, cut):
                    self.dropped += 1
                    return  # the reply is lost; the client is cut off below
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Close both sockets before any await: a cancellation (the fixture closing
            # the proxy) can interrupt the waits below, and must not leave them open.
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    await w.wait_closed()
