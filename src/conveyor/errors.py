"""Every error conveyor raises, under one root, and the signals a handler may raise.

The tree::

    ConveyorError
    ├── ConfigurationError            bad URL, bad option, bad setting
    │   └── InvalidOptionsError       a job option that cannot be honoured
    │       └── UnknownJobNameError   a job name the queue has no handler for
    ├── BackendError                  the storage refused or went away
    │   ├── BackendUnavailableError   cannot connect / connection lost
    │   │   └── AmbiguousResultError  lost after the request was sent: it may have been applied
    │   ├── ScriptError               a Lua script or SQL statement failed unexpectedly
    │   └── SchemaError               a database this version cannot use (newer, corrupt, foreign)
    ├── JobError                      an operation on one job was refused
    │   ├── JobNotFoundError
    │   ├── LockLostError             the caller no longer holds the job's lease token
    │   └── InvalidStateError         the job is not in a state that allows the operation
    ├── LockTimeoutError              a named lock (``conveyor.Lock``) was not free in time
    ├── LockNotHeldError              a named lock's holder ran out of time: it is not held
    ├── TokenBucketTimeoutError       a token bucket would not refill within the timeout
    ├── PayloadError                  the payload cannot be stored
    │   ├── SerializationError        not JSON-encodable, or stored bytes that do not decode
    │   ├── PayloadTooLargeError
    │   └── ValidationError           does not match the payload type declared for the job name
    └── JobFailedError                ``await job.wait()`` on a job that failed
        (and ``TimeoutError`` from the standard library when ``wait`` times out)

Signals a handler raises to steer its own job are not errors and live apart, in
``conveyor.signals``.
"""

from __future__ import annotations

import enum


class ConveyorError(Exception):
    """Root of every error raised by conveyor."""


class ConfigurationError(ConveyorError):
    """A URL, option or setting is wrong; nothing was stored."""


class InvalidOptionsError(ConfigurationError):
    """A job option is out of range or unknown; the job was not stored."""


class UnknownJobNameError(InvalidOptionsError):
    """``add`` named a job the queue has no handler or declaration for: a typo caught at
    the producer, not as a failed job on the worker. A queue with no handlers registered
    in this process (a producer that does not import them) checks nothing; one with some
    learns the names handled elsewhere from ``Queue.declare``."""

    def __init__(self, *, queue: str, job_name: str, known: list[str]):
        super().__init__(
            f"queue {queue!r} has no job named {job_name!r} (it knows: {', '.join(known)});"
            " a name handled by another process can be declared: queue.declare(name)"
        )
        self.queue = queue
        """The queue's name."""
        self.job_name = job_name
        """The name ``add`` was given."""
        self.known = known
        """The names the queue accepts (registered and declared), sorted."""


class BackendError(ConveyorError):
    """The backend failed to carry out an operation."""


class BackendUnavailableError(BackendError):
    """The backend cannot be reached (refused, timed out, connection dropped)."""


class AmbiguousResultError(BackendUnavailableError):
    """The connection failed after the request was sent: the backend may have carried it
    out or not (an ``add`` may have stored its job). Retrying an ``add`` that gave its own
    ``job_id`` is safe (the second call finds the first job); one with a generated id may
    store the job twice. Reads are never ambiguous; SQLite writes never are either (a
    failed transaction is rolled back)."""


class ScriptError(BackendError):
    """A storage script failed in a way no caller input explains."""


class SchemaError(BackendError):
    """The database was written by another program or a newer conveyor, or is damaged."""


class JobError(ConveyorError):
    """An operation on a single job was refused."""

    def __init__(self, message: str, *, queue: str, job_id: str, state: str | None = None):
        super().__init__(message)
        self.queue = queue
        """The queue's name."""
        self.job_id = job_id
        """The id of the job the operation was refused for."""
        self.state = state
        """The job's state when that explains the refusal (``InvalidStateError``), else None."""


class JobNotFoundError(JobError):
    """No job with this id exists in the queue (never added, or removed)."""


class LockLostError(JobError):
    """The caller's lease token is no longer the job's: another worker may own it now."""


class InvalidStateError(JobError):
    """The job's state does not allow the operation (e.g. promoting a job that is not delayed)."""


class LockTimeoutError(ConveyorError, TimeoutError):
    """``Lock.acquire`` waited its ``timeout`` and the lock was still held by another."""


class LockNotHeldError(ConveyorError):
    """The lock's hold ran out (its TTL passed without renewal) before it was extended or
    released: another holder may have had it meanwhile, so the work it guarded may have
    overlapped."""


class TokenBucketTimeoutError(ConveyorError, TimeoutError):
    """``TokenBucket.acquire`` would have waited past its ``timeout``; nothing was taken."""


class PayloadError(ConveyorError):
    """A payload cannot be stored; nothing was stored."""


class SerializationError(PayloadError):
    """A value cannot be encoded to JSON, or stored bytes cannot be decoded."""


class PayloadTooLargeError(PayloadError):
    """The encoded payload is larger than the queue's limit."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"payload is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        """The encoded payload's size in bytes."""
        self.limit = limit
        """The queue's ``max_payload_bytes``."""


class ValidationError(PayloadError):
    """The payload does not match the type declared for the job name."""

    def __init__(self, message: str, *, job_name: str):
        super().__init__(f"payload for job {job_name!r} is invalid: {message}")
        self.job_name = job_name
        """The job name whose declared payload type refused the payload."""


class JobFailedError(ConveyorError):
    """Raised by ``Job.wait`` when the awaited job ended in the failed state."""

    def __init__(self, *, queue: str, job_id: str, reason: str):
        super().__init__(f"job {job_id} in queue {queue!r} failed: {reason}")
        self.queue = queue
        """The queue's name."""
        self.job_id = job_id
        """The failed job's id."""
        self.reason = reason
        """The job's ``failed_reason`` (``ValueError: ...``)."""


class Refusal(enum.IntEnum):
    """Negative codes a backend operation returns when it refuses; both backends share them.

    One table maps each code to one exception and one sentence, so the words a user reads
    do not depend on the backend.
    """

    JOB_NOT_FOUND = -1
    LOCK_LOST = -2
    INVALID_STATE = -3
    DAMAGED = -4
    """The job's stored record cannot be read (a key of the wrong type, a garbled field)."""

    def error(self, *, queue: str, job_id: str, state: str | None = None, action: str) -> JobError:
        """Build the exception for this refusal of ``action`` on one job."""
        if self is Refusal.JOB_NOT_FOUND:
            return JobNotFoundError(
                f"cannot {action} job {job_id} in queue {queue!r}: no such job",
                queue=queue,
                job_id=job_id,
            )
        if self is Refusal.LOCK_LOST:
            return LockLostError(
                f"cannot {action} job {job_id} in queue {queue!r}: its lease token is no longer"
                " ours (the job was recovered as stalled or finished elsewhere)",
                queue=queue,
                job_id=job_id,
            )
        if self is Refusal.DAMAGED:
            return InvalidStateError(
                f"cannot {action} job {job_id} in queue {queue!r}: its stored record is"
                " damaged (read it with get_job to see what is wrong, or remove it)",
                queue=queue,
                job_id=job_id,
                state="damaged",
            )
        where = f" (it is {state})" if state else ""
        return InvalidStateError(
            f"cannot {action} job {job_id} in queue {queue!r}: wrong state{where}",
            queue=queue,
            job_id=job_id,
            state=state,
        )
