"""Job options: one frozen dataclass, the queue's defaults, and per-add overrides.

Durations are seconds (``float`` or ``timedelta``) at the API and whole milliseconds inside.
Options travel with the job (stored beside its data), so any worker reads the same policy.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypedDict, get_args

from .errors import InvalidOptionsError

Seconds = float | int | timedelta

MAX_DURATION_S = 100 * 365 * 24 * 3600
"""The longest delay, timeout, backoff or retention any option takes (100 years): every
backend can store ``now + duration`` exactly (SQLite's 64-bit integers, Redis's double
scores), so the same options are accepted or refused on every backend."""
MAX_ATTEMPTS = 1_000_000
"""More attempts than any retry policy needs; it keeps the stored count a plain integer."""

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
"""What a queue name may hold (it becomes part of storage keys)."""


def to_ms(value: Seconds, what: str) -> int:
    """Convert a user duration to whole milliseconds, refusing negatives and non-numbers."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidOptionsError(
            f"{what} must be a number of seconds or a timedelta, got {value!r}"
        )
    if seconds < 0 or not math.isfinite(seconds):
        raise InvalidOptionsError(f"{what} must be zero or more seconds, got {value!r}")
    if seconds > MAX_DURATION_S:
        raise InvalidOptionsError(
            f"{what} must be at most {MAX_DURATION_S} seconds (100 years), got {value!r}"
        )
    return round(seconds * 1000)


def _seconds(options: object, *names: str) -> None:
    """Store ``timedelta`` durations of a frozen options object as float seconds, so that
    they compare, encode and travel with the job like numbers do."""
    for name in names:
        value = getattr(options, name)
        if isinstance(value, timedelta):
            object.__setattr__(options, name, value.total_seconds())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before the next attempt.

    ``kind`` is ``"fixed"``, ``"exponential"`` (``delay * 2 ** (attempt - 1)``) or the name of
    a custom strategy registered on the worker. ``jitter`` (0..1) takes a random share off
    each delay so that retries of many jobs spread out; ``max_delay`` caps it.
    """

    kind: str = "fixed"
    """``fixed``, ``exponential``, or the name of a strategy registered on the worker."""
    delay: float = 1.0
    """Seconds: the delay of a fixed backoff, or the first delay of an exponential one."""
    jitter: float = 0.0
    """The share (0..1) of each delay that may be taken off at random."""
    max_delay: float | None = None
    """The longest any one delay may be, in seconds (None: no cap)."""

    def __post_init__(self) -> None:
        _seconds(self, "delay", "max_delay")

    @classmethod
    def fixed(cls, delay: Seconds, *, jitter: float = 0.0) -> Backoff:
        """The same ``delay`` (seconds or a ``timedelta``) before every retry."""
        return cls("fixed", to_ms(delay, "backoff delay") / 1000, jitter)

    @classmethod
    def exponential(
        cls, delay: Seconds, *, jitter: float = 0.0, max_delay: Seconds | None = None
    ) -> Backoff:
        """``delay`` before the first retry, twice as long before each next one, at most
        ``max_delay``."""
        cap = None if max_delay is None else to_ms(max_delay, "max_delay") / 1000
        return cls("exponential", to_ms(delay, "backoff delay") / 1000, jitter, cap)

    @classmethod
    def custom(cls, name: str) -> Backoff:
        """A strategy registered on the worker under ``name`` computes each delay."""
        return cls(name)


@dataclass(frozen=True, slots=True)
class KeepJobs:
    """How many finished jobs to keep: the last ``count``, those younger than ``age``, or both."""

    count: int | None = None
    """Keep at most the newest ``count`` finished jobs (None: no limit by number)."""
    age: float | None = None
    """Keep the jobs that finished less than ``age`` seconds ago (None: no limit by age)."""

    def __post_init__(self) -> None:
        _seconds(self, "age")


Retention = bool | int | KeepJobs

DedupMode = Literal["throttle", "debounce"]


@dataclass(frozen=True, slots=True)
class Dedup:
    """Deduplication of adds by a key of the caller's, across every producer.

    ``Dedup.throttle(key, ttl)``: the first add wins; later adds with the key return that
    job (``job.deduplicated``) until ``ttl`` seconds have passed or the job has finished
    (``ttl=None``: until it finishes). ``Dedup.debounce(key, window)``: the job waits
    ``window`` seconds (or the add's own ``delay``); a later add within the window
    replaces its payload and starts the wait again, so a burst of adds runs once, with
    the last data. Once the job has started, the next add makes a new job.
    """

    key: str
    ttl: float | None = None
    """Seconds the key holds after the add that made the job; None: until it finishes."""
    mode: DedupMode = "throttle"

    @classmethod
    def throttle(cls, key: str, ttl: Seconds | None = None) -> Dedup:
        return cls(key, None if ttl is None else to_ms(ttl, "dedup ttl") / 1000, "throttle")

    @classmethod
    def debounce(cls, key: str, window: Seconds) -> Dedup:
        return cls(key, to_ms(window, "debounce window") / 1000, "debounce")

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise InvalidOptionsError(f"a dedup key is a non-empty string, got {self.key!r}")
        if self.mode not in ("throttle", "debounce"):
            raise InvalidOptionsError(f"dedup mode is throttle or debounce, got {self.mode!r}")
        if self.ttl is not None and to_ms(self.ttl, "dedup ttl") == 0:
            raise InvalidOptionsError("a dedup ttl is positive, or None (until the job ends)")
        if self.mode == "debounce" and self.ttl is None:
            raise InvalidOptionsError("a debounce needs its window: Dedup.debounce(key, window)")

    @property
    def ttl_ms(self) -> int:
        return 0 if self.ttl is None else to_ms(self.ttl, "dedup ttl")
"""``True`` removes at once, ``False`` keeps forever, an int keeps the last N."""


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Every per-job option; a queue holds defaults, ``add`` overrides them by keyword.

    Values out of range raise ``InvalidOptionsError`` when the options are made (for
    ``add``'s keywords too), so a job is never stored with options it cannot use.
    """

    attempts: int = 1
    """Runs allowed in all, the first included: ``attempts=3`` retries a failure twice."""
    backoff: Backoff | None = None
    """The wait before each retry; None retries at once (at the back of the wait list)."""
    delay: float = 0.0
    """Seconds before the job first becomes ready; it is ``delayed`` until then."""
    priority: int = 0
    """0 (none: taken before any prioritized job) or 1 to 2,097,152, lower taken sooner."""
    timeout: float | None = None
    """Seconds one attempt may run before it fails (and may retry); None: no limit."""
    lifo: bool = False
    """Put the job next in line instead of at the back (not with a priority)."""
    remove_on_complete: Retention = field(default_factory=lambda: KeepJobs(1000, 24 * 3600.0))
    """Which completed jobs are kept: ``True`` none, ``False`` all, an int the newest N,
    ``KeepJobs`` by number and age. By default the newest 1,000 of the last 24 hours."""
    remove_on_fail: Retention = field(default_factory=lambda: KeepJobs(None, 7 * 24 * 3600.0))
    """Which failed jobs are kept, as for ``remove_on_complete``; by default 7 days."""
    dead_letter: str | None = None
    """A queue that receives a copy of the job (same name and payload) when it fails for
    good; the original stays failed."""
    dedup: Dedup | None = None
    """Deduplicate adds by a key (``Dedup.throttle`` / ``Dedup.debounce``)."""

    def __post_init__(self) -> None:
        _seconds(self, "delay", "timeout")
        if not _is_int(self.attempts) or not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise InvalidOptionsError(
                f"attempts must be an int from 1 to {MAX_ATTEMPTS}, got {self.attempts!r}"
            )
        if not _is_int(self.priority) or not 0 <= self.priority <= 2_097_152:
            raise InvalidOptionsError(
                f"priority must be an int from 0 (none) to 2097152, got {self.priority!r}"
            )
        to_ms(self.delay, "delay")
        if self.timeout is not None and to_ms(self.timeout, "timeout") == 0:
            raise InvalidOptionsError("timeout must be positive or None")
        if not isinstance(self.lifo, bool):
            raise InvalidOptionsError(f"lifo must be True or False, got {self.lifo!r}")
        if self.lifo and self.priority:
            raise InvalidOptionsError("lifo cannot be combined with a priority")
        for name in ("remove_on_complete", "remove_on_fail"):
            _check_retention(name, getattr(self, name))
        if self.backoff is not None:
            _check_backoff(self.backoff)
        if self.dead_letter is not None and (
            not isinstance(self.dead_letter, str) or not QUEUE_NAME.match(self.dead_letter)
        ):
            raise InvalidOptionsError(
                f"dead_letter must be a queue name (letters, digits, '.', '_', '-') or None,"
                f" got {self.dead_letter!r}"
            )
        if self.dedup is not None and not isinstance(self.dedup, Dedup):
            raise InvalidOptionsError(
                f"dedup must be Dedup.throttle(...) or Dedup.debounce(...), got {self.dedup!r}"
            )


def _check_retention(name: str, value: object) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if value < 0:
            raise InvalidOptionsError(f"{name} must keep zero or more jobs, got {value}")
        return
    if isinstance(value, KeepJobs):
        if value.count is not None and value.count < 0:
            raise InvalidOptionsError(f"{name}.count must be zero or more")
        if value.age is not None:
            to_ms(value.age, f"{name}.age")
        return
    raise InvalidOptionsError(f"{name} must be a bool, an int or KeepJobs, got {value!r}")


def _check_backoff(backoff: object) -> None:
    if not isinstance(backoff, Backoff):
        raise InvalidOptionsError(
            f"backoff must be a Backoff (Backoff.fixed, .exponential, .custom), got {backoff!r}"
        )
    if not isinstance(backoff.kind, str) or not backoff.kind:
        raise InvalidOptionsError("backoff kind must be a non-empty name")
    to_ms(backoff.delay, "backoff delay")
    if not isinstance(backoff.jitter, int | float) or not 0.0 <= backoff.jitter <= 1.0:
        raise InvalidOptionsError(f"backoff jitter must be within 0..1, got {backoff.jitter}")
    if backoff.max_delay is not None:
        to_ms(backoff.max_delay, "backoff max_delay")


class JobOverrides(TypedDict, total=False):
    """The options ``add`` accepts as keywords; any it leaves out come from the queue."""

    attempts: int
    backoff: Backoff | None
    delay: Seconds
    priority: int
    timeout: Seconds | None
    lifo: bool
    remove_on_complete: Retention
    remove_on_fail: Retention
    dead_letter: str | None
    dedup: Dedup | None


def resolve(defaults: JobOptions, overrides: JobOverrides) -> JobOptions:
    """Apply per-add overrides to the queue's defaults, with a clear error for unknown names."""
    if not overrides:
        return defaults
    values: dict[str, object] = dict(overrides)
    for key in ("delay", "timeout"):
        value = values.get(key)
        if isinstance(value, timedelta):
            values[key] = value.total_seconds()
    unknown = set(values) - {f.name for f in dataclasses.fields(JobOptions)}
    if unknown:
        raise InvalidOptionsError(f"unknown job option(s): {', '.join(sorted(unknown))}")
    try:
        return dataclasses.replace(defaults, **values)  # type: ignore[arg-type]
    except TypeError as exc:  # pragma: no cover - guarded by the check above
        raise InvalidOptionsError(str(exc)) from exc


RetentionMs = tuple[int, int]
"""(max age in ms or -1, max count or -1); (0, 0) means remove at once."""

KEEP_FOREVER: RetentionMs = (-1, -1)
REMOVE_NOW: RetentionMs = (0, 0)


def retention_ms(value: Retention) -> RetentionMs:
    """Flatten a retention setting into the two numbers backends apply."""
    if value is True:
        return REMOVE_NOW
    if value is False:
        return KEEP_FOREVER
    if isinstance(value, int):
        return (-1, value) if value > 0 else REMOVE_NOW
    age = -1 if value.age is None else to_ms(value.age, "retention age")
    count = -1 if value.count is None else value.count
    if age == 0 or count == 0:
        return REMOVE_NOW
    return (age, count)


JobState = Literal[
    "waiting",
    "prioritized",
    "delayed",
    "active",
    "waiting-children",
    "completed",
    "failed",
    "paused",
]
"""The states of a job (docs/lifecycle.md draws the moves between them); ``paused`` is how
``waiting`` reads while its queue is paused."""

STATES: tuple[JobState, ...] = get_args(JobState)

STORED_STATES: tuple[JobState, ...] = tuple(s for s in STATES if s != "paused")
"""The states a job is stored in; ``paused`` is how ``waiting`` reads while paused."""
