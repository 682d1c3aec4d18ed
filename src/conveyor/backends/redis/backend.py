"""The Redis backend: each state change is one Lua script, each queue one hash slot."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis import exceptions as rx
from redis.commands.core import AsyncScript

from ...errors import (
    AmbiguousResultError,
    BackendUnavailableError,
    ConfigurationError,
    InvalidOptionsError,
    ScriptError,
)
from ...options import JobState
from ..base import (
    EVENTS_MAXLEN,
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
    split_ref,
)
from ..stored import fetched_job
from . import connection, reads
from .hot import HotChannel
from .keys import QueueKeys, bucket_key, lock_keys, registry_key
from .loop_clients import LoopClient, LoopClients
from .reads import text

log = logging.getLogger("conveyor.redis")

_HOT_SCRIPTS = frozenset({"add", "finish_and_fetch"})
RELEASE_NOTE_MS = 10_000
"""How long a lock's release note waits for a blocked waiter before it expires."""
_ACTION_CODE = {"complete": "c", "fail": "f", "retry": "r", "postpone": "p", "wait": "w"}


@contextlib.asynccontextmanager
async def _translated(url: str, *, write: bool = False) -> AsyncIterator[None]:
    """Report every failure of Redis as a conveyor error, on the hot path and the plain one.

    BackendUnavailableError for what passes once Redis is back or ready: no connection, a
    timeout, a restarted Redis still loading its data (``LOADING``, which redis-py raises as
    BusyLoadingError, a ConnectionError), a replica or cluster that cannot take writes
    during a failover; refused credentials say so. ScriptError for what Redis refuses for
    good (a script bug). For a ``write``, a connection lost once the request may have left
    is AmbiguousResultError: the caller cannot know whether it was carried out.
    """
    try:
        yield
    except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
        if isinstance(exc, rx.BusyLoadingError):
            raise BackendUnavailableError(
                f"Redis at {_redact(url)} is loading its dataset; try again ({exc})"
            ) from exc
        if isinstance(exc, rx.AuthenticationError) or "authenticat" in str(exc).lower():
            raise BackendUnavailableError(
                f"Redis at {_redact(url)} refused the credentials (missing or wrong password"
                f" or user in the URL): {exc}"
            ) from exc
        reason, cause = str(exc), exc.__cause__ or exc.__context__
        if isinstance(cause, OSError) and str(cause) not in reason:
            reason = f"{reason} ({cause})"  # redis-py 5.0 drops e.g. a TLS error's words
        if write and _maybe_sent(exc):
            raise AmbiguousResultError(
                f"Redis at {_redact(url)} went away after the request was sent, so it may or"
                f" may not have been carried out ({reason}); an add that gave its own job_id"
                " is safe to retry"
            ) from exc
        raise BackendUnavailableError(f"Redis at {_redact(url)} is unavailable: {reason}") from exc
    except rx.ResponseError as exc:
        text = str(exc)
        if text.startswith("LOADING"):  # a parser that did not map it to BusyLoadingError
            raise BackendUnavailableError(
                f"Redis at {_redact(url)} is loading its dataset; try again ({exc})"
            ) from exc
        if "NOAUTH" in text or "WRONGPASS" in text:
            raise BackendUnavailableError(f"Redis refused the credentials: {exc}") from exc
        if isinstance(exc, rx.ReadOnlyError | rx.TryAgainError | rx.ClusterDownError):
            raise BackendUnavailableError(  # a failover or resharding under way
                f"Redis at {_redact(url)} cannot take this command now: {exc}"
            ) from exc
        raise ScriptError(f"Redis refused a conveyor command: {exc}") from exc
    except (rx.DataError, UnicodeEncodeError) as exc:
        raise _unsendable(exc) from exc
    except (rx.RedisError, rx.RedisClusterException) as exc:  # an unreadable reply, a
        # cluster that cannot be reached, and kinds later redis-py versions add
        raise BackendUnavailableError(f"Redis at {_redact(url)} failed: {exc!r}") from exc


def _unsendable(exc: Exception) -> Exception:
    """An argument that could not be sent: text with a lone surrogate is the caller's
    (InvalidOptionsError); any other kind redis-py cannot send is conveyor's bug."""
    if isinstance(exc, UnicodeEncodeError):
        return InvalidOptionsError(f"an argument is not valid UTF-8 text: {exc}")
    return ScriptError(f"conveyor built a command Redis cannot take: {exc}")


def _maybe_sent(exc: Exception) -> bool:
    """Whether a connection error may have come after the request left. Failures to
    connect say "connecting" (redis-py's words, on both paths: the hot channel opens its
    connection through redis-py); error replies (too many clients) mean Redis refused it."""
    text = str(exc).lower()
    return "connecting" not in text and "max number of clients" not in text


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def _job_fields(job: NewJob) -> tuple[Any, ...]:
    """The fields of a new job as ``add.lua`` and ``add_tree.lua`` take them, in order."""
    return (
        job.job_id or "",
        job.name,
        job.data,
        job.options,
        job.priority,
        job.delay_ms,
        1 if job.lifo else 0,
    )


class RedisBackend(Backend):
    """Storage on Redis ≥ 6.2 or Valkey; see ``keys`` for the key schema."""

    def __init__(self, url: str, *, strict: bool = False) -> None:
        target = connection.parse(url)
        self.url = url
        self.prefix = target.prefix
        self._target = target
        self._strict = strict
        self._clients = LoopClients(target)
        """Connections belong to an event loop: each loop that uses the backend gets its own."""
        self._registered: set[str] = set()
        self._checked = False
        self._seq = 0

    @property
    def _client(self) -> Any:
        """The running loop's redis-py client; replies are Any and converted per call."""
        return self._clients.current().client

    @property
    def _scripts(self) -> dict[str, AsyncScript]:
        return self._clients.current().scripts

    @property
    def _hot(self) -> HotChannel | None:
        return self._clients.current().hot

    def clone(self) -> RedisBackend:
        return RedisBackend(self.url, strict=self._strict)

    def _keys(self, queue: str) -> QueueKeys:
        return QueueKeys(self.prefix, queue)

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if not self._checked:
            await self.preflight()
        conns = self._clients.current()
        async with _translated(self.url, write=True):
            if conns.hot is not None and name in _HOT_SCRIPTS:
                return await self._run_hot(conns, name, keys, args)
            return await conns.scripts[name](keys=list(keys), args=list(args))

    async def _run_hot(
        self, conns: LoopClient, name: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """EVALSHA on the lean channel; load the script once if Redis lost it (NOSCRIPT)."""
        assert conns.hot is not None
        script = conns.scripts[name]
        try:
            return await conns.hot.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except rx.NoScriptError:
            await conns.client.script_load(script.script)
            return await conns.hot.call("EVALSHA", script.sha, len(keys), *keys, *args)

    # -- lifecycle -----------------------------------------------------------------
    async def preflight(self) -> None:
        """Warn (or refuse, when strict) if Redis may evict or lose jobs."""
        self._checked = True  # set first: concurrent first calls check once
        try:
            async with _translated(self.url):
                try:
                    policy = await self._client.config_get("maxmemory-policy")
                    persistence = await self._client.config_get("appendonly")
                    saves = await self._client.config_get("save")
                except rx.ResponseError:
                    log.warning(
                        "could not check Redis settings (CONFIG GET is not allowed here);"
                        " make sure maxmemory-policy is noeviction and persistence is on"
                    )
                    return
        except BaseException:  # unavailable or loading: check again on the next call
            self._checked = False
            raise
        problems = []
        value = text(policy.get("maxmemory-policy", policy.get(b"maxmemory-policy", b"")))
        if value and value != "noeviction":
            problems.append(
                f"maxmemory-policy is {value!r}: Redis may evict jobs; set it to 'noeviction'"
            )
        aof = text(persistence.get("appendonly", persistence.get(b"appendonly", b"no")))
        rdb = text(saves.get("save", saves.get(b"save", b"")))
        if aof != "yes" and not rdb.strip():
            problems.append("persistence is off (no AOF, no RDB saves): a restart loses every job")
        for problem in problems:
            if self._strict:
                self._checked = False
                raise ConfigurationError(f"Redis at {_redact(self.url)}: {problem}")
            log.warning("Redis at %s: %s", _redact(self.url), problem)

    async def ping(self) -> None:
        async with _translated(self.url):
            await self._client.ping()

    async def close(self) -> None:
        """Close the running loop's connections (another loop's close as that loop ends)."""
        await self._clients.aclose()

    # -- producing -----------------------------------------------------------------
    async def add(self, queue: str, jobs: Sequence[NewJob], now_ms: int) -> list[AddResult]:
        k = self._keys(queue)
        args: list[Any] = [now_ms, EVENTS_MAXLEN, len(jobs)]
        for job in jobs:
            args += _job_fields(job)
            args += (job.dedup_key, job.dedup_mode, job.dedup_ttl_ms)
        if queue not in self._registered or not self._checked:
            await self._register(queue)
        raw = await self._run("add", [k.base, k.key("id"), k.delayed, k.marker, k.events], args)
        return [
            AddResult(text(raw[i]), raw[i + 1] == 1, raw[i + 2] == 1)
            for i in range(0, len(raw), 3)
        ]

    async def _register(self, *queues: str) -> None:
        """List queues before their first job is stored, so that a failure here stores
        nothing (an error after the script ran would leave the caller unsure). Marked
        first so that a burst of first adds (a gather of hundreds) sends one SADD, not one
        per caller: each would take a pooled connection, and redis-py >= 8 refuses a
        pool's 101st ("Too many connections")."""
        if not self._checked:  # a strict refusal stores nothing, not even the listing
            await self.preflight()
        new = [q for q in dict.fromkeys(queues) if q not in self._registered]
        if not new:
            return
        self._registered.update(new)
        try:
            async with _translated(self.url):
                await self._client.sadd(registry_key(self.prefix), *new)
        except BaseException:
            self._registered.difference_update(new)  # the next add registers them
            raise

    async def add_tree(self, nodes: Sequence[TreeNode], now_ms: int) -> TreeResult:
        queues = list(dict.fromkeys(node.queue for node in nodes))
        reached = {split_ref(node.parent_ref)[0] for node in nodes if node.parent_ref}
        if self._target.cluster and len({*queues, *reached}) > 1:
            raise ConfigurationError(
                "a flow across queues needs its queues in one hash slot, which conveyor's"
                f" keys do not give on Redis Cluster yet; keep this flow in one queue"
                f" (it spans {', '.join(dict.fromkeys([*reached, *queues]))})"
            )
        args: list[Any] = [now_ms, EVENTS_MAXLEN, len(nodes)]
        for node in nodes:
            job = node.job
            args += (node.queue, node.parent + 1, node.parent_ref, node.on_failure)
            args += _job_fields(job)
        await self._register(*queues)
        raw = await self._run("add_tree", [self._keys(nodes[0].queue).base], args)
        if raw[0] != 0:
            return TreeResult(int(raw[0]), [])
        return TreeResult(
            0, [AddResult(text(raw[i]), raw[i + 1] == 1) for i in range(1, len(raw), 2)]
        )

    # -- working -------------------------------------------------------------------
    async def finish_and_fetch(
        self,
        queue: str,
        lease: Lease,
        outcomes: Sequence[Outcome],
        fetch: int,
        now_ms: int,
    ) -> FinishResult:
        k = self._keys(queue)
        args: list[Any] = [
            now_ms,
            EVENTS_MAXLEN,
            lease.worker_id,
            lease.lease_ms,
            self._seq,
            fetch,
            len(outcomes),
        ]
        for o in outcomes:
            args += (
                o.job_id,
                o.token,
                _ACTION_CODE[o.action],
                o.attempts_made,
                o.data if o.action == "wait" else o.result,
                o.reason,
                o.error,
                o.retry_delay_ms,
                o.retention[0],
                o.retention[1],
                o.dedup_key,
                o.parent,
            )
        self._seq += fetch
        keys = [
            k.base,
            k.active,
            k.wait,
            k.prioritized,
            k.delayed,
            k.completed,
            k.failed,
            k.events,
            k.marker,
            k.meta,
            k.lease(lease.worker_id),
        ]
        codes, flat, next_at, paused = await self._run("finish_and_fetch", keys, args)
        # Each job is read on its own: a damaged one carries a note, the rest run.
        jobs = [
            fetched_job(text(flat[i]), text(flat[i + 1]), *flat[i + 2 : i + 8])
            for i in range(0, len(flat), 8)
        ]
        return FinishResult(list(codes), jobs, None if next_at < 0 else int(next_at), paused == 1)

    async def wait_for_work(self, queue: str, timeout_s: float) -> None:
        async with _translated(self.url):
            await self._client.bzpopmin(self._keys(queue).marker, max(timeout_s, 0.001))

    async def renew_lease(
        self, queue: str, lease: Lease, active: Sequence[tuple[str, str]]
    ) -> list[str]:
        k = self._keys(queue)
        args: list[Any] = [lease.lease_ms]
        for job_id, token in active:
            args += (job_id, token)
        lost = await self._run("renew_lease", [k.lease(lease.worker_id), k.active], args)
        return [text(x) for x in lost]

    async def requeue(
        self, queue: str, jobs: Sequence[tuple[str, str]], now_ms: int
    ) -> list[str]:
        k = self._keys(queue)
        args: list[Any] = [now_ms, EVENTS_MAXLEN]
        for job_id, token in jobs:
            args += (job_id, token)
        moved = await self._run("requeue", [k.base, k.active, k.events, k.marker], args)
        return [text(x) for x in moved]

    async def release_lease(self, queue: str, lease: Lease) -> None:
        async with _translated(self.url):
            await self._client.delete(self._keys(queue).lease(lease.worker_id))

    async def check_stalled(
        self, queue: str, max_stalled: int, interval_ms: int, now_ms: int, reason: str
    ) -> StalledReport:
        k = self._keys(queue)
        keys = [k.base, k.active, k.failed, k.events, k.marker, k.stalled_check]
        args = [now_ms, EVENTS_MAXLEN, max_stalled, interval_ms, reason]
        recovered, failed = await self._run("check_stalled", keys, args)
        return StalledReport([text(x) for x in recovered], [text(x) for x in failed])

    async def update_progress(
        self, queue: str, job_id: str, progress: bytes, now_ms: int
    ) -> int:
        k = self._keys(queue)
        keys = [k.job(job_id), k.events]
        return int(await self._run("update_progress", keys, [progress, EVENTS_MAXLEN, job_id]))

    async def add_log(self, queue: str, job_id: str, line: str, keep: int) -> int:
        k = self._keys(queue)
        return int(await self._run("add_log", [k.job(job_id), k.logs(job_id)], [line, keep]))

    # -- named locks -------------------------------------------------------------
    async def acquire_lock(self, name: str, token: str, ttl_ms: int) -> int:
        key, _ = lock_keys(self.prefix, name)
        return int(await self._run("acquire_lock", [key], [token, ttl_ms]))

    async def extend_lock(self, name: str, token: str, ttl_ms: int) -> bool:
        key, _ = lock_keys(self.prefix, name)
        return int(await self._run("extend_lock", [key], [token, ttl_ms])) == 1

    async def release_lock(self, name: str, token: str) -> bool:
        keys = list(lock_keys(self.prefix, name))
        return int(await self._run("release_lock", keys, [token, RELEASE_NOTE_MS])) == 1

    async def wait_for_lock(self, name: str, timeout_s: float) -> None:
        _, released = lock_keys(self.prefix, name)
        async with _translated(self.url):
            await self._client.blpop([released], max(timeout_s, 0.001))

    # -- token buckets -------------------------------------------------------------
    async def take_tokens(
        self, name: str, count: int, capacity: int, per_second: float, now_ms: int
    ) -> int:
        key = bucket_key(self.prefix, name)
        args = [count, capacity, repr(float(per_second)), now_ms]
        return int(await self._run("take_tokens", [key], args))

    # -- reading (queries in reads.py, as SQLite's) -------------------------------------
    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        async with _translated(self.url):
            return await reads.get_job(self._client, self._keys(queue), job_id)

    async def get_jobs(
        self, queue: str, state: JobState, offset: int, limit: int, newest_first: bool
    ) -> list[JobRecord]:
        async with _translated(self.url):
            return await reads.get_jobs(
                self._client, self._keys(queue), state, offset, limit, newest_first
            )

    async def counts(self, queue: str) -> dict[JobState, int]:
        async with _translated(self.url):
            return await reads.counts(self._client, self._keys(queue))

    async def get_children(self, queue: str, job_id: str) -> Children:
        async with _translated(self.url):
            return await reads.get_children(self._client, self._keys(queue), job_id)

    async def get_logs(self, queue: str, job_id: str, offset: int, limit: int) -> list[str]:
        async with _translated(self.url):
            return await reads.get_logs(self._client, self._keys(queue), job_id, offset, limit)

    async def is_paused(self, queue: str) -> bool:
        async with _translated(self.url):
            return await reads.is_paused(self._client, self._keys(queue))

    async def queues(self) -> list[str]:
        async with _translated(self.url):
            return await reads.queues(self._client, registry_key(self.prefix))

    async def read_events(
        self, queue: str, after: str, count: int, block_ms: int | None
    ) -> list[Event]:
        async with _translated(self.url):
            return await reads.read_events(self._client, self._keys(queue), after, count, block_ms)

    async def last_event_id(self, queue: str) -> str:
        async with _translated(self.url):
            return await reads.last_event_id(self._client, self._keys(queue))

    # -- admin ---------------------------------------------------------------------
    async def pause(self, queue: str, paused: bool, now_ms: int) -> None:
        k = self._keys(queue)
        await self._run("pause", [k.meta, k.events, k.marker], [int(paused), EVENTS_MAXLEN])

    async def drain(self, queue: str, include_delayed: bool, now_ms: int) -> int:
        k = self._keys(queue)
        keys = [k.base, k.wait, k.prioritized, k.delayed, k.events]
        return int(await self._run("drain", keys, [int(include_delayed), EVENTS_MAXLEN]))

    async def clean(self, queue: str, state: JobState, cutoff_ms: int, limit: int) -> list[str]:
        k = self._keys(queue)
        key = k.wait if state == "waiting" else k.key(state)
        ids = await self._run("clean", [k.base, key, k.events], [state, cutoff_ms, limit,
                                                                 EVENTS_MAXLEN])
        return [text(x) for x in ids]

    async def obliterate(self, queue: str, force: bool, budget: int) -> int:
        k = self._keys(queue)
        args = [int(force), budget, EVENTS_MAXLEN]
        left = int(await self._run("obliterate", [k.base, k.meta, k.active], args))
        if left == 0:  # gone: unlist it (the registry is outside the queue's hash slot)
            async with _translated(self.url):
                await self._client.srem(registry_key(self.prefix), queue)
            self._registered.discard(queue)
        return left

    async def remove(self, queue: str, job_id: str, now_ms: int) -> int:
        k = self._keys(queue)
        return int(await self._run("remove", [k.base, k.active, k.events], [job_id, EVENTS_MAXLEN]))

    async def retry(self, queue: str, job_ids: Sequence[str] | None, now_ms: int) -> int:
        k = self._keys(queue)
        args: list[Any] = [EVENTS_MAXLEN, 1 if job_ids is None else 0, now_ms, *(job_ids or ())]
        return int(await self._run("retry", [k.base, k.failed, k.events, k.marker], args))

    async def promote(self, queue: str, job_id: str, now_ms: int) -> int:
        k = self._keys(queue)
        keys = [k.base, k.delayed, k.events, k.marker]
        return int(await self._run("promote", keys, [job_id, EVENTS_MAXLEN]))

    async def change_priority(self, queue: str, job_id: str, priority: int, now_ms: int) -> int:
        k = self._keys(queue)
        keys = [k.base, k.wait, k.prioritized]
        return int(await self._run("change_priority", keys, [job_id, priority]))

    async def update_data(self, queue: str, job_id: str, data: bytes) -> int:
        return int(await self._run("update_data", [self._keys(queue).job(job_id)], [data]))
