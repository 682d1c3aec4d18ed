"""The SQLite backend: each state change is one short ``BEGIN IMMEDIATE`` transaction.

The embedded default: one database file in WAL mode, shared by any number of producer
and worker processes on one machine. Statements live in :mod:`.ops` (one module per
state change, named after the Redis script it mirrors) and :mod:`.reads`; they run on a
dedicated thread per backend instance (:mod:`.dbthread`). See ``docs/sqlite.md``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ...errors import ConfigurationError
from ...options import JobState
from ..base import (
    AddResult,
    Backend,
    Children,
    Event,
    FinishResult,
    JobRecord,
    Lease,
    NewJob,
    Outcome,
    StalledReport,
    TreeNode,
    TreeResult,
)
from . import reads
from .change_watch import ChangeWatch
from .dbthread import DatabaseThread
from .lease_clock import lease_clock_ms
from .ops.acquire_lock import acquire_lock
from .ops.add import add
from .ops.add_log import add_log
from .ops.add_tree import add_tree
from .ops.change_priority import change_priority
from .ops.check_stalled import check_stalled
from .ops.clean import clean
from .ops.drain import drain
from .ops.extend_lock import extend_lock
from .ops.finish_and_fetch import Fetched, finish_and_fetch
from .ops.obliterate import obliterate
from .ops.pause import pause
from .ops.promote import promote
from .ops.release_lock import release_lock
from .ops.remove import remove
from .ops.renew_lease import renew_lease
from .ops.requeue import requeue
from .ops.retry import retry
from .ops.take_tokens import take_tokens
from .ops.update_data import update_data
from .ops.update_progress import update_progress
from .url import SQLiteTarget, parse

T = TypeVar("T")

WAKE_POLL_S = 0.01
"""How often a waiting worker (or a blocked event reader) looks for commits by other
connections during its first ``WAKE_FAST_FOR_S`` of waiting; within one process,
producers wake local workers at once (``conveyor.wakeup``)."""
WAKE_FAST_FOR_S = 1.0
WAKE_POLL_IDLE_S = 0.025
"""The interval after that: each look is cheap, but on some machines the timer wake-up
itself costs ~0.2 ms of CPU, so a long-idle worker looks 40 times a second (about 1 % of
a core here) and still notices new work within ~25 ms."""


class SQLiteBackend(Backend):
    """Storage in one SQLite file (``sqlite:///path``), shared by processes on one machine."""

    def __init__(self, url: str, *, target: SQLiteTarget | None = None) -> None:
        self.target = target if target is not None else parse(url)
        self.url = self.target.url
        """The resolved ``sqlite:////absolute/path.db``: a relative URL names a file in
        the working directory of the process that built the backend."""
        self.path = self.target.path
        self._db = DatabaseThread(self.target)
        self._watch = ChangeWatch(self.path)
        self._seq = 0
        self._seen: dict[str, int] = {}
        self._last_work = 0.0

    def __repr__(self) -> str:
        return f"<SQLiteBackend {self.path}>"

    def clone(self) -> SQLiteBackend:
        return SQLiteBackend(self.url, target=self.target)

    # -- lifecycle -----------------------------------------------------------------
    async def ping(self) -> None:
        await self._db.read(_ping)

    async def close(self) -> None:
        self._watch.close()
        await self._db.close()

    # -- producing -----------------------------------------------------------------
    async def add(self, queue: str, jobs: Sequence[NewJob], now_ms: int) -> list[AddResult]:
        return await self._db.write(add, queue, jobs, now_ms)

    async def add_tree(self, nodes: Sequence[TreeNode], now_ms: int) -> TreeResult:
        return await self._db.write(add_tree, list(nodes), now_ms)

    # -- working -------------------------------------------------------------------
    async def finish_and_fetch(
        self,
        queue: str,
        lease: Lease,
        outcomes: Sequence[Outcome],
        fetch: int,
        now_ms: int,
    ) -> FinishResult:
        seq = self._seq
        self._seq += max(fetch, 0)
        result = await self._db.write(
            _finish_and_fetch, queue, lease, seq, outcomes, fetch, now_ms
        )
        self._seen[queue] = result.marker
        if result.jobs:
            self._last_work = asyncio.get_running_loop().time()
        return FinishResult(
            result.codes, result.jobs, result.next_due, result.paused, result.woken
        )

    async def wait_for_work(self, queue: str, timeout_s: float) -> None:
        """Return once the queue's marker moves past the value this backend last saw (a
        job was added, retried, recovered or promoted, or the queue resumed), or after
        ``timeout_s``. Looks every ``WAKE_POLL_S`` whether any connection committed
        (:mod:`.change_watch`) and reads the marker only then."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(timeout_s, 0.0)
        seen = self._seen.get(queue)
        version: int | None = None
        while True:
            now_version = self._watch.version()
            if version is None or now_version is None or now_version != version:
                version = now_version
                current = await self._db.read(reads.marker, queue)
                if seen is None:
                    seen = self._seen[queue] = current
                elif current != seen:
                    self._seen[queue] = current
                    self._last_work = loop.time()
                    return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(_poll_interval(loop.time() - self._last_work), remaining))

    async def renew_lease(
        self, queue: str, lease: Lease, active: Sequence[tuple[str, str]]
    ) -> list[str]:
        return await self._db.write(_renew_lease, queue, lease, active)

    async def requeue(
        self, queue: str, jobs: Sequence[tuple[str, str]], now_ms: int
    ) -> list[str]:
        return await self._db.write(requeue, queue, list(jobs))

    async def release_lease(self, queue: str, lease: Lease) -> None:
        await self._db.write(_release_lease, queue, lease.worker_id)

    async def check_stalled(
        self, queue: str, max_stalled: int, interval_ms: int, now_ms: int, reason: str
    ) -> StalledReport:
        recovered, failed = await self._db.write(
            _check_stalled, queue, max_stalled, interval_ms, now_ms, reason
        )
        return StalledReport(recovered, failed)

    async def update_progress(
        self, queue: str, job_id: str, progress: bytes, now_ms: int
    ) -> int:
        return await self._db.write(update_progress, queue, job_id, progress)

    async def add_log(self, queue: str, job_id: str, line: str, keep: int) -> int:
        return await self._db.write(add_log, queue, job_id, line, keep)

    # -- named locks ---------------------------------------------------------------
    async def acquire_lock(self, name: str, token: str, ttl_ms: int) -> int:
        return await self._db.write(_on_lease_clock, acquire_lock, name, token, ttl_ms)

    async def extend_lock(self, name: str, token: str, ttl_ms: int) -> bool:
        return await self._db.write(_on_lease_clock, extend_lock, name, token, ttl_ms)

    async def release_lock(self, name: str, token: str) -> bool:
        return await self._db.write(_on_lease_clock, release_lock, name, token)

    async def wait_for_lock(self, name: str, timeout_s: float) -> None:
        """Return at the next commit of any connection (a release may be among them) or
        after ``timeout_s``, looking as ``wait_for_work`` does."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(timeout_s, 0.0)
        version = self._watch.version()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(_poll_interval(loop.time() - started), remaining))
            now_version = self._watch.version()
            if version is None or now_version != version:
                return

    # -- token buckets -------------------------------------------------------------
    async def take_tokens(
        self, name: str, count: int, capacity: int, per_second: float, now_ms: int
    ) -> int:
        return await self._db.write(take_tokens, name, count, capacity, per_second, now_ms)

    # -- reading -------------------------------------------------------------------
    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        return await self._db.read(reads.get_job, queue, job_id)

    async def get_jobs(
        self, queue: str, state: JobState, offset: int, limit: int, newest_first: bool
    ) -> list[JobRecord]:
        return await self._db.read(reads.get_jobs, queue, state, offset, limit, newest_first)

    async def counts(self, queue: str) -> dict[JobState, int]:
        return await self._db.read(reads.counts, queue)

    async def get_children(self, queue: str, job_id: str) -> Children:
        return await self._db.read(reads.get_children, queue, job_id)

    async def get_logs(self, queue: str, job_id: str, offset: int, limit: int) -> list[str]:
        return await self._db.read(reads.get_logs, queue, job_id, offset, limit)

    async def is_paused(self, queue: str) -> bool:
        return await self._db.read(reads.is_paused, queue)

    async def queues(self) -> list[str]:
        return await self._db.read(reads.queues)

    async def read_events(
        self, queue: str, after: str, count: int, block_ms: int | None
    ) -> list[Event]:
        """Events after ``after``; with ``block_ms`` (0: without limit, as XREAD BLOCK 0)
        poll every ``WAKE_POLL_S`` until one arrives."""
        if after == "$":
            cursor = await self._db.read(reads.last_event, queue)
        else:
            try:
                cursor = reads.parse_event_id(after)
            except ValueError:
                raise ConfigurationError(
                    f"{after!r} is not an event id of this backend (use '0', '$' or an id"
                    " read from this queue's events)"
                ) from None
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = None if not block_ms else started + block_ms / 1000
        version: int | None = None
        while True:
            now_version = self._watch.version()
            if version is None or now_version is None or now_version != version:
                version = now_version
                events = await self._db.read(reads.read_events, queue, cursor, max(count, 1))
                if events or block_ms is None:
                    return events
            interval = _poll_interval(loop.time() - started)
            remaining = interval if deadline is None else deadline - loop.time()
            if remaining <= 0:
                return []
            await asyncio.sleep(min(interval, remaining))

    async def last_event_id(self, queue: str) -> str:
        row, index = await self._db.read(reads.last_event, queue)
        return reads.event_id(row, index) if row else "0"

    # -- admin ---------------------------------------------------------------------
    async def pause(self, queue: str, paused: bool, now_ms: int) -> None:
        await self._db.write(pause, queue, paused)

    async def drain(self, queue: str, include_delayed: bool, now_ms: int) -> int:
        return await self._db.write(drain, queue, include_delayed)

    async def clean(self, queue: str, state: JobState, cutoff_ms: int, limit: int) -> list[str]:
        return await self._db.write(clean, queue, state, cutoff_ms, limit)

    async def obliterate(self, queue: str, force: bool, budget: int) -> int:
        return await self._db.write(obliterate, queue, force, budget)

    async def remove(self, queue: str, job_id: str, now_ms: int) -> int:
        return await self._db.write(remove, queue, job_id)

    async def retry(self, queue: str, job_ids: Sequence[str] | None, now_ms: int) -> int:
        ids = None if job_ids is None else list(job_ids)
        return await self._db.write(retry, queue, ids, now_ms)

    async def promote(self, queue: str, job_id: str, now_ms: int) -> int:
        return await self._db.write(promote, queue, job_id)

    async def change_priority(self, queue: str, job_id: str, priority: int, now_ms: int) -> int:
        return await self._db.write(change_priority, queue, job_id, priority)

    async def update_data(self, queue: str, job_id: str, data: bytes) -> int:
        return await self._db.write(update_data, queue, job_id, data)


# Adapters run on the database thread: they read the lease clock inside the transaction,
# so an expiry is measured from the moment the write lock is held.


def _on_lease_clock(conn: sqlite3.Connection, op: Callable[..., T], *args: Any) -> T:
    """Run a lock op with the lease clock read inside its transaction: a lock's time, like
    a lease's, is measured by the machine's clock, never the caller's."""
    return op(conn, *args, lease_clock_ms())


def _ping(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT 1 FROM queues LIMIT 1").fetchall()


def _finish_and_fetch(
    conn: sqlite3.Connection,
    queue: str,
    lease: Lease,
    seq: int,
    outcomes: Sequence[Outcome],
    fetch: int,
    now_ms: int,
) -> Fetched:
    expires = lease_clock_ms() + lease.lease_ms
    return finish_and_fetch(conn, queue, lease.worker_id, expires, seq, outcomes, fetch, now_ms)


def _renew_lease(
    conn: sqlite3.Connection, queue: str, lease: Lease, active: Sequence[tuple[str, str]]
) -> list[str]:
    return renew_lease(conn, queue, lease.worker_id, lease_clock_ms() + lease.lease_ms, active)


def _release_lease(conn: sqlite3.Connection, queue: str, worker: str) -> None:
    conn.execute("DELETE FROM leases WHERE queue = ? AND worker = ?", (queue, worker))


def _check_stalled(
    conn: sqlite3.Connection,
    queue: str,
    max_stalled: int,
    interval_ms: int,
    now_ms: int,
    reason: str,
) -> tuple[list[str], list[str]]:
    return check_stalled(conn, queue, max_stalled, interval_ms, now_ms, lease_clock_ms(), reason)


def _poll_interval(waited: float) -> float:
    return WAKE_POLL_S if waited < WAKE_FAST_FOR_S else WAKE_POLL_IDLE_S



