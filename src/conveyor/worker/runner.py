"""Run one handler where it belongs: on the loop, in a thread, or in a process."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
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


class Runner:
    """Owns the thread and process pools; closes them when the worker stops."""

    def __init__(self, threads: int, processes: int | None) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="conveyor-job")
        self._processes_size = processes or os.cpu_count() or 1
        self._processes: ProcessPoolExecutor | None = None

    async def run(self, task: Task[Any, Any], ctx: JobContext[Any]) -> Any:
        if task.kind == "async":
            return await task.fn(ctx)
        loop = asyncio.get_running_loop()
        if task.kind == "thread":
            return await loop.run_in_executor(self._threads, task.fn, SyncJobContext(ctx, loop))
        if self._processes is None:
            context = multiprocessing.get_context("forkserver")
            self._processes = ProcessPoolExecutor(self._processes_size, mp_context=context)
        job = ProcessJob(ctx.queue, ctx.id, ctx.name, ctx.data, ctx.attempts_made)
        fn = task.fn
        return await loop.run_in_executor(
            self._processes, _call_in_process, fn.__module__, fn.__qualname__, job
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
