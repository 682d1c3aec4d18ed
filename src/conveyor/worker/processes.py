"""Child processes for ``cpu_bound`` handlers: one job at a time each, stopped when given up.

A ``ProcessPoolExecutor`` cannot stop the call of one future: a handler past its timeout
(or whose lease was lost, or still running when the grace period ends) would run on in
its pool process, holding a core and finishing work nobody will store. Here each child
runs one job at a time over its own pipe, so giving up on a job terminates exactly the
process running it; the next job starts a fresh one. The same pipe carries the
handler's ``job.update_progress()`` and ``job.log()`` to the worker, which stores them
before it answers, so they are in order with the result.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import multiprocessing.connection
import pickle
from typing import TYPE_CHECKING, Any

from ..task import Task
from .context import ProcessJob

if TYPE_CHECKING:
    from .context import JobContext

_CONTEXT = multiprocessing.get_context("forkserver")
"""Children start from a clean server process, not a fork of a threaded worker."""


class ProcessSlots:
    """Up to ``size`` child processes, started when needed and kept while they are sound."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._free: asyncio.Semaphore | None = None

    async def run(self, module: str, qualname: str, ctx: JobContext[Any]) -> Any:
        """Run the handler ``module:qualname`` on ``ctx``'s job in a child process."""
        if self._free is None:
            self._free = asyncio.Semaphore(self._size)
        async with self._free:
            child = self._idle.pop() if self._idle else _Child.start()
            self._busy.add(child)
            try:
                result = await child.run(module, qualname, ctx)
            except BaseException:
                self._busy.discard(child)
                child.stop()  # given up on (timeout, lost lease, shutdown) or broken
                raise
            self._busy.discard(child)
            self._idle.append(child)
            return result

    def close(self) -> None:
        """Stop every child: an idle one at once, a busy one's job is given up on."""
        for child in [*self._idle, *self._busy]:
            child.stop()
        self._idle.clear()
        self._busy.clear()


class _Child:
    def __init__(self, process: Any, conn: multiprocessing.connection.Connection) -> None:
        self.process = process
        self.conn = conn

    @classmethod
    def start(cls) -> _Child:
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, args=(child,), daemon=True)
        process.start()
        child.close()
        return cls(process, parent)

    async def run(self, module: str, qualname: str, ctx: JobContext[Any]) -> Any:
        job = (ctx.queue, ctx.id, ctx.name, ctx.data, ctx.attempts_made)
        self.conn.send((module, qualname, job))
        while True:
            try:
                kind, value = await asyncio.to_thread(self.conn.recv)
            except EOFError:  # the process died under the handler (killed, a crash)
                self.process.join(timeout=5)
                raise RuntimeError(
                    f"the process running the cpu_bound handler died"
                    f" (exit code {self.process.exitcode})"
                ) from None
            if kind == "ok":
                return value
            if kind == "error":
                raise value
            await self._report(ctx, kind, value)

    async def _report(self, ctx: JobContext[Any], kind: str, value: Any) -> None:
        """Store a progress or log call of the handler, and answer it: an error raised
        here (the job was removed meanwhile) is raised in the handler too."""
        try:
            if kind == "progress":
                await ctx.update_progress(value)
            else:
                await ctx.log(value)
        except Exception as exc:  # the handler decides what to do with it
            self.conn.send(("error", exc))
        else:
            self.conn.send(("ok", None))

    def stop(self) -> None:
        """Kill the process first: a thread still waiting on the pipe then reads its end,
        and only then is the pipe closed (closing it under that thread could hand its
        file descriptor to another file)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """The child's loop: one job at a time until the worker closes the pipe."""
    while True:
        try:
            module, qualname, fields = conn.recv()
        except (EOFError, OSError):
            return
        queue, job_id, name, data, attempts_made = fields
        job = ProcessJob(queue, job_id, name, data, attempts_made, _channel=conn)
        try:
            reply: tuple[str, Any] = ("ok", _call(module, qualname, job))
        except BaseException as exc:
            reply = ("error", exc)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # not picklable
            what = "exception" if reply[0] == "error" else "return value"
            conn.send(("error", RuntimeError(
                f"the handler's {what} cannot be sent back to the worker: {exc!r}"
            )))


def _call(module: str, qualname: str, job: ProcessJob[Any]) -> Any:
    """Look the handler up by name in the child (the module attribute may be the Task)."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    fn = target.fn if isinstance(target, Task) else target
    return fn(job)
