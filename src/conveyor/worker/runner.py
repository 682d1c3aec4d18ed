"""Run one handler where it belongs: on the loop, in a thread, or in a process.

Threads and processes are the worker's own. A thread still running a handler the worker
gave up on (lease lost, timeout, grace period over) cannot be interrupted, so threads
are daemons: the worker process can exit, and the job is recovered elsewhere. A child
process running such a handler is stopped (:mod:`.processes`).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..task import Task
from .context import JobContext, SyncJobContext
from .processes import ProcessSlots

_Call = tuple[Callable[[Any], Any], Any, "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class DaemonThreads:
    """Up to ``size`` daemon threads, started as needed, running calls for an event loop.

    Unlike ``ThreadPoolExecutor`` (whose threads the interpreter joins at exit), an
    abandoned call never keeps the process alive.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._calls.put((fn, arg, future, loop))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"conveyor-job-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return future

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, arg, future, loop = call
            if not future.cancelled():
                try:
                    result = fn(arg)
                except BaseException as exc:
                    outcome = (False, exc)
                else:
                    outcome = (True, result)
                try:
                    loop.call_soon_threadsafe(_settle, future, *outcome)
                except RuntimeError:  # the loop is closed: the worker is gone
                    return
            self._idle.release()

    def close(self) -> None:
        """Let idle threads end; a thread still in a handler finishes it, or dies with
        the process."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._calls.put(None)


class Runner:
    """Owns the thread and process pools; closes them when the worker stops."""

    def __init__(self, threads: int, processes: int | None) -> None:
        self._threads = DaemonThreads(threads)
        self._processes = ProcessSlots(processes or os.cpu_count() or 1)

    async def run(self, task: Task[Any, Any], ctx: JobContext[Any]) -> Any:
        if task.kind == "async":
            return await task.fn(ctx)
        if task.kind == "thread":
            loop = asyncio.get_running_loop()
            return await self._threads.submit(task.fn, SyncJobContext(ctx, loop))
        return await self._processes.run(task.fn.__module__, task.fn.__qualname__, ctx)

    def close(self) -> None:
        self._threads.close()
        self._processes.close()  # handlers still running were given up on: stop them
