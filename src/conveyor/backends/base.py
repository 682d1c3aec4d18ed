"""The backend protocol: the one seam between the engine and storage.

The engine (queue facade, worker) validates, serializes, decides policy (retry or fail,
backoff delay, retention) and passes plain values across this seam; a backend stores them
and makes every change of a job's state atomic (one Lua script on Redis, one transaction on
SQLite). No connection or transaction type crosses it, and a backend never reads the
clock: every call that needs "now" receives ``now_ms`` from the caller.

A refused operation on one job is reported with a :class:`conveyor.errors.Refusal` code so
that both backends raise the same error with the same words.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..options import JobState, RetentionMs

FinishAction = Literal["complete", "fail", "retry", "postpone", "wait"]
OnFailure = Literal["fail", "ignore", "continue", "remove"]
"""What a child's failure (for good) does to its parent: ``fail`` it (the default),
``ignore`` it (the parent waits for the rest and can list the failure), ``continue`` (the
parent runs at once, failure listed), or ``remove`` the dependency (as if never added)."""

EVENTS_MAXLEN = 10_000
"""Events kept per queue (its stream is capped near this): the engine's bound, the same on
every backend, so a reader that falls this far behind misses events the same way."""

CHILD_FAILED = "child {ref} failed: {reason}"
"""A parent's failure reason when a child under the ``fail`` policy failed for good
(``ref`` is the child's ``queue:id``). Redis's flow.lua writes the same words; a
conformance test pins them."""


def node_ref(queue: str, job_id: str) -> str:
    """How a flow names a job across queues: ``queue:id`` (queue names hold no colon)."""
    return f"{queue}:{job_id}"


def split_ref(ref: str) -> tuple[str, str]:
    """A ``queue:id`` reference as (queue, id)."""
    queue, _, job_id = ref.partition(":")
    return queue, job_id

@dataclass(frozen=True, slots=True)
class NewJob:
    """A job ready to store: payload and options already encoded by the engine."""

    name: str
    data: bytes
    options: bytes
    job_id: str | None = None
    priority: int = 0
    delay_ms: int = 0
    lifo: bool = False
    dedup_key: str = ""
    """With a key: an add while the key holds (below) returns the job that holds it."""
    dedup_mode: str = ""
    """``throttle`` returns the holder; ``debounce`` also gives a holder that has not
    started this add's data and restarts its delay."""
    dedup_ttl_ms: int = 0
    """How long the key holds after the add that set it; 0: until the job finishes."""


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One job of a flow added in one call (``Backend.add_tree``); parents come first."""

    queue: str
    job: NewJob
    parent: int = -1
    """The index of this node's parent in the same call, or -1 for a root."""
    parent_ref: str = ""
    """For a root: the ``queue:id`` of an existing, unfinished job that gets this node as
    a child (a running handler adding children); empty for a root of a new tree."""
    on_failure: OnFailure = "fail"
    """What this node's failure for good does to its parent."""


@dataclass(frozen=True, slots=True)
class TreeResult:
    """``code`` 0 and one ``AddResult`` per node; or a negative ``Refusal`` (the roots'
    ``parent_ref`` is missing or finished) and nothing stored."""

    code: int
    added: list[AddResult]


@dataclass(frozen=True, slots=True)
class Children:
    """A parent's children as its flow records them, each named ``queue:id``."""

    pending: list[str]
    """Children not finished yet, in no particular order."""
    values: dict[str, bytes]
    """Completed children → their return value (JSON), kept while the parent exists even
    when a child itself is trimmed by retention."""
    failures: dict[str, str]
    """Children that failed for good under ``ignore``/``continue`` (or ``fail``) → reason."""


@dataclass(frozen=True, slots=True)
class AddResult:
    job_id: str
    created: bool
    """False when a job with the caller's id already existed (idempotent add), or when
    ``deduplicated``."""
    deduplicated: bool = False
    """The add's dedup key was held: ``job_id`` is the holder (debounced: with new data)."""


@dataclass(frozen=True, slots=True)
class FetchedJob:
    """What a worker needs to run one attempt; ``token`` fences every later write."""

    job_id: str
    token: str
    name: str
    data: bytes
    options: bytes
    attempts_made: int
    timestamp: int
    damage: str | None = None
    """Why the stored record cannot be run (a missing or garbled field), or None. The
    worker fails such a job alone, without running it; the fields hold what was read."""
    parent: str = ""
    """The ``queue:id`` of the job's parent in a flow, or empty; handed back in the
    ``Outcome`` so that finishing a job that has none costs nothing more."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended, decided by the engine, applied atomically by the backend.

    ``result`` is the JSON return value for ``complete``; ``error`` is the JSON error
    record of this attempt for ``fail``/``retry``; ``reason`` is the short failure text.
    ``postpone`` runs the job again after ``retry_delay_ms`` with its attempts, reason and
    error history as they were (the handler's "not now", or a stop).
    ``wait`` (a flow's parent that added children while running) waits in
    ``waiting-children`` until they finish, or is ready again at once when none is
    pending; ``data``, when not empty, replaces its payload in the same step (the step it
    is at). A child under the ``fail`` policy that failed while it ran fails it instead.
    ``attempts_made`` is the new count including this attempt (a stalled recovery does
    not count as an attempt). ``retention`` applies to the set the job lands in.
    ``parent`` is the fetched job's ``parent``: a complete or fail settles it there.
    """

    job_id: str
    token: str
    action: FinishAction
    attempts_made: int
    result: bytes = b"null"
    reason: str = ""
    error: bytes = b""
    retry_delay_ms: int = 0
    retention: RetentionMs = (-1, -1)
    dedup_key: str = ""
    """The job's dedup key, released by ``complete``/``fail`` if the job still holds it."""
    parent: str = ""
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class FinishResult:
    """Per-outcome codes (0 applied, or a negative ``Refusal``), the next jobs, and hints."""

    codes: list[int]
    jobs: list[FetchedJob]
    next_delayed_ms: int | None
    """When the earliest delayed job becomes due, so an idle worker knows when to look."""
    paused: bool = False
    woken: tuple[str, ...] = ()
    """Other queues in which this call made a parent ready, so that a backend without
    cross-process wake-ups can wake local workers (Redis's marker already does)."""


@dataclass(frozen=True, slots=True)
class StalledReport:
    recovered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class JobRecord:
    """Everything stored about one job, as read by admin calls and job handles."""

    queue: str
    job_id: str
    name: str
    data: bytes
    options: bytes
    state: JobState
    timestamp: int
    attempts_made: int = 0
    stalled_count: int = 0
    delay_ms: int = 0
    priority: int = 0
    processed_on: int | None = None
    finished_on: int | None = None
    due_on: int | None = None
    """When a delayed job becomes due (ms): its place in the delayed set, so a retry's
    backoff counts too. None in every other state."""
    result: bytes | None = None
    failed_reason: str | None = None
    progress: bytes | None = None
    errors: list[bytes] = field(default_factory=list)
    """One JSON error record per failed attempt, oldest first."""
    damage: str | None = None
    """What could not be read of a damaged record (the other fields hold what could), or
    None for a sound one."""
    parent: str | None = None
    """The ``queue:id`` of its parent in a flow, or None."""
    on_failure: OnFailure = "fail"
    """What its failure for good does to its parent (flows only)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a queue's capped event stream; ``event_id`` orders them."""

    event_id: str
    """Increases with every event of the queue; ``queue.events(after=...)`` resumes after it."""
    name: str
    """What happened: ``added``, ``active``, ``completed``, ... (docs/reference/events.md)."""
    job_id: str | None
    """The job it happened to; None for queue-wide events (paused, resumed, drained)."""
    fields: dict[str, str]
    """The event's own fields, as strings (``returnvalue`` and ``data`` are JSON text)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on the jobs it fetches; while it is renewed they are not stalled."""

    worker_id: str
    lease_ms: int


class Backend(abc.ABC):
    """Storage for queues. Methods are coroutines; each changes state atomically.

    Implementations must make ``add``, ``finish_and_fetch``, ``check_stalled`` and every
    admin write a single atomic step, and must compare lease tokens before any write
    that ends an attempt.
    """

    url: str

    # -- producing -------------------------------------------------------------------
    @abc.abstractmethod
    async def add(self, queue: str, jobs: Sequence[NewJob], now_ms: int) -> list[AddResult]:
        """Store all jobs or none. A job whose id exists is left as it is (created=False)."""

    @abc.abstractmethod
    async def add_tree(self, nodes: Sequence[TreeNode], now_ms: int) -> TreeResult:
        """Store a flow in one atomic step: all of its jobs, across queues, or none.

        A node with children starts in ``waiting-children`` and counts them as pending;
        a node whose id exists is left as it is (created=False) and its subtree is not
        added (those nodes get ``AddResult("", False)`` unless they name their own id).
        Roots with ``parent_ref`` become pending children of that job. Dedup keys and
        delays on parents are refused by the engine before this call."""

    # -- working ---------------------------------------------------------------------
    @abc.abstractmethod
    async def finish_and_fetch(
        self,
        queue: str,
        lease: Lease,
        outcomes: Sequence[Outcome],
        fetch: int,
        now_ms: int,
    ) -> FinishResult:
        """Apply outcomes (each fenced by its token), promote due delayed jobs, then move up
        to ``fetch`` jobs to active under ``lease`` — one round trip for a worker's batch.

        Jobs come in priority order: unprioritized waiting jobs first (FIFO, or LIFO when
        asked), then prioritized ones by priority. A paused queue fetches nothing.
        """

    @abc.abstractmethod
    async def wait_for_work(self, queue: str, timeout_s: float) -> None:
        """Return when a job may be ready, or after ``timeout_s``; never busy-polls."""

    @abc.abstractmethod
    async def renew_lease(
        self, queue: str, lease: Lease, active: Sequence[tuple[str, str]]
    ) -> list[str]:
        """Keep ``lease`` alive; return ids of ``active`` (id, token) pairs no longer ours."""

    @abc.abstractmethod
    async def requeue(
        self, queue: str, jobs: Sequence[tuple[str, str]], now_ms: int
    ) -> list[str]:
        """Put jobs a stopping worker could not finish back in line at once (the front of
        waiting), each fenced by its (id, token) pair, with attempts and stall count
        untouched; return the ids moved. A stop is not a stall."""

    @abc.abstractmethod
    async def release_lease(self, queue: str, lease: Lease) -> None:
        """Drop the lease at shutdown so any job still held is recovered at the next check."""

    @abc.abstractmethod
    async def check_stalled(
        self, queue: str, max_stalled: int, interval_ms: int, now_ms: int, reason: str
    ) -> StalledReport:
        """Recover active jobs whose lease is gone: back to waiting, or failed with
        ``reason`` after ``max_stalled`` recoveries. Runs at most once per ``interval_ms``
        per queue however many workers call it; a skipped call returns an empty report."""

    @abc.abstractmethod
    async def update_progress(
        self, queue: str, job_id: str, progress: bytes, now_ms: int
    ) -> int:
        """Store progress (JSON) and emit a progress event: 0, or a negative ``Refusal``."""

    @abc.abstractmethod
    async def add_log(self, queue: str, job_id: str, line: str, keep: int) -> int:
        """Append a log line, keeping the newest ``keep``: the number kept, or a negative
        ``Refusal`` code."""

    # -- named locks -----------------------------------------------------------------
    @abc.abstractmethod
    async def acquire_lock(self, name: str, token: str, ttl_ms: int) -> int:
        """Take the lock ``name`` for ``token`` for ``ttl_ms`` (its holder taking it again
        refreshes it): 0, or how many ms the current holder's hold has left (at least 1)."""

    @abc.abstractmethod
    async def extend_lock(self, name: str, token: str, ttl_ms: int) -> bool:
        """Hold the lock ``ttl_ms`` from now, if ``token`` still holds it."""

    @abc.abstractmethod
    async def release_lock(self, name: str, token: str) -> bool:
        """Free the lock if ``token`` holds it (and wake its waiters); whether it did."""

    @abc.abstractmethod
    async def wait_for_lock(self, name: str, timeout_s: float) -> None:
        """Return when the lock may have been released, or after ``timeout_s``; the
        caller tries again either way (a release seen late costs no more than that)."""

    # -- token buckets ---------------------------------------------------------------
    @abc.abstractmethod
    async def take_tokens(
        self, name: str, count: int, capacity: int, per_second: float, now_ms: int
    ) -> int:
        """Take ``count`` tokens from the bucket ``name`` (``capacity`` tokens, refilled
        at ``per_second``, full when new): 0 when taken, else the ms until there would be
        enough (nothing taken then)."""

    # -- reading ---------------------------------------------------------------------
    @abc.abstractmethod
    async def get_job(self, queue: str, job_id: str) -> JobRecord | None: ...

    @abc.abstractmethod
    async def get_jobs(
        self, queue: str, state: JobState, offset: int, limit: int, newest_first: bool
    ) -> list[JobRecord]:
        """A page of jobs in one state. Finished jobs order by finish time, delayed by due
        time, prioritized by priority, waiting by the order they will be taken."""

    @abc.abstractmethod
    async def counts(self, queue: str) -> dict[JobState, int]:
        """Jobs per state; waiting jobs count as ``paused`` while the queue is paused."""

    @abc.abstractmethod
    async def get_children(self, queue: str, job_id: str) -> Children:
        """The job's children as its flow records them (all empty for a job without)."""

    @abc.abstractmethod
    async def get_logs(self, queue: str, job_id: str, offset: int, limit: int) -> list[str]: ...

    @abc.abstractmethod
    async def is_paused(self, queue: str) -> bool: ...

    @abc.abstractmethod
    async def queues(self) -> list[str]:
        """Names of queues that have ever held a job (until obliterated)."""

    @abc.abstractmethod
    async def read_events(
        self, queue: str, after: str, count: int, block_ms: int | None
    ) -> list[Event]:
        """Events after ``after`` (``"0"`` for the oldest kept, ``"$"`` for new ones only);
        with ``block_ms`` wait up to that long for at least one."""

    @abc.abstractmethod
    async def last_event_id(self, queue: str) -> str:
        """The id of the newest event, or ``"0"``: read after it to see only what follows."""

    # -- admin -----------------------------------------------------------------------
    @abc.abstractmethod
    async def pause(self, queue: str, paused: bool, now_ms: int) -> None: ...

    @abc.abstractmethod
    async def drain(self, queue: str, include_delayed: bool, now_ms: int) -> int:
        """Remove waiting/prioritized (and delayed if asked) jobs; return how many."""

    @abc.abstractmethod
    async def clean(self, queue: str, state: JobState, cutoff_ms: int, limit: int) -> list[str]:
        """Remove up to ``limit`` jobs in ``state`` (a stored one: never ``active`` or
        ``paused``, which the engine maps to ``waiting``) created or finished before
        ``cutoff_ms``, oldest first; return their ids."""

    @abc.abstractmethod
    async def obliterate(self, queue: str, force: bool, budget: int) -> int:
        """Delete up to ``budget`` of the queue's jobs (pausing it first), and the queue
        itself with the last of them: 0 when gone, 1 when jobs remain (call again), or
        ``Refusal.INVALID_STATE`` while jobs are active unless ``force``. The engine loops,
        so that no one call holds the storage for long."""

    @abc.abstractmethod
    async def remove(self, queue: str, job_id: str, now_ms: int) -> int:
        """Remove a job that is not active: 0, or a negative ``Refusal`` code."""

    @abc.abstractmethod
    async def retry(self, queue: str, job_ids: Sequence[str] | None, now_ms: int) -> int:
        """Move failed jobs (these, or all when None) back to waiting with fresh attempts;
        return how many moved."""

    @abc.abstractmethod
    async def promote(self, queue: str, job_id: str, now_ms: int) -> int:
        """Make a delayed job ready now: 0, or a negative ``Refusal`` code."""

    @abc.abstractmethod
    async def change_priority(self, queue: str, job_id: str, priority: int, now_ms: int) -> int:
        """Re-rank a job; a waiting job moves between waiting and prioritized as needed."""

    @abc.abstractmethod
    async def update_data(self, queue: str, job_id: str, data: bytes) -> int:
        """Replace a job's payload: 0, or a negative ``Refusal`` code."""

    # -- lifecycle -------------------------------------------------------------------
    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``BackendUnavailableError`` unless the storage answers."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def clone(self) -> Backend:
        """A new, unconnected backend for the same storage (for another thread or loop)."""
