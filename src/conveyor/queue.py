"""The queue facade: validate, serialize and apply defaults once, then call the backend."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Unpack, overload

from . import payloads
from .backends import from_url
from .backends.base import Backend, JobRecord, NewJob, OnFailure
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    ConfigurationError,
    InvalidOptionsError,
    InvalidStateError,
    Refusal,
    UnknownJobNameError,
)
from .events import EventStream
from .flows import JobTree, read_tree
from .job import Job
from .options import (
    QUEUE_NAME,
    STATES,
    JobOptions,
    JobOverrides,
    JobState,
    Seconds,
    resolve,
    to_ms,
)
from .selection import BATCH, FailedFilter, Moment, matching_failed
from .serialization import dump_options
from .task import Task, handler_kind
from .wakeup import notify_local

R = TypeVar("R")
T = TypeVar("T")

DEFAULT_MAX_PAYLOAD = 512 * 1024
OBLITERATE_CHUNK = 5000
"""Jobs deleted per storage call by ``obliterate``."""


@dataclass(frozen=True, slots=True)
class BulkJob:
    """One entry of ``add_bulk``: the job's name, payload, optional id and option overrides."""

    name: str
    """The job name (a handler registered for it, or a declared name)."""
    data: Any = None
    """The payload, validated like ``add``'s."""
    job_id: str | None = None
    """An id of your own (not all digits); an existing one is returned, not stored again."""
    options: JobOverrides = field(default_factory=JobOverrides)
    """Option overrides, as the keywords of ``add`` (``{"priority": 5}``)."""


def _check_text(value: str, what: str) -> None:
    """Refuse a str that has no UTF-8 form (a lone surrogate, e.g. from a file name read
    with surrogateescape): no backend can store it, and each would fail its own way."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidOptionsError(f"{what} {value!r} is not valid UTF-8 text: {exc}") from None


class Register(Generic[T]):
    """The decorator ``Queue.job()`` returns; typed so that ``Task[T, R]`` follows the
    handler's payload and return types (for ``async def`` the awaited type)."""

    def __init__(
        self, queue: Queue, name: str | None, payload: type[T] | None, cpu_bound: bool
    ) -> None:
        self._queue, self._name, self._payload, self._cpu_bound = queue, name, payload, cpu_bound

    @overload
    def __call__(self, fn: Callable[..., Coroutine[Any, Any, R]]) -> Task[T, R]: ...
    @overload
    def __call__(self, fn: Callable[..., R]) -> Task[T, R]: ...
    def __call__(self, fn: Callable[..., Any]) -> Task[T, Any]:
        return self._queue._register(self._name or fn.__name__, fn, self._payload, self._cpu_bound)


class Queue:
    """A named queue on a backend; also the registry of the job names it handles.

    ``url`` (or ``CONVEYOR_URL``, or the SQLite default) picks the backend; pass
    ``backend`` to share one connection between several queues.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str | None = None,
        backend: Backend | None = None,
        defaults: JobOptions | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(name, str) or not QUEUE_NAME.match(name):
            raise ConfigurationError(
                f"queue name {name!r} must be 1-200 letters, digits, '.', '_' or '-'"
            )
        self.name = name
        """The queue's name (part of its storage keys)."""
        self.backend = backend if backend is not None else from_url(url)
        """The storage this queue lives on; workers and other queues may share it."""
        self.defaults = defaults if defaults is not None else JobOptions()
        """Options for every job added here, unless the ``add`` overrides them."""
        self.max_payload_bytes = max_payload_bytes
        """``add`` refuses a larger encoded payload with ``PayloadTooLargeError``."""
        self.clock = clock
        """Where "now" comes from (the system clock, or a ``ManualClock`` in tests)."""
        self.tasks: dict[str, Task[Any, Any]] = {}
        """The handlers registered here, by job name."""
        self.declared: set[str] = set()
        """Job names handled by other processes, accepted by ``add`` (see ``declare``)."""

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} on {self.backend.url}>"

    # -- registry --------------------------------------------------------------------
    @overload
    def job(
        self, name: str | None = None, *, payload: None = None, cpu_bound: bool = False
    ) -> Register[Any]: ...
    @overload
    def job(
        self, name: str | None = None, *, payload: type[T], cpu_bound: bool = False
    ) -> Register[T]: ...
    def job(
        self,
        name: str | None = None,
        *,
        payload: type[T] | None = None,
        cpu_bound: bool = False,
    ) -> Register[T] | Register[Any]:
        """Register a handler for a job name (the function's name by default).

        Used as a decorator, it returns a ``Task`` whose ``add`` is typed by the handler.
        ``payload`` declares the payload type (a dataclass, ``msgspec.Struct`` or pydantic
        model): ``add`` validates against it and the handler receives that type.
        ``cpu_bound=True`` runs a plain ``def`` handler in a process pool.
        """
        return Register(self, name, payload, cpu_bound)

    def _register(
        self, name: str, fn: Callable[..., Any], payload: type[Any] | None, cpu_bound: bool
    ) -> Task[Any, Any]:
        if name in self.tasks:
            raise ConfigurationError(f"job name {name!r} is already registered on {self}")
        task: Task[Any, Any] = Task(self, name, fn, payload, handler_kind(fn, cpu_bound))
        self.tasks[name] = task
        return task

    def declare(self, *names: str) -> None:
        """Accept ``names`` in ``add`` although no handler for them is registered here.

        A queue whose handlers are registered in this process refuses other names with
        ``UnknownJobNameError`` (a typo would otherwise fail later, on the worker, as an
        unknown job). A producer that registers some handlers and adds jobs that workers
        elsewhere handle declares those::

            reports.declare("rebuild_sitemap", "refresh_fx_rates")
        """
        for name in names:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"a job name is a non-empty string, got {name!r}")
        self.declared.update(names)

    def payload_type(self, job_name: str) -> type[Any] | None:
        """The payload type declared for ``job_name`` here, or None."""
        task = self.tasks.get(job_name)
        return None if task is None else task.payload

    def decode_payload(self, job_name: str, raw: bytes) -> Any:
        """Stored payload bytes as the handler would receive them (in the declared type)."""
        return payloads.decode(job_name, self.payload_type(job_name), raw)

    def _sibling(self, name: str) -> Queue:
        """A queue named ``name`` on this backend (a flow's parent or child), or this one."""
        if name == self.name:
            return self
        return Queue(name, backend=self.backend, clock=self.clock)

    # -- producing -------------------------------------------------------------------
    def _new_job(
        self, name: str, data: Any, job_id: str | None, overrides: JobOverrides
    ) -> tuple[NewJob, JobOptions]:
        if not isinstance(name, str) or not name:
            raise InvalidOptionsError(f"job name must be a non-empty string, got {name!r}")
        _check_text(name, "job name")
        if self.tasks and name not in self.tasks and name not in self.declared:
            known = sorted([*self.tasks, *self.declared])
            raise UnknownJobNameError(queue=self.name, job_name=name, known=known)
        if job_id is not None and (not isinstance(job_id, str) or not job_id or job_id.isdigit()):
            raise InvalidOptionsError(
                f"job_id must be a non-empty string that is not all digits (those are"
                f" generated ids), got {job_id!r}"
            )
        if job_id is not None:
            _check_text(job_id, "job_id")
        options = resolve(self.defaults, overrides)
        raw = payloads.encode(name, self.payload_type(name), data, self.max_payload_bytes)
        delay_ms = to_ms(options.delay, "delay")
        dedup = options.dedup
        if dedup is not None and dedup.mode == "debounce" and not delay_ms:
            delay_ms = dedup.ttl_ms  # a debounced job waits out its window
        new = NewJob(
            name=name,
            data=raw,
            options=dump_options(options),
            job_id=job_id,
            priority=options.priority,
            delay_ms=delay_ms,
            lifo=options.lifo,
            dedup_key="" if dedup is None else dedup.key,
            dedup_mode="" if dedup is None else dedup.mode,
            dedup_ttl_ms=0 if dedup is None else dedup.ttl_ms,
        )
        return new, options

    def _handle(
        self,
        new: NewJob,
        job_id: str,
        now: int,
        *,
        state: JobState | None = None,
        parent: str | None = None,
        on_failure: OnFailure = "fail",
    ) -> Job[Any]:
        if state is None:
            state = "delayed" if new.delay_ms else "prioritized" if new.priority else "waiting"
        record = JobRecord(
            queue=self.name,
            job_id=job_id,
            name=new.name,
            data=new.data,
            options=new.options,
            state=state,
            timestamp=now,
            delay_ms=new.delay_ms,
            priority=new.priority,
            parent=parent,
            on_failure=on_failure,
        )
        return Job(self, record, created=True)

    async def add(
        self,
        name: str,
        data: Any = None,
        *,
        job_id: str | None = None,
        **options: Unpack[JobOverrides],
    ) -> Job[Any]:
        """Store one job (one round trip). With a ``job_id`` that already exists, nothing
        is stored and the existing job is returned; ``job.created`` tells the two apart."""
        new, _ = self._new_job(name, data, job_id, options)
        now = self.clock.now_ms()
        (result,) = await self.backend.add(self.name, [new], now)
        notify_local(self.backend.url, self.name)
        if not result.created:
            return await self._existing(result.job_id, result.deduplicated)
        return self._handle(new, result.job_id, now)

    async def add_bulk(self, jobs: Iterable[BulkJob]) -> list[Job[Any]]:
        """Store many jobs in one atomic step: all of them, or none; each handle's
        ``created`` says whether this call stored it."""
        entries = [self._new_job(j.name, j.data, j.job_id, j.options)[0] for j in jobs]
        if not entries:
            return []
        now = self.clock.now_ms()
        results = await self.backend.add(self.name, entries, now)
        notify_local(self.backend.url, self.name)
        handles = []
        for new, result in zip(entries, results, strict=True):
            if result.created:
                handles.append(self._handle(new, result.job_id, now))
            else:
                handles.append(await self._existing(result.job_id, result.deduplicated))
        return handles

    async def _existing(self, job_id: str, deduplicated: bool = False) -> Job[Any]:
        record = await self.backend.get_job(self.name, job_id)
        if record is None:  # removed between the add and this read
            raise Refusal.JOB_NOT_FOUND.error(queue=self.name, job_id=job_id, action="read")
        return Job(self, record, created=False, deduplicated=deduplicated)

    # -- reading ---------------------------------------------------------------------
    async def get_job(self, job_id: str) -> Job[Any] | None:
        """The job with this id as it is now, or None when there is none (never added,
        removed, or trimmed by retention)."""
        record = await self.backend.get_job(self.name, job_id)
        return None if record is None else Job(self, record)

    async def get_jobs(
        self,
        state: JobState,
        *,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[Job[Any]]:
        """A page of jobs in one state.

        Finished jobs are ordered by finish time, delayed ones by due time, prioritized
        ones by priority and waiting ones in the order workers will take them;
        ``newest_first=False`` lists them in that order, the default from the other end.
        """
        if state not in STATES:
            raise InvalidOptionsError(f"unknown state {state!r}; expected one of {STATES}")
        if offset < 0 or limit < 1:
            raise InvalidOptionsError("offset must be >= 0 and limit >= 1")
        records = await self.backend.get_jobs(self.name, state, offset, limit, newest_first)
        return [Job(self, r) for r in records]

    async def tree(self, job_id: str) -> JobTree:
        """The flow under a job: each node with its state now, children in id order.
        Raises ``JobNotFoundError`` when there is no such job."""
        found = await read_tree(self, job_id)
        if found.job is None:
            raise Refusal.JOB_NOT_FOUND.error(queue=self.name, job_id=job_id, action="read")
        return found

    async def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state, every state listed (read in one step)."""
        return await self.backend.counts(self.name)

    async def is_paused(self) -> bool:
        """Whether ``pause()`` holds the queue."""
        return await self.backend.is_paused(self.name)

    def events(self, *, after: str = "$", block: Seconds = 5.0) -> EventStream:
        """Follow the queue's event stream from ``after`` (``"$"``: only new events).

        ``async with queue.events() as stream:`` starts listening on entry, so events
        caused inside the block are all seen; ``async for event in stream`` reads them.
        """
        return EventStream(self.backend, self.name, after, to_ms(block, "block"))

    # -- admin -----------------------------------------------------------------------
    async def pause(self) -> None:
        """Stop workers from starting jobs of this queue; running jobs finish."""
        await self.backend.pause(self.name, True, self.clock.now_ms())

    async def resume(self) -> None:
        """Let workers start jobs again after ``pause()``; waiting workers wake at once."""
        await self.backend.pause(self.name, False, self.clock.now_ms())
        notify_local(self.backend.url, self.name)

    async def drain(self, *, include_delayed: bool = False) -> int:
        """Remove every job that has not started; return how many.

        Waiting and prioritized jobs are removed; delayed ones too with
        ``include_delayed=True``. Active and finished jobs stay.
        """
        return await self.backend.drain(self.name, include_delayed, self.clock.now_ms())

    async def clean(
        self, state: JobState, *, older_than: Seconds = 0, limit: int = 1000
    ) -> list[str]:
        """Remove up to ``limit`` jobs in ``state`` older than ``older_than`` seconds;
        return their ids. Active jobs cannot be cleaned (their workers own them).

        Flows stay whole: a removed job leaves its parent, and a removed parent takes the
        children it still waits for with it; a parent waiting for an active child is
        skipped."""
        if state not in STATES or state == "active":
            raise InvalidOptionsError(f"cannot clean jobs in state {state!r}")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidOptionsError(f"limit must be an int of 1 or more, got {limit!r}")
        cutoff = self.clock.now_ms() - to_ms(older_than, "older_than")
        stored: JobState = "waiting" if state == "paused" else state  # paused: waiting jobs
        return await self.backend.clean(self.name, stored, cutoff, limit)

    async def obliterate(self, *, force: bool = False) -> None:
        """Delete the queue and all its jobs; refuses while jobs run unless ``force``.

        A chunk of ``OBLITERATE_CHUNK`` jobs per call, so that a large queue never holds
        the storage for long; the first call pauses the queue so nothing starts meanwhile.
        Generated ids go on from where they were: an obliterated queue never reuses one.
        """
        while True:
            left = await self.backend.obliterate(self.name, force, OBLITERATE_CHUNK)
            if left == Refusal.INVALID_STATE:
                raise InvalidStateError(
                    f"cannot obliterate queue {self.name!r} while jobs are active (use force)",
                    queue=self.name,
                    job_id="*",
                    state="active",
                )
            if left == 0:
                return

    async def remove(self, job_id: str) -> None:
        """Delete one job and its logs. Raises ``JobNotFoundError`` when there is no such
        job and ``InvalidStateError`` while it is active (its worker owns it).

        In a flow, a job that had not finished leaves its parent (which runs once its
        other children are done), and a parent takes the children it still waits for
        with it, in any queue; while one of those is active it raises
        ``InvalidStateError`` and removes nothing."""
        code = await self.backend.remove(self.name, job_id, self.clock.now_ms())
        self._check(code, job_id, "remove")

    async def retry(
        self,
        job_id: str | None = None,
        *,
        name: str | None = None,
        id_prefix: str | None = None,
        failed_after: Moment | None = None,
        failed_before: Moment | None = None,
    ) -> int:
        """Retry one failed job, or every failed job when no id is given; return how many.

        A retried job waits again with a fresh set of attempts; its error records stay.
        Retrying a job that is not failed raises ``InvalidStateError``. In a flow, a
        retried child is its parent's again, and a parent that its failure failed waits
        for it (and so up the tree); a parent retried while children are pending waits
        for them.

        The filters retry only the failed jobs that match all of those given: the job
        name ``name``, ids starting with ``id_prefix``, and when the job failed —
        ``failed_after`` (inclusive) and ``failed_before`` (exclusive), each a
        ``datetime`` (naive means local time) or ms since the epoch like
        ``Job.finished_on``. They read the failed jobs page by page and move the matches
        in batches, oldest failure first; a job that fails meanwhile is not chased.
        """
        scope = FailedFilter.of(
            name=name, id_prefix=id_prefix, failed_after=failed_after, failed_before=failed_before
        )
        if scope:
            if job_id is not None:
                raise InvalidOptionsError("retry takes a job id or filters, not both")
            found = await matching_failed(self.backend, self.name, scope)
            moved = 0
            for start in range(0, len(found), BATCH):
                batch = found[start : start + BATCH]
                moved += await self.backend.retry(self.name, batch, self.clock.now_ms())
            if moved:
                notify_local(self.backend.url, self.name)
            return moved
        ids: Sequence[str] | None = None if job_id is None else [job_id]
        moved = await self.backend.retry(self.name, ids, self.clock.now_ms())
        if job_id is not None and moved == 0:
            record = await self.backend.get_job(self.name, job_id)
            refusal = Refusal.JOB_NOT_FOUND if record is None else Refusal.INVALID_STATE
            raise refusal.error(
                queue=self.name,
                job_id=job_id,
                state=None if record is None else record.state,
                action="retry",
            )
        notify_local(self.backend.url, self.name)
        return moved

    async def promote(self, job_id: str) -> None:
        """Make a delayed job ready now; ``InvalidStateError`` when it is not delayed."""
        code = await self.backend.promote(self.name, job_id, self.clock.now_ms())
        self._check(code, job_id, "promote")
        notify_local(self.backend.url, self.name)

    async def change_priority(self, job_id: str, priority: int) -> None:
        """Set a job's priority (0 for none, up to 2,097,152). A job that waits moves to
        the back of its new line; in any other state it takes the priority when it next
        waits."""
        valid = isinstance(priority, int) and not isinstance(priority, bool)
        if not valid or not 0 <= priority <= 2_097_152:
            raise InvalidOptionsError(
                f"priority must be an int from 0 to 2097152, got {priority!r}"
            )
        code = await self.backend.change_priority(
            self.name, job_id, priority, self.clock.now_ms()
        )
        self._check(code, job_id, "change the priority of")

    async def update_data(self, job_id: str, data: Any) -> None:
        """Replace a job's payload, validated like ``add``'s. An attempt that is running
        keeps the data it was given; later attempts read the new one."""
        record = await self.backend.get_job(self.name, job_id)
        if record is None:
            raise Refusal.JOB_NOT_FOUND.error(queue=self.name, job_id=job_id, action="update")
        raw = payloads.encode(
            record.name, self.payload_type(record.name), data, self.max_payload_bytes
        )
        self._check(await self.backend.update_data(self.name, job_id, raw), job_id, "update")

    def _check(self, code: int, job_id: str, action: str) -> None:
        if code < 0:
            raise Refusal(code).error(queue=self.name, job_id=job_id, action=action)

    async def close(self) -> None:
        """Close the backend's connections (shared with other queues on that backend)."""
        await self.backend.close()
