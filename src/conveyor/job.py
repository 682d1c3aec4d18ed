"""Job handles: a snapshot of one stored job and the calls that act on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import JobFailedError, JobNotFoundError
from .options import JobOptions, JobState, Seconds, to_ms
from .serialization import load_options, loads

if TYPE_CHECKING:
    from .backends.base import Event, JobRecord
    from .flows import JobTree
    from .queue import Queue

R = TypeVar("R")

_FINAL_EVENTS = frozenset({"completed", "failed", "removed"})


@dataclass(frozen=True, slots=True)
class AttemptError:
    """What went wrong in one attempt, kept on the job for every attempt (``Job.errors``)."""

    attempt: int
    """The attempt's number, from 1."""
    type: str
    """The exception's class name (``ValueError``)."""
    message: str
    """``str()`` of the exception."""
    stack: str
    """The formatted traceback (at most its last 16,384 characters)."""
    at: int
    """When the attempt failed, in ms since the epoch."""


class Job(Generic[R]):
    """A stored job as last read; ``refresh()`` reads it again.

    ``R`` is the type of the handler's return value, so ``await job.wait()`` is typed.
    """

    __slots__ = ("_record", "created", "deduplicated", "queue")

    def __init__(
        self,
        queue: Queue,
        record: JobRecord,
        *,
        created: bool | None = None,
        deduplicated: bool = False,
    ) -> None:
        self.queue = queue
        """The queue the job is in; the handle's calls go through it."""
        self._record = record
        self.deduplicated = deduplicated
        """From ``add``: True when the add's ``Dedup`` key was held by this job, which is
        returned instead of a new one (for a debounce, with the add's data and a fresh
        delay). Such a handle has ``created`` False."""
        self.created = created
        """From ``add``/``add_bulk``: True when this call stored the job, False when a job
        with the caller's ``job_id`` already existed and was returned instead (in whatever
        state it is: completed, even). None on handles read with ``get_job``/``get_jobs``.

        A sync that must run again although an earlier one with the same id finished
        checks it::

            job = await queue.add("sync", data, job_id=f"sync-{store}")
            if not job.created and job.state in ("completed", "failed"):
                await job.remove()  # or pick another id: the old run's result stays
                job = await queue.add("sync", data, job_id=f"sync-{store}")
        """

    def __repr__(self) -> str:
        return f"<Job {self.queue.name}/{self.id} {self.name!r} {self.state}>"

    @property
    def id(self) -> str:
        """The job's id in its queue: generated (all digits) or the caller's ``job_id``."""
        return self._record.job_id

    @property
    def name(self) -> str:
        """The job name, which picks the handler."""
        return self._record.name

    @property
    def state(self) -> JobState:
        """The state when last read; ``await job.get_state()`` reads it now."""
        return self._record.state

    @property
    def data(self) -> Any:
        """The payload, decoded into the job name's declared type when there is one."""
        return self.queue.decode_payload(self.name, self._record.data)

    @property
    def raw_data(self) -> bytes:
        """The payload as stored (JSON bytes), for a reader that has no payload type."""
        return self._record.data

    @property
    def options(self) -> JobOptions:
        """The options stored with the job: the queue's defaults with the add's overrides."""
        return load_options(self._record.options)

    @property
    def attempts_made(self) -> int:
        """Attempts that have ended (0 until the first one ends; ``retry()`` resets it)."""
        return self._record.attempts_made

    @property
    def stalled_count(self) -> int:
        """How often the job was recovered after its worker's lease lapsed."""
        return self._record.stalled_count

    @property
    def timestamp(self) -> int:
        """When the job was added, in ms since the epoch."""
        return self._record.timestamp

    @property
    def processed_on(self) -> int | None:
        """When the latest attempt started, in ms since the epoch; None before the first."""
        return self._record.processed_on

    @property
    def finished_on(self) -> int | None:
        """When the job completed or failed for good, in ms since the epoch, else None."""
        return self._record.finished_on

    @property
    def due_on(self) -> int | None:
        """When a delayed job becomes due, in ms since the epoch (after a retry's backoff,
        too); None when the job was not delayed when last read."""
        record = self._record
        if record.state != "delayed":
            return None
        if record.due_on is not None:
            return record.due_on
        return record.timestamp + record.delay_ms  # a handle fresh from ``add``

    @property
    def priority(self) -> int:
        """0 (none) or the job's priority: lower numbers are taken sooner."""
        return self._record.priority

    @property
    def result(self) -> R | None:
        """The handler's return value once completed, else None."""
        raw = self._record.result
        return None if raw is None else loads(raw)

    @property
    def failed_reason(self) -> str | None:
        """Why the latest attempt failed (``ValueError: ...``), or None."""
        return self._record.failed_reason

    @property
    def damage(self) -> str | None:
        """What could not be read of a damaged stored record (the other properties show
        what could), or None for a sound one. A damaged job fails without running."""
        return self._record.damage

    @property
    def progress(self) -> Any:
        """The latest value the handler passed to ``update_progress``, else None."""
        raw = self._record.progress
        return None if raw is None else loads(raw)

    @property
    def errors(self) -> list[AttemptError]:
        """One entry per failed attempt, oldest first (stack traces included).

        ``attempt`` counts every attempt of the job, across manual retries (a retry gives
        a fresh set of attempts, so ``attempts_made`` starts again from 0): the backends
        keep every record in order, so an entry's place is its number.
        """
        return [
            AttemptError(**{**loads(raw), "attempt": number})
            for number, raw in enumerate(self._record.errors, 1)
        ]

    @property
    def stacktrace(self) -> str | None:
        """The stack trace of the latest failed attempt."""
        errors = self.errors
        return errors[-1].stack if errors else None

    @property
    def parent(self) -> tuple[str, str] | None:
        """(queue name, job id) of the job's parent in a flow, or None."""
        ref = self._record.parent
        if not ref:
            return None
        queue, _, job_id = ref.partition(":")
        return queue, job_id

    @property
    def on_failure(self) -> str:
        """What this job failing for good does to its parent (flows): fail, ignore,
        continue or remove."""
        return self._record.on_failure

    async def get_parent(self) -> Job[Any] | None:
        """The parent job as it is now, or None (no parent, or it no longer exists)."""
        found = self.parent
        if found is None:
            return None
        return await self.queue._sibling(found[0]).get_job(found[1])

    async def children_values(self) -> dict[str, Any]:
        """What each completed child returned, by ``queue:id``: kept while this job exists,
        even when a child itself was trimmed by retention."""
        from .flows import decode_values

        return decode_values(await self.queue.backend.get_children(self.queue.name, self.id))

    async def children_failures(self) -> dict[str, str]:
        """Why each child that failed for good failed, by ``queue:id`` (under the
        ``ignore``, ``continue`` and ``fail`` policies; ``remove`` forgets them)."""
        return (await self.queue.backend.get_children(self.queue.name, self.id)).failures

    async def pending_children(self) -> list[str]:
        """``queue:id`` of the children not finished yet, sorted."""
        children = await self.queue.backend.get_children(self.queue.name, self.id)
        return sorted(children.pending)

    async def tree(self) -> JobTree:
        """``queue.tree(job.id)``: this job with its children, each node's state read now."""
        return await self.queue.tree(self.id)

    async def refresh(self) -> Job[R]:
        """Read the job again, updating this handle in place (and returning it).

        Raises ``JobNotFoundError`` once the job is gone (removed, or trimmed by retention).
        """
        record = await self.queue.backend.get_job(self.queue.name, self.id)
        if record is None:
            raise JobNotFoundError(
                f"job {self.id} in queue {self.queue.name!r} no longer exists",
                queue=self.queue.name,
                job_id=self.id,
            )
        self._record = record
        return self

    async def get_state(self) -> JobState:
        """Read the job again and return its state now."""
        return (await self.refresh()).state

    async def logs(self, offset: int = 0, limit: int = 1000) -> list[str]:
        """The lines the handler logged (``job.log``), oldest first; only the newest
        ``WorkerSettings.log_keep`` lines are kept."""
        return await self.queue.backend.get_logs(self.queue.name, self.id, offset, limit)

    async def remove(self) -> None:
        """``queue.remove(job.id)``: delete the job and its logs (not while it runs)."""
        await self.queue.remove(self.id)

    async def retry(self) -> None:
        """``queue.retry(job.id)``: run a failed job again, with a fresh set of attempts."""
        await self.queue.retry(self.id)

    async def promote(self) -> None:
        """``queue.promote(job.id)``: make a delayed job ready now."""
        await self.queue.promote(self.id)

    async def change_priority(self, priority: int) -> None:
        """``queue.change_priority(job.id, priority)``."""
        await self.queue.change_priority(self.id, priority)

    async def update_data(self, data: Any) -> None:
        """``queue.update_data(job.id, data)``: replace the payload (``data`` of this
        handle is refreshed with ``refresh()``)."""
        await self.queue.update_data(self.id, data)

    async def wait(self, timeout: Seconds | None = None) -> R:
        """Wait until the job finishes; return its result or raise ``JobFailedError``.

        Listens on the queue's event stream, so it wakes as soon as the job ends; raises
        ``TimeoutError`` after ``timeout`` seconds. A job removed as it finished
        (``remove_on_complete=True``) still yields its result while its end is in the
        queue's capped event stream; a job removed otherwise raises ``JobNotFoundError``.
        """
        backend, queue = self.queue.backend, self.queue.name
        if timeout is not None:
            timeout = to_ms(timeout, "timeout") / 1000
        deadline = None if timeout is None else time.monotonic() + timeout
        after = await backend.last_event_id(queue)
        try:
            await self.refresh()
        except JobNotFoundError:
            # Removed as it finished (remove_on_complete/fail): its end is in the stream.
            final = await self._final_event()
            if final is None:
                raise
            return self._final(final)
        while True:
            if self.state == "completed":
                return self.result  # type: ignore[return-value]
            if self.state == "failed":
                raise JobFailedError(
                    queue=queue, job_id=self.id, reason=self.failed_reason or "unknown"
                )
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"job {self.id} in queue {queue!r} did not finish in time")
            block = 1000 if remaining is None else max(1, min(1000, int(remaining * 1000)))
            events = await backend.read_events(queue, after, 1000, block)
            for event in events:
                after = event.event_id
                if event.job_id != self.id or event.name not in _FINAL_EVENTS:
                    continue
                if event.name == "failed" or "returnvalue" in event.fields:
                    return self._final(event)
                await self.refresh()

    async def _final_event(self) -> Event | None:
        """The newest completed/failed event of this job still in the (capped) stream."""
        backend, queue = self.queue.backend, self.queue.name
        found: Event | None = None
        cursor = "0"
        while events := await backend.read_events(queue, cursor, 2_000, None):
            for event in events:
                if event.job_id == self.id and event.name in ("completed", "failed"):
                    found = event
            cursor = events[-1].event_id
        return found

    def _final(self, event: Event) -> R:
        """The result a final event carries, or the failure it reports."""
        if event.name == "failed":
            raise JobFailedError(
                queue=self.queue.name, job_id=self.id, reason=event.fields.get("reason", "")
            )
        return loads(event.fields["returnvalue"])  # type: ignore[no-any-return]
