"""One queue's loop inside a worker: finish a batch, fetch the next, run them.

Finished attempts collect in an outbox while the previous round trip is in flight, so
under load each call to the backend ends many jobs and fetches as many (group commit);
when idle, the loop blocks on the backend's wake-up instead of polling.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import payloads
from ..backends.base import FetchedJob, Lease, Outcome
from ..errors import (
    BackendUnavailableError,
    ConveyorError,
    Refusal,
    SchemaError,
    SerializationError,
)
from ..options import JobOptions
from ..queue import Queue
from ..serialization import load_options
from ..signals import Postpone, UnrecoverableError, WaitForChildren
from ..wakeup import listen, notify_local
from . import outcomes
from .context import JobContext
from .dead_letters import DeadLetter, forward, forward_stalled
from .hooks import JobReport

if TYPE_CHECKING:
    from .handle import WorkerHandle

log = logging.getLogger("conveyor.worker")

def new_lease(lease_ms: int) -> Lease:
    return Lease(uuid.uuid4().hex[:16], lease_ms)


@dataclass(slots=True)
class Held:
    """A job this worker holds: running, or finished with its outcome not yet stored."""

    token: str
    lease: Lease
    task: asyncio.Task[None] | None = None


class Consumer:
    def __init__(self, worker: WorkerHandle, queue: Queue) -> None:
        self.worker = worker
        self.queue = queue
        self.backend = queue.backend
        self.settings = worker.settings
        self.concurrency = self.settings.concurrency_for(queue.name)
        self.lease = new_lease(self.settings.lease_ms)
        self.held: dict[str, Held] = {}
        self.held_lock = threading.Lock()
        self.busy = 0
        self.outbox: list[Outcome] = []
        self.dead_letters: dict[str, DeadLetter] = {}
        self.changed = asyncio.Event()
        self.may_have_work = True
        self.next_due: int | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.stopping = False
        self._is_stopping = lambda: self.stopping
        """What handlers read as ``job.stopping`` (one callable for every job)."""
        self.unfinished: list[tuple[str, str]] = []
        """(id, token) of jobs cancelled by a shutdown past its grace: put back in line at
        once by the worker (``Backend.requeue``), never left to count as stalled."""
        self.loop = asyncio.get_running_loop()
        self._failures = 0
        """Round trips failed in a row (0 while the backend answers)."""
        self._away_since = 0.0
        self._resent: set[str] = set()
        """Jobs whose outcome went out in a call that failed: it may have been stored."""

    # -- called from other threads -----------------------------------------------------
    def kick(self) -> None:
        """Something may be ready (local producer, moved clock): look now. Thread-safe."""
        self.loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        self.may_have_work = True
        self.changed.set()

    def lease_snapshot(self) -> dict[Lease, list[tuple[str, str]]]:
        """Leases to renew, with the jobs each covers (the current lease always)."""
        with self.held_lock:
            by_lease: dict[Lease, list[tuple[str, str]]] = {self.lease: []}
            for job_id, held in self.held.items():
                by_lease.setdefault(held.lease, []).append((job_id, held.token))
        return by_lease

    def lost(self, job_ids: list[str]) -> None:
        """The backend says these jobs are no longer ours: stop running them. Thread-safe."""
        self.loop.call_soon_threadsafe(self._cancel, job_ids)

    def _cancel(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            held = self.held.get(job_id)
            if held is not None and held.task is not None and not held.task.done():
                log.warning(
                    "lost the lease of job %s in %s; cancelling it here",
                    job_id,
                    self.queue.name,
                    extra={"queue": self.queue.name, "job_id": job_id},
                )
                held.task.cancel()

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        unlisten = listen(self.backend.url, self.queue.name, self.kick)
        try:
            while not (self.stopping and not self.busy and not self.outbox):
                free = 0 if self.stopping else self.concurrency - self.busy
                now = self.worker.clock.now_ms()
                due = self.next_due is not None and self.next_due <= now
                if self.outbox or (free > 0 and (self.may_have_work or due)):
                    await self.exchange(free)
                else:
                    await self.idle(free, now)
        finally:
            unlisten()
            if self.watcher is not None:
                self.watcher.cancel()

    async def exchange(self, free: int) -> None:
        sent, self.outbox = self.outbox, []
        try:
            result = await self.backend.finish_and_fetch(
                self.queue.name, self.lease, sent, free, self.worker.clock.now_ms()
            )
        except SchemaError as exc:
            self.give_up(exc)
            return
        except Exception as exc:
            self.outbox = sent + self.outbox
            await self._back_off(exc, sent)
            return
        if self._failures:
            self._reconnected()
        with self.held_lock:
            for outcome in sent:
                self.held.pop(outcome.job_id, None)
        for outcome, code in zip(sent, result.codes, strict=True):
            if code != 0:
                self._refused(outcome)
            elif outcome.job_id in self.dead_letters:
                letter = self.dead_letters.pop(outcome.job_id)
                now = self.worker.clock.now_ms()
                self.worker.spawn(forward(self.backend, self.queue.name, letter, now))
        if self._resent:
            self._resent.difference_update(o.job_id for o in sent)
        for name in result.woken:  # a parent made ready in another queue
            notify_local(self.backend.url, name)
        self.next_due = result.next_delayed_ms
        self.may_have_work = free > 0 and len(result.jobs) >= free
        for job in result.jobs:
            self.start(job)

    def give_up(self, error: SchemaError) -> None:
        """The storage cannot be used (damaged, or written by another program): no retry
        can help, so stop the worker with the error ``add`` raises on the same file. Jobs
        running here are cancelled; their outcomes could not be stored anyway."""
        self.outbox.clear()
        self.stopping = True
        for held in list(self.held.values()):
            if held.task is not None and not held.task.done():
                held.task.cancel()
        self.worker.abort(error)

    def _refused(self, outcome: Outcome) -> None:
        """The backend refused an outcome: the job is no longer ours (or already ended)."""
        self.dead_letters.pop(outcome.job_id, None)
        extra = {"queue": self.queue.name, "job_id": outcome.job_id}
        if outcome.job_id in self._resent:
            log.info(
                "job %s in %s: its outcome was sent again after a lost connection and"
                " refused; the first send was most likely stored",
                outcome.job_id,
                self.queue.name,
                extra=extra,
            )
            return
        log.warning(
            "job %s in %s finished here but its lease was lost; its outcome was dropped",
            outcome.job_id,
            self.queue.name,
            extra=extra,
        )

    async def _back_off(self, exc: Exception, sent: list[Outcome]) -> None:
        """The round trip failed: keep the outcomes, rotate the lease, retry with backoff.

        A lost reply may have moved jobs to active under the current lease; a new lease
        for later fetches lets the old one lapse once its known jobs end, so such jobs
        are recovered by the stalled check instead of being held forever. The wait grows
        exponentially (with jitter) to 2 s and is not cut short, so a storm of finishing
        jobs cannot turn it into a busy loop.
        """
        self._failures += 1
        if isinstance(exc, BackendUnavailableError):
            self.worker.backend_failed()
        self._resent.update(o.job_id for o in sent)
        self.lease = new_lease(self.settings.lease_ms)
        delay = min(0.05 * 2 ** min(self._failures - 1, 6), 2.0) * (0.5 + random.random() / 2)
        extra = {"queue": self.queue.name}
        if self._failures == 1:
            self._away_since = time.monotonic()
            if isinstance(exc, BackendUnavailableError):
                log.warning(
                    "backend unavailable for queue %s (%s); retrying with backoff",
                    self.queue.name,
                    exc,
                    extra=extra,
                )
            else:
                log.error(
                    "fetching/finishing jobs of %s failed; retrying with backoff",
                    self.queue.name,
                    exc_info=exc,
                    extra=extra,
                )
        else:
            log.debug("still failing on %s (%s); retry in %.2fs", self.queue.name, exc, delay)
        await asyncio.sleep(delay)
        self.may_have_work = True

    def _reconnected(self) -> None:
        log.warning(
            "backend for queue %s answers again after %.1fs (%d failed attempts)",
            self.queue.name,
            time.monotonic() - self._away_since,
            self._failures,
            extra={"queue": self.queue.name},
        )
        self._failures = 0

    async def idle(self, free: int, now: int) -> None:
        """Wait for a finished job, a wake-up, or the next delayed job's due time."""
        waits: set[asyncio.Future[Any]] = set()
        changed = asyncio.ensure_future(self.changed.wait())
        waits.add(changed)
        if free > 0:
            if self.watcher is None:
                self.watcher = asyncio.ensure_future(self._watch())
            waits.add(self.watcher)
        elif self.watcher is not None:
            # A full worker must not swallow a wake-up meant for an idle one.
            self.watcher.cancel()
            self.watcher = None
        timeout = self.settings.block_timeout
        if self.next_due is not None:
            timeout = min(timeout, max(0.0, (self.next_due - now) / 1000))
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        changed.cancel()
        self.changed.clear()
        if self.watcher is not None and self.watcher.done():
            self.watcher = None
            self.may_have_work = True
        if not done and free > 0:
            self.may_have_work = True

    async def _watch(self) -> None:
        try:
            await self.backend.wait_for_work(self.queue.name, self.settings.block_timeout)
        except Exception as exc:
            # The next exchange notices the outage too, and backs off; this only keeps
            # a failing wait from spinning.
            if isinstance(exc, BackendUnavailableError):
                self.worker.backend_failed()
            log.debug("waiting for work on %s failed: %s", self.queue.name, exc)
            await asyncio.sleep(0.1)

    # -- one job -----------------------------------------------------------------------
    def start(self, job: FetchedJob) -> None:
        held = Held(job.token, self.lease)
        with self.held_lock:
            self.held[job.job_id] = held
        if job.damage is not None:
            self._fail_damaged(job)
            return
        self.busy += 1
        held.task = asyncio.ensure_future(self.execute(job))

    def _fail_damaged(self, job: FetchedJob) -> None:
        """A record that cannot be run fails alone, at once; the rest of its batch runs."""
        outcome = outcomes.damaged(job, self.worker.clock.now_ms())
        log.error(
            "job %s in %s: %s; failing it without running it",
            job.job_id,
            self.queue.name,
            outcome.reason,
            extra={"queue": self.queue.name, "job_id": job.job_id},
        )
        self.outbox.append(outcome)
        self.changed.set()

    async def execute(self, job: FetchedJob) -> None:
        """Run one attempt and queue its outcome. Never raises: an exception escaping the
        attempt (a bug in the worker itself) fails the job with a reason instead of going
        unobserved in its task. (A try here costs nothing; a done-callback per task
        cost two event-loop callbacks per job.)"""
        try:
            await self._execute(job)
        except Exception as error:
            self._unhandled(job, error)

    def _unhandled(self, job: FetchedJob, error: Exception) -> None:
        log.error(
            "job %s in %s could not be handled by the worker; failing it",
            job.job_id,
            self.queue.name,
            exc_info=error,
            extra={"queue": self.queue.name, "job_id": job.job_id},
        )
        self.outbox.append(outcomes.unhandled(job, error, self.worker.clock.now_ms()))
        self.changed.set()

    async def _execute(self, job: FetchedJob) -> None:
        started = time.perf_counter()
        clock = self.worker.clock
        outcome: Outcome | None = None
        report: JobReport | None = None
        ctx: JobContext[Any] | None = None
        try:
            options = load_options(job.options)
            task = self.queue.tasks.get(job.name)
            try:
                if task is None:
                    known = ", ".join(sorted(self.queue.tasks)) or "none"
                    raise UnrecoverableError(
                        f"unknown job name {job.name!r} (this worker handles: {known})"
                    )
                data = payloads.decode(job.name, task.payload, job.data)
                ctx = JobContext(
                    backend=self.backend,
                    queue=self.queue.name,
                    job_id=job.job_id,
                    name=job.name,
                    data=data,
                    options=options,
                    attempts_made=job.attempts_made,
                    timestamp=job.timestamp,
                    token=job.token,
                    log_keep=self.settings.log_keep,
                    now=clock.now_ms,
                    stopping=self._is_stopping,
                )
                async with asyncio.timeout(options.timeout):
                    if self.worker.hooks:
                        await self.worker.before_job(ctx)
                    result = await self.worker.runner.run(task, ctx)
                outcome = outcomes.completed(job, options, result, clock=clock.now_ms)
                if outcome.action == "fail":  # the result cannot be stored: a failure
                    error = SerializationError(outcome.reason)
                    report = self._failed(job, options, outcome, error, started)
                elif self.worker.hooks:
                    report = JobReport("completed", _ms(started), result=result)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome, report = await self._raised(job, options, exc, started)
        except asyncio.CancelledError:
            # Lease lost (another worker runs the job again after the stalled check), or a
            # shutdown past its grace period (the worker puts the job back in line); no
            # outcome is stored here.
            if self.stopping:
                self.unfinished.append((job.job_id, job.token))
            with self.held_lock:
                self.held.pop(job.job_id, None)
            self.changed.set()  # a slot is free; a stopping loop may be done
            return
        except Exception as exc:  # damaged stored options, or a bug here: never hold the job
            outcome = self._last_resort(job, exc)
        finally:
            self.busy -= 1
        if report is not None and ctx is not None:
            await self.worker.after_job(ctx, report)
        self.outbox.append(outcome)
        self.changed.set()

    async def _raised(
        self, job: FetchedJob, options: JobOptions, exc: Exception, started: float
    ) -> tuple[Outcome, JobReport | None]:
        """The handler raised: a signal that steers the job, or a failure."""
        if isinstance(exc, WaitForChildren):
            return self._waiting(job, exc, started)
        outcome = outcomes.failed(
            job, options, exc, self.worker.clock.now_ms(), self.worker.strategies
        )
        if isinstance(exc, Postpone):
            return outcome, await self._postponed(job, exc, started)
        return outcome, self._failed(job, options, outcome, exc, started)

    def _waiting(
        self, job: FetchedJob, signal: WaitForChildren, started: float
    ) -> tuple[Outcome, JobReport | None]:
        """A parent ends its run until its children are done, with its next payload (the
        step it is at) stored in the same step."""
        raw = b""
        if signal.replaces_data:
            raw = payloads.encode(
                job.name, self.queue.payload_type(job.name), signal.data,
                self.queue.max_payload_bytes,
            )
        report = JobReport("waiting-children", _ms(started)) if self.worker.hooks else None
        return outcomes.waiting(job, raw), report

    async def _postponed(
        self, job: FetchedJob, signal: Postpone, started: float
    ) -> JobReport | None:
        """Store the checkpoint a ``Postpone`` carries (a payload that cannot be stored
        fails the job instead), log it, and say so to the hooks."""
        if signal.replaces_data:
            raw = payloads.encode(
                job.name, self.queue.payload_type(job.name), signal.data,
                self.queue.max_payload_bytes,
            )
            code = await self.backend.update_data(self.queue.name, job.job_id, raw)
            if code < 0:
                raise Refusal(code).error(
                    queue=self.queue.name, job_id=job.job_id, action="checkpoint"
                )
        log.info(
            "job %s (%s) in %s postponed for %gs: %s",
            job.job_id,
            job.name,
            self.queue.name,
            max(signal.delay, 0),
            signal,
            extra={"queue": self.queue.name, "job_id": job.job_id},
        )
        if not self.worker.hooks:
            return None
        return JobReport("postponed", _ms(started), error=signal)

    def _failed(
        self,
        job: FetchedJob,
        options: JobOptions,
        outcome: Outcome,
        exc: Exception,
        started: float,
    ) -> JobReport | None:
        """Log a failed attempt, mark an exhausted job for its dead-letter queue, and say
        so to the hooks."""
        self._log_failure(job, outcome, exc)
        if outcome.action == "fail" and options.dead_letter:
            self.dead_letters[job.job_id] = DeadLetter(job, options.dead_letter)
        if not self.worker.hooks:
            return None
        status = "failed" if outcome.action == "fail" else "retrying"
        return JobReport(status, _ms(started), error=exc)

    def _last_resort(self, job: FetchedJob, exc: Exception) -> Outcome:
        """The job could not even be set up (damaged stored options) or the worker's own
        code failed: fail it with a reason, logged once, rather than hold it for ever."""
        now = self.worker.clock.now_ms()
        try:
            outcome = outcomes.failed(job, JobOptions(), exc, now, {})
        except Exception as unexpected:
            outcome = outcomes.unhandled(job, unexpected, now)
        log.error(
            "job %s in %s could not be run: %s",
            job.job_id,
            self.queue.name,
            outcome.reason,
            exc_info=exc if not isinstance(exc, ConveyorError) else None,
            extra={"queue": self.queue.name, "job_id": job.job_id},
        )
        return outcome

    def _log_failure(self, job: FetchedJob, outcome: Outcome, exc: BaseException) -> None:
        level = logging.WARNING if outcome.action == "fail" else logging.INFO
        what = "failed" if outcome.action == "fail" else "will retry"
        log.log(
            level,
            "job %s (%s) in %s %s after attempt %d: %s",
            job.job_id,
            job.name,
            self.queue.name,
            what,
            outcome.attempts_made,
            outcome.reason,
            exc_info=exc if level == logging.WARNING else None,
            extra={"queue": self.queue.name, "job_id": job.job_id, "job_name": job.name},
        )

    async def check_stalled(self) -> None:
        s = self.settings
        report = await self.backend.check_stalled(
            self.queue.name,
            s.max_stalled,
            round(s.stalled_interval * 1000),
            self.worker.clock.now_ms(),
            outcomes.STALLED_REASON,
        )
        for job_id in report.recovered:
            log.warning(
                "job %s in %s stalled (its worker stopped renewing its lease); back to waiting",
                job_id,
                self.queue.name,
                extra={"queue": self.queue.name, "job_id": job_id},
            )
        for job_id in report.failed:
            log.warning(
                "job %s in %s stalled too often and failed",
                job_id,
                self.queue.name,
                extra={"queue": self.queue.name, "job_id": job_id},
            )
            now = self.worker.clock.now_ms()
            self.worker.spawn(forward_stalled(self.backend, self.queue.name, job_id, now))
        if report.recovered:
            self._kick()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
