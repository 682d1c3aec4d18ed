"""A worker process for the process tests: ``python -m tests.processes.worker_app``.

Configured by environment variables (set by ``tests.processes.harness.WorkerProcess``):
``RT_URL``, ``RT_QUEUE``, ``RT_LABEL`` (names this worker in records), ``RT_RECORDS`` (a
directory; each process appends one line per handler event to ``<label>-<pid>.log``) and
``RT_SETTINGS`` (JSON keyword arguments for ``WorkerSettings``).

Records are plain appends with one ``write`` each (O_APPEND), so a SIGKILL loses none that
were written, and they do not depend on the backend under test staying up (a Redis restart).
Handlers that wait for the test poll for a *gate* file the test creates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

from conveyor import JobContext, Queue, SyncJobContext, Worker, WorkerHooks, WorkerSettings

_fd = -1
_label = "?"


def record(
    event: str, job: JobContext[Any] | SyncJobContext[Any] | None, extra: str = ""
) -> None:
    """Append ``event job_id attempt label pid extra`` as one line."""
    job_id = job.id if job is not None else "-"
    attempt = job.attempts_made if job is not None else -1
    line = f"{event} {job_id} {attempt} {_label} {os.getpid()} {extra}\n"
    os.write(_fd, line.encode())


async def gate(path: str) -> None:
    """Wait for the test to create ``path`` (another process: no event to await here)."""
    while not os.path.exists(path):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def noop(job: JobContext[Any]) -> None:
    record("run", job)


async def gated(job: JobContext[dict[str, Any]]) -> str:
    """Start, then wait for the test's gate file; record a cancellation."""
    record("start", job)
    try:
        await gate(job.data["gate"])
    except asyncio.CancelledError:
        record("cancelled", job)
        raise
    record("done", job)
    return _label


def gated_sync(job: SyncJobContext[dict[str, Any]]) -> str:
    """``gated`` as a plain def, run in the worker's thread pool (it cannot be cancelled)."""
    record("start", job)
    while not os.path.exists(job.data["gate"]):
        time.sleep(0.02)
    record("done", job)
    return _label


async def stubborn(job: JobContext[dict[str, Any]]) -> str:
    """Like ``gated`` but swallows its cancellation and returns anyway (a handler that
    ignores cancellation): the worker then tries to complete a job it has lost."""
    record("start", job)
    try:
        await gate(job.data["gate"])
    except asyncio.CancelledError:
        record("cancelled", job)
        return f"stale:{_label}"
    record("done", job)
    return _label


async def sleepy(job: JobContext[dict[str, Any]]) -> str:
    """Sleep ``seconds`` on the event loop (a short I/O-like wait)."""
    record("start", job)
    await asyncio.sleep(job.data["seconds"])
    record("done", job)
    return _label


async def blocking(job: JobContext[dict[str, Any]]) -> str:
    """Block the event loop: ``time.sleep`` or a pure-Python CPU spin (the mistake the
    worker must survive)."""
    record("start", job)
    seconds = job.data["seconds"]
    if job.data.get("cpu"):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    else:
        time.sleep(seconds)
    record("done", job)
    return _label


async def slow_first(job: JobContext[dict[str, Any]]) -> str:
    """Sleep ``seconds`` on attempts listed in ``slow_attempts``; else return at once."""
    record("start", job)
    try:
        if job.attempts_made in job.data["slow_attempts"]:
            await asyncio.sleep(job.data["seconds"])
    except asyncio.CancelledError:
        record("cancelled", job)
        raise
    record("done", job)
    return _label


async def chatty(job: JobContext[None]) -> str:
    """Talk to the backend without pause until cancelled: a timeout or a lost lease lands
    in the middle of a backend call, where a careless client can swallow it."""
    record("start", job)
    n = 0
    try:
        while True:
            n += 1
            await job.update_progress(n)
    except asyncio.CancelledError:
        record("cancelled", job)
        raise


HANDLERS = (chatty, noop, gated, gated_sync, stubborn, sleepy, blocking, slow_first)


class Announce(WorkerHooks):
    async def on_worker_start(self, worker: Worker) -> None:
        record("ready", None)

    async def on_worker_stop(self, worker: Worker) -> None:
        record("stopped", None)


async def serve() -> None:
    queue = Queue(os.environ["RT_QUEUE"], url=os.environ["RT_URL"])
    for handler in HANDLERS:
        queue.job()(handler)
    settings = WorkerSettings(**json.loads(os.environ.get("RT_SETTINGS", "{}")))
    await Worker(queue, settings=settings, hooks=[Announce()]).run()
    await queue.close()


def main() -> None:
    global _fd, _label
    _label = os.environ.get("RT_LABEL", "worker")
    path = os.path.join(os.environ["RT_RECORDS"], f"{_label}-{os.getpid()}.log")
    _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s",
    )
    asyncio.run(serve())


if __name__ == "__main__":
    main()
