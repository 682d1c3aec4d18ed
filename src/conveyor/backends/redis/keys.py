"""Every Redis key conveyor uses, built in one place.

All keys of one queue share the hash tag ``{prefix:queue}`` so that a queue lives in one
Redis Cluster slot and each Lua script touches one slot. Scripts receive the queue's key
base (``{prefix:queue}:``) as ``KEYS[1]`` and derive per-job keys from it, which stays in
the same slot.

============================  =======  =================================================
key                           type     holds
============================  =======  =================================================
``{p:q}:id``                  string   counter for generated job ids
``{p:q}:job:<id>``            hash     one job: name, data, opts, state, timestamps, ...
``{p:q}:logs:<id>``           list     the job's log lines (capped)
``{p:q}:wait``                list     waiting jobs; taken from the right (RPOP)
``{p:q}:prioritized``         zset     waiting jobs with a priority; score = prio·2³² + seq
``{p:q}:pc``                  string   sequence for FIFO order within one priority
``{p:q}:delayed``             zset     delayed jobs; score = due time in ms
``{p:q}:active``              hash     job id → lease token (``<worker id>:<n>``)
``{p:q}:completed``           zset     completed jobs; score = finish time in ms
``{p:q}:failed``              zset     failed jobs; score = finish time in ms
``{p:q}:waiting-children``    zset     parents waiting for their children (flows)
``{p:q}:events``              stream   capped event stream (``MAXLEN ~``)
``{p:q}:marker``              zset     wake-up marker workers block on (BZPOPMIN)
``{p:q}:dedup:<key>``         string   ``<job id>|<expiry ms or 0>``: a dedup key's holder
``{p:q}:deps:<id>``           set      a flow parent's pending children (``queue:id``)
``{p:q}:values:<id>``         hash     a flow parent's completed children → return value
``{p:q}:failures:<id>``       hash     a flow parent's failed children → reason
``{p:q}:meta``                hash     queue settings: ``paused``
``{p:q}:lease:<worker id>``   string   a worker's lease, with a PX expiry set by Redis
``{p:q}:stalled-check``       string   held (PX) by the worker running the stalled check
``<p>:queues``                set      names of known queues (outside any hash tag)
``{<p>:lock:<name>}``         string   a named lock: its holder's token, with a PX expiry
``{<p>:lock:<name>}:released`` list    a note per release, that one blocked waiter takes
``{<p>:bucket:<name>}``       hash     a token bucket: ``tokens`` left at ``at`` (ms)
============================  =======  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "conveyor"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    prefix: str
    queue: str

    @property
    def base(self) -> str:
        return f"{{{self.prefix}:{self.queue}}}:"

    def key(self, name: str) -> str:
        return self.base + name

    def job(self, job_id: str) -> str:
        return f"{self.base}job:{job_id}"

    def logs(self, job_id: str) -> str:
        return f"{self.base}logs:{job_id}"

    def deps(self, job_id: str) -> str:
        return f"{self.base}deps:{job_id}"

    def values(self, job_id: str) -> str:
        return f"{self.base}values:{job_id}"

    def failures(self, job_id: str) -> str:
        return f"{self.base}failures:{job_id}"

    @property
    def wait(self) -> str:
        return self.base + "wait"

    @property
    def prioritized(self) -> str:
        return self.base + "prioritized"

    @property
    def delayed(self) -> str:
        return self.base + "delayed"

    @property
    def active(self) -> str:
        return self.base + "active"

    @property
    def completed(self) -> str:
        return self.base + "completed"

    @property
    def failed(self) -> str:
        return self.base + "failed"

    @property
    def waiting_children(self) -> str:
        return self.base + "waiting-children"

    @property
    def events(self) -> str:
        return self.base + "events"

    @property
    def marker(self) -> str:
        return self.base + "marker"

    @property
    def meta(self) -> str:
        return self.base + "meta"

    @property
    def stalled_check(self) -> str:
        return self.base + "stalled-check"

    def lease(self, worker_id: str) -> str:
        return f"{self.base}lease:{worker_id}"


def lock_keys(prefix: str, name: str) -> tuple[str, str]:
    """A named lock's key and its release list, in one hash slot of their own."""
    key = f"{{{prefix}:lock:{name}}}"
    return key, key + ":released"


def bucket_key(prefix: str, name: str) -> str:
    """A token bucket's hash (``tokens``, ``at``), in a hash slot of its own."""
    return f"{{{prefix}:bucket:{name}}}"


def registry_key(prefix: str) -> str:
    return f"{prefix}:queues"
