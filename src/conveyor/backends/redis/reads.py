"""Read-only queries: jobs, pages by state, counts, logs, events (SQLite: sqlite/reads.py).

Each takes the running loop's client and the queue's keys; the backend wraps every call
so that a failure of Redis reaches the caller as a conveyor error. A job's hash is read
field by field (:mod:`..stored`), so that a damaged record reads with a note instead of
failing the page it is on.
"""

from __future__ import annotations

from typing import Any, cast

from redis import exceptions as rx

from ...options import STATES, STORED_STATES, JobState
from ..base import Children, Event, JobRecord, OnFailure
from ..stored import FieldReader
from .keys import QueueKeys

SCORED_STATES = ("prioritized", "delayed", "completed", "failed", "waiting-children")
"""The states Redis keeps in a sorted set (waiting is a list, active a hash)."""


def text(value: bytes | str) -> str:
    """A reply as text; bytes that are not UTF-8 (written by hand or another program) are
    shown escaped instead of failing the whole reply they came in."""
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else value


async def get_job(client: Any, k: QueueKeys, job_id: str) -> JobRecord | None:
    try:
        raw = await client.hgetall(k.job(job_id))
    except rx.ResponseError as exc:
        if not _wrong_type(exc):
            raise
        return await unreadable(client, k, job_id)
    if not raw:
        return None
    paused = raw.get(b"state") == b"waiting" and await is_paused(client, k)
    record = _record(k.queue, job_id, raw, paused)
    if record.state == "delayed":
        due = await client.zscore(k.delayed, job_id)
        record.due_on = None if due is None else int(due)
    return record


async def unreadable(
    client: Any, k: QueueKeys, job_id: str, state: str | None = None
) -> JobRecord:
    """A job whose key is not a hash: where its id sits, and what its key holds."""
    if state is None:
        pipe = client.pipeline(transaction=False)
        pipe.lpos(k.wait, job_id)
        pipe.hexists(k.active, job_id)
        for name in SCORED_STATES:
            pipe.zscore(k.key(name), job_id)
        in_wait, in_active, *scores = await pipe.execute()
        found = [n for n, at in zip(SCORED_STATES, scores, strict=True) if at is not None]
        if in_wait is not None:
            found.insert(0, "waiting")
        if in_active:
            found.insert(0, "active")
        state = found[0] if found else "failed"
    kind = text(await client.type(k.job(job_id)))
    return JobRecord(
        queue=k.queue,
        job_id=job_id,
        name="",
        data=b"null",
        options=b"{}",
        state=cast(JobState, state),
        timestamp=0,
        damage=f"its key holds a {kind}, not a hash: nothing of the job can be read",
    )


async def get_jobs(
    client: Any, k: QueueKeys, state: JobState, offset: int, limit: int, newest_first: bool
) -> list[JobRecord]:
    paused = await is_paused(client, k)
    if state in ("waiting", "paused") and (state == "paused") != paused:
        return []
    end = offset + limit - 1
    dues: dict[bytes, float] = {}
    if state in ("waiting", "paused"):
        # The wait list is taken from the right: the next job is at index -1.
        if newest_first:
            ids = await client.lrange(k.wait, offset, end)
        else:
            ids = (await client.lrange(k.wait, -end - 1, -offset - 1))[::-1]
    elif state == "active":
        ids = sorted(await client.hkeys(k.active), key=_id_order)
        ids = (ids[::-1] if newest_first else ids)[offset : end + 1]
    else:
        scan = client.zrevrange if newest_first else client.zrange
        scored = await scan(k.key(state), offset, end, withscores=True)
        ids = [member for member, _ in scored]
        if state == "delayed":  # the score is the due time, a retry's backoff too
            dues = dict(scored)
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hgetall(k.job(text(job_id)))
    rows = await pipe.execute(raise_on_error=False)
    records = []
    for job_id, row in zip(ids, rows, strict=True):
        if isinstance(row, rx.ResponseError) and _wrong_type(row):
            records.append(await unreadable(client, k, text(job_id), state))
        elif isinstance(row, Exception):
            raise row
        elif row:
            records.append(_record(k.queue, text(job_id), row, paused))
            if job_id in dues and records[-1].state == "delayed":
                records[-1].due_on = int(dues[job_id])
    return records


async def counts(client: Any, k: QueueKeys) -> dict[JobState, int]:
    pipe = client.pipeline(transaction=False)
    pipe.hexists(k.meta, "paused")
    pipe.llen(k.wait)
    pipe.zcard(k.prioritized)
    pipe.zcard(k.delayed)
    pipe.hlen(k.active)
    pipe.zcard(k.waiting_children)
    pipe.zcard(k.completed)
    pipe.zcard(k.failed)
    paused, *sizes = await pipe.execute()
    found = dict.fromkeys(STATES, 0)
    for name, size in zip(STORED_STATES, sizes, strict=True):
        found[name] = int(size)
    if paused:
        found["paused"], found["waiting"] = found["waiting"], 0
    return found


async def get_logs(client: Any, k: QueueKeys, job_id: str, offset: int, limit: int) -> list[str]:
    lines = await client.lrange(k.logs(job_id), offset, offset + limit - 1)
    return [text(x) for x in lines]


async def is_paused(client: Any, k: QueueKeys) -> bool:
    return bool(await client.hexists(k.meta, "paused"))


async def queues(client: Any, registry: str) -> list[str]:
    return sorted(text(x) for x in await client.smembers(registry))


async def read_events(
    client: Any, k: QueueKeys, after: str, count: int, block_ms: int | None
) -> list[Event]:
    reply = await client.xread({k.events: after}, count=count, block=block_ms)
    events = []
    for _stream, entries in reply or []:
        for event_id, fields in entries:
            decoded = {text(a): text(b) for a, b in fields.items()}
            name = decoded.pop("event", "")
            job_id = decoded.pop("jobId", "") or None
            events.append(Event(text(event_id), name, job_id, decoded))
    return events


async def last_event_id(client: Any, k: QueueKeys) -> str:
    last = await client.xrevrange(k.events, count=1)
    return text(last[0][0]) if last else "0"


def _id_order(job_id: bytes) -> tuple[int, bytes]:
    return (0, b"%020d" % int(job_id)) if job_id.isdigit() else (1, job_id)


def _wrong_type(exc: Exception) -> bool:
    return str(exc).startswith("WRONGTYPE")


def _error_order(key: bytes) -> int:
    return int(key[4:]) if key[4:].isdigit() else 1 << 62


def _record(queue: str, job_id: str, raw: dict[bytes, bytes], paused: bool) -> JobRecord:
    """A job's hash as a record; a field that does not parse becomes a note, not an error."""
    read = FieldReader()
    state = read.text(raw.get(b"state"), "state", "failed")
    if state not in STATES:
        read.note(f"state {state[:40]!r} is not a known state")
    if state == "waiting" and paused:
        state = "paused"
    errors = sorted(
        ((key, value) for key, value in raw.items() if key.startswith(b"err:")),
        key=lambda pair: _error_order(pair[0]),
    )
    return JobRecord(
        queue=queue,
        job_id=job_id,
        name=read.name(raw.get(b"name")),
        data=read.blob(raw.get(b"data"), "data"),
        options=read.blob(raw.get(b"opts"), "opts", b"{}"),
        state=cast(JobState, state),
        timestamp=read.integer(raw.get(b"timestamp"), "timestamp"),
        attempts_made=read.integer(raw.get(b"attemptsMade", b"0"), "attemptsMade"),
        stalled_count=read.integer(raw.get(b"stalledCounter", b"0"), "stalledCounter"),
        delay_ms=read.integer(raw.get(b"delay", b"0"), "delay"),
        priority=read.integer(raw.get(b"priority", b"0"), "priority"),
        processed_on=read.optional_integer(raw.get(b"processedOn"), "processedOn") or None,
        finished_on=read.optional_integer(raw.get(b"finishedOn"), "finishedOn") or None,
        result=raw.get(b"returnvalue"),
        failed_reason=read.optional_text(raw.get(b"failedReason"), "failedReason"),
        progress=raw.get(b"progress"),
        errors=[value for _, value in errors],
        damage=read.damage,
        parent=read.optional_text(raw.get(b"parent"), "parent"),
        on_failure=_on_failure(raw.get(b"onFailure")),
    )


def _on_failure(raw: bytes | None) -> OnFailure:
    value = text(raw) if raw else "fail"
    return cast(OnFailure, value if value in ("fail", "ignore", "continue", "remove") else "fail")


async def get_children(client: Any, k: QueueKeys, job_id: str) -> Children:
    """What a flow's parent keeps of its children: three keys, read in one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.smembers(k.deps(job_id))
    pipe.hgetall(k.values(job_id))
    pipe.hgetall(k.failures(job_id))
    pending, values, failures = await pipe.execute()
    return Children(
        pending=[text(ref) for ref in pending],
        values={text(ref): bytes(value) for ref, value in values.items()},
        failures={text(ref): text(reason) for ref, reason in failures.items()},
    )
