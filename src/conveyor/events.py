"""Following a queue's event stream: an async iterator that can fix its start first.

``async with queue.events() as stream`` pins "only new events" to the moment the block
is entered, so a caller can start listening, then act, and miss nothing it caused.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from .backends.base import Backend, Event


class EventStream:
    """Events of one queue, oldest first, following new ones as they come.

    ``after`` is an event id, ``"0"`` (the oldest kept) or ``"$"`` (only events after the
    stream starts: on entering ``async with``, or at the first ``async for`` step).
    """

    def __init__(self, backend: Backend, queue: str, after: str, block_ms: int) -> None:
        self._backend = backend
        self._queue = queue
        self._cursor = after
        self._block_ms = max(1, block_ms)  # 0 would mean "forever" to some backends
        self._buffer: deque[Event] = deque()

    @property
    def cursor(self) -> str:
        """The id of the last event returned (or the start point): resume from here."""
        return self._cursor

    async def start(self) -> EventStream:
        """Fix the start point now, if it is ``"$"``."""
        if self._cursor == "$":
            self._cursor = await self._backend.last_event_id(self._queue)
        return self

    async def __aenter__(self) -> EventStream:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._buffer.clear()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        await self.start()
        while not self._buffer:
            self._buffer.extend(
                await self._backend.read_events(self._queue, self._cursor, 500, self._block_ms)
            )
        event = self._buffer.popleft()
        self._cursor = event.event_id
        return event

    async def aclose(self) -> None:
        """Nothing to release (the connection belongs to the backend); kept for symmetry
        with async generators."""
        self._buffer.clear()
