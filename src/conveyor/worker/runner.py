"""Run one handler where it belongs: on the loop, in a thread, or in a process.

Threads and processes are the worker's own: a handler still running when the worker
gives up on it (lease lost, timeout, grace period over) cannot be interrupted, so the
threads are daemons and the pool's processes are terminated at close; either way the
worker process can exit, and the job is recovered elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..task import Task
from .context import JobContext, ProcessJob, SyncJobContext


def _call_in_process(module: str, qualname: str, job: ProcessJob[Any]) -> Any:
    """Look the handler up by name in the child (the module attribute may be the Task)."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    fn = target.fn if isinstance(target, Task) else target
    return fn(job)


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
        self._processes_size = processes or os.cpu_count() or 1
        self._processes: ProcessPoolExecutor | None = None

    async def run(self, task: Task[Any, Any], ctx: JobContext[Any]) -> Any:
        if task.kind == "async":
            return await task.fn(ctx)
        loop = asyncio.get_running_loop()
        if task.kind == "thread":
            return await self._threads.submit(task.fn, SyncJobContext(ctx, loop))
        if self._processes is None:
            context = multiprocessing.get_context("forkserver")
            self._processes = ProcessPoolExecutor(self._processes_size, mp_context=context)
        job = ProcessJob(ctx.queue, ctx.id, ctx.name, ctx.data, ctx.attempts_made)
        fn = task.fn
        return await loop.run_in_executor(
            self._processes, _call_in_process, fn.__module__, fn.__qualname__, job
        )

    def close(self) -> None:
        self._threads.close()
        pool = self._processes
        if pool is not None:
            # Handlers still running were given up on: stop them, or the interpreter
            # waits for them at exit.
            children = getattr(pool, "_processes", None) or {}
            for process in list(children.values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
