"""A blocking facade for producers and admin calls from sync code (Django, Flask, scripts).

Every method is generated from the async one it wraps (``_blocking``), so the two cannot
drift apart: a call runs on a private event loop in a daemon thread, shared by all sync
objects of the process, and blocks the caller until it returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from .job import Job
from .queue import Queue

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Portal:
    """One event loop on a daemon thread; coroutines are submitted to it and awaited."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="conveyor-sync", daemon=True)
        thread.start()

    def call(self, coro: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_portal: _Portal | None = None
_portal_lock = threading.Lock()


def portal() -> _Portal:
    global _portal
    with _portal_lock:
        if _portal is None:
            _portal = _Portal()
        return _portal


def _blocking(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Any, P], R]:
    """Make a blocking method from an async one of the wrapped object (``self._inner``)."""

    def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return portal().call(method(self._inner, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


def _wrapping_jobs(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, Any]],
) -> Callable[Concatenate[Any, P], Any]:
    """Like ``_blocking``, wrapping returned ``Job`` handles (alone or in a list) as SyncJob."""

    def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        result = portal().call(method(self._inner, *args, **kwargs))
        if isinstance(result, Job):
            return SyncJob(result)
        if isinstance(result, list):
            return [SyncJob(r) if isinstance(r, Job) else r for r in result]
        return result

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class SyncJob(Generic[R]):
    """Blocking twin of ``conveyor.Job``; attributes read the last snapshot.

    What ``SyncQueue`` returns for a job: its properties (``id``, ``state``, ``data``,
    ``result``, ``progress``, ``errors``, ...) are the ``Job``'s, and its calls block.
    """

    def __init__(self, inner: Job[R]) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        # Snapshot properties only (id, state, data, result, errors, ...); calls are below.
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return repr(self._inner)

    refresh = _wrapping_jobs(Job.refresh)
    get_state = _blocking(Job.get_state)
    logs = _blocking(Job.logs)
    remove = _blocking(Job.remove)
    retry = _blocking(Job.retry)
    promote = _blocking(Job.promote)
    change_priority = _blocking(Job.change_priority)
    update_data = _blocking(Job.update_data)
    wait = _blocking(Job.wait)
    get_parent = _wrapping_jobs(Job.get_parent)
    children_values = _blocking(Job.children_values)
    children_failures = _blocking(Job.children_failures)
    pending_children = _blocking(Job.pending_children)


class SyncQueue:
    """Blocking twin of ``conveyor.Queue``, for code without an event loop.

    ``SyncQueue("emails")`` builds its own queue; ``SyncQueue.wrap(queue)`` shares the
    registry (job names and payload types) and defaults of an async queue defined
    elsewhere, on its own connection (connections belong to one event loop).
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        self._inner = portal().call(_build(name, kwargs))

    @classmethod
    def wrap(cls, queue: Queue) -> SyncQueue:
        """A blocking twin of ``queue`` that shares its job names, payload types and
        defaults, on a connection of its own."""
        wrapped = cls.__new__(cls)
        wrapped._inner = portal().call(_twin(queue))
        return wrapped

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._inner.name

    @property
    def queue(self) -> Queue:
        """The async queue behind it, bound to the facade's private event loop: use it
        for its registry and settings, not for awaiting calls from another loop."""
        return self._inner

    add = _wrapping_jobs(Queue.add)
    add_bulk = _wrapping_jobs(Queue.add_bulk)
    get_job = _wrapping_jobs(Queue.get_job)
    get_jobs = _wrapping_jobs(Queue.get_jobs)
    counts = _blocking(Queue.counts)
    tree = _blocking(Queue.tree)
    is_paused = _blocking(Queue.is_paused)
    pause = _blocking(Queue.pause)
    resume = _blocking(Queue.resume)
    drain = _blocking(Queue.drain)
    clean = _blocking(Queue.clean)
    obliterate = _blocking(Queue.obliterate)
    remove = _blocking(Queue.remove)
    retry = _blocking(Queue.retry)
    promote = _blocking(Queue.promote)
    change_priority = _blocking(Queue.change_priority)
    update_data = _blocking(Queue.update_data)
    close = _blocking(Queue.close)


async def _build(name: str, kwargs: dict[str, Any]) -> Queue:
    return Queue(name, **kwargs)


async def _twin(queue: Queue) -> Queue:
    twin = Queue(
        queue.name,
        backend=queue.backend.clone(),
        defaults=queue.defaults,
        max_payload_bytes=queue.max_payload_bytes,
        clock=queue.clock,
    )
    twin.tasks = queue.tasks
    twin.declared = queue.declared
    return twin
