"""Turn the end of an attempt into an Outcome: complete, retry after a backoff, or fail."""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from ..backends.base import FetchedJob, Outcome
from ..errors import ConfigurationError, PayloadError, SerializationError
from ..options import MAX_DURATION_S, Backoff, JobOptions, RetentionMs, retention_ms
from ..serialization import dumps
from ..signals import Postpone, Retry, UnrecoverableError

BackoffStrategy = Callable[[int, BaseException], float]
"""A custom strategy: (attempts made so far, the error) → seconds to wait."""

_MAX_STACK = 16_384


def backoff_delay_ms(
    backoff: Backoff | None,
    attempts_made: int,
    error: BaseException,
    strategies: Mapping[str, BackoffStrategy],
) -> int:
    """Milliseconds before the next attempt, after ``attempts_made`` attempts failed."""
    if backoff is None:
        return 0
    if backoff.kind == "fixed":
        seconds = backoff.delay
    elif backoff.kind == "exponential":
        seconds = backoff.delay * 2 ** (attempts_made - 1)
    else:
        strategy = strategies.get(backoff.kind)
        if strategy is None:
            raise ConfigurationError(f"no backoff strategy named {backoff.kind!r} on this worker")
        seconds = float(strategy(attempts_made, error))
    if backoff.max_delay is not None:
        seconds = min(seconds, backoff.max_delay)
    if backoff.jitter:
        seconds *= 1 - backoff.jitter * random.random()
    return _delay_ms(seconds)


def _delay_ms(seconds: float) -> int:
    """A retry delay every backend can store: a custom strategy or a ``Retry`` may ask for
    any number, so it is capped at the longest duration options take."""
    if not seconds > 0:  # negative, zero or NaN
        return 0
    return round(min(seconds, MAX_DURATION_S) * 1000)


def completed(
    job: FetchedJob, options: JobOptions, result: Any, *, clock: Callable[[], int] = lambda: 0
) -> Outcome:
    """A completed attempt, storing the result's JSON form (see ``serialization.dumps``).

    A result JSON cannot hold (NaN, an object with no JSON form, a cycle) fails the job
    at once instead: the handler's side effects have happened, and running it again
    would repeat them for a result that still could not be stored. ``clock`` dates that
    failure's error record (read only then: most results are stored).
    """
    try:
        encoded = dumps(result, "result")
    except SerializationError as exc:
        error = SerializationError(f"the handler's return value cannot be stored as JSON: {exc}")
        error.__cause__ = exc
        return failed(job, options, error, clock(), strategies={})
    return Outcome(
        job.job_id,
        job.token,
        "complete",
        job.attempts_made + 1,
        result=encoded,
        retention=retention_ms(options.remove_on_complete),
        dedup_key=_dedup_key(options),
        parent=job.parent,
    )


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return "TimeoutError: the job ran past its timeout"
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def failed(
    job: FetchedJob,
    options: JobOptions,
    error: BaseException,
    now_ms: int,
    strategies: Mapping[str, BackoffStrategy],
) -> Outcome:
    """Retry with backoff while attempts remain, else fail; some errors fail at once.
    A ``Postpone`` is no failure: the job runs again later, its attempts untouched."""
    if isinstance(error, Postpone):
        return postponed(job, error.delay)
    attempts = job.attempts_made + 1
    reason = describe(error)
    stack = "".join(traceback.format_exception(error))[-_MAX_STACK:]
    record = dumps(
        {"attempt": attempts, "type": type(error).__name__, "message": str(error),
         "stack": stack, "at": now_ms}
    )
    final = isinstance(error, UnrecoverableError | PayloadError) or attempts >= options.attempts
    if not final:
        try:
            if isinstance(error, Retry):
                delay = _delay_ms(error.delay)
            else:
                delay = backoff_delay_ms(options.backoff, attempts, error, strategies)
        except Exception as exc:  # a broken custom strategy must not lose the job
            reason = f"{reason} (and the backoff strategy failed: {describe(exc)})"
            final = True
    if final:
        return _fail(
            job, attempts, reason, record, retention_ms(options.remove_on_fail),
            _dedup_key(options),
        )
    return Outcome(
        job.job_id, job.token, "retry", attempts, reason=reason, error=record, retry_delay_ms=delay
    )


def waiting(job: FetchedJob, data: bytes = b"") -> Outcome:
    """End the run of a flow's parent until its children are done (``WaitForChildren``);
    ``data`` (when not empty) is its next payload. No attempt is spent."""
    return Outcome(job.job_id, job.token, "wait", job.attempts_made, data=data)


def postponed(job: FetchedJob, delay_s: float) -> Outcome:
    """Run the job again after ``delay_s`` with its attempts, reason and errors as they
    were: the handler said "not now" (``Postpone``)."""
    return Outcome(
        job.job_id, job.token, "postpone", job.attempts_made, retry_delay_ms=_delay_ms(delay_s)
    )


_DEFAULT_FAIL_RETENTION = retention_ms(JobOptions().remove_on_fail)

STALLED_REASON = "job stalled more than the allowed number of times (max_stalled)"
"""Why a job that keeps stalling failed: stored by the backend's stalled check."""


def damaged(job: FetchedJob, now_ms: int) -> Outcome:
    """A job whose stored record cannot be run fails at once, alone, without running."""
    reason = f"the stored job record is damaged: {job.damage}"
    return _given_up(job, reason, "DamagedRecord", "", now_ms)


def unhandled(job: FetchedJob, error: BaseException, now_ms: int) -> Outcome:
    """The last resort when the worker's own code could not handle a job: fail it with a
    reason rather than hold it for ever. Never raises."""
    reason = f"conveyor could not handle this job: {describe(error)}"
    stack = "".join(traceback.format_exception(error))[-_MAX_STACK:]
    return _given_up(job, reason, type(error).__name__, stack, now_ms)


def _given_up(job: FetchedJob, reason: str, kind: str, stack: str, now_ms: int) -> Outcome:
    attempts = job.attempts_made + 1 if isinstance(job.attempts_made, int) else 1
    record = dumps(
        {"attempt": attempts, "type": kind, "message": reason, "stack": stack, "at": now_ms}
    )
    return _fail(job, attempts, reason, record, _DEFAULT_FAIL_RETENTION)


def _fail(
    job: FetchedJob,
    attempts: int,
    reason: str,
    record: bytes,
    retention: RetentionMs,
    dedup_key: str = "",
) -> Outcome:
    return Outcome(
        job.job_id, job.token, "fail", attempts, reason=reason, error=record,
        retention=retention, dedup_key=dedup_key, parent=job.parent,
    )


def _dedup_key(options: JobOptions) -> str:
    """The key a finishing job gives up (a job that ends no longer holds it)."""
    return "" if options.dedup is None else options.dedup.key
