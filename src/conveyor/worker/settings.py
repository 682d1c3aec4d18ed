"""Worker configuration: one frozen dataclass; the CLI maps flags and env vars onto it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ..errors import ConfigurationError


class _Counts(Mapping[str, int]):
    """A read-only, hashable ``queue name -> count`` mapping, so that the settings stay
    frozen and hashable whatever mapping they were given."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, int] | None = None) -> None:
        self._items: dict[str, int] = dict(items or {})

    def __getitem__(self, key: str) -> int:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


_DURATIONS = ("lease", "stalled_interval", "grace", "block_timeout", "loop_stall_warning")
"""Fields in seconds: a number, or a ``timedelta`` (stored as float seconds)."""
_COUNTS = ("concurrency", "max_stalled", "log_keep")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker process runs its queues.

    The defaults recover a SIGKILLed worker's jobs within about 15 s: the lease lapses
    after ``lease`` seconds without renewal (renewed every third of it by a thread that
    does not need the event loop), and a stalled check runs every ``stalled_interval``.

    Durations take seconds (int or float) or a ``timedelta``; they read back as float
    seconds. A value of the wrong type or out of range raises ``ConfigurationError``.
    """

    concurrency: int = 10
    """Jobs run at once per queue (for queues not in ``queue_concurrency``)."""
    queue_concurrency: Mapping[str, int] = _Counts()
    """Jobs run at once for the queues named here (``{"supplier-sync": 1}``), instead of
    ``concurrency``; every name must be one of the worker's queues."""
    lease: float = 10.0
    """Seconds a worker's claim on its jobs lasts without renewal."""
    stalled_interval: float = 5.0
    """Seconds between stalled checks (one worker per queue runs each)."""
    max_stalled: int = 1
    """Recoveries allowed before a job that keeps stalling is failed."""
    grace: float = 30.0
    """Seconds running jobs get to finish on shutdown before they are stopped and put back in
    line (attempts and stall count untouched)."""
    block_timeout: float = 5.0
    """Longest single wait for new work; an idle worker looks again after it."""
    loop_stall_warning: float = 2.0
    """Warn when the event loop has not run for this many seconds."""
    log_keep: int = 1000
    """Log lines kept per job."""
    processes: int | None = None
    """Size of the process pool for cpu_bound handlers (default: CPU count)."""

    def __post_init__(self) -> None:
        for name in _COUNTS:
            _check_int(name, getattr(self, name))
        if self.processes is not None:
            _check_int("processes", self.processes)
        for name in _DURATIONS:
            object.__setattr__(self, name, _seconds(name, getattr(self, name)))
        object.__setattr__(self, "queue_concurrency", _per_queue(self.queue_concurrency))
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.lease < 0.5:
            raise ConfigurationError(f"lease must be at least 0.5 s, got {self.lease}")
        if self.stalled_interval <= 0 or self.block_timeout <= 0 or self.grace < 0:
            raise ConfigurationError(
                "stalled_interval and block_timeout must be positive, grace >= 0"
            )
        if self.loop_stall_warning <= 0:
            raise ConfigurationError(
                f"loop_stall_warning must be positive, got {self.loop_stall_warning}"
            )
        if self.max_stalled < 0:
            raise ConfigurationError("max_stalled must be zero or more")
        if self.log_keep < 0:
            raise ConfigurationError(f"log_keep must be zero or more, got {self.log_keep}")
        if self.processes is not None and self.processes < 1:
            raise ConfigurationError(f"processes must be at least 1, got {self.processes}")

    @property
    def lease_ms(self) -> int:
        """``lease`` in whole milliseconds, as backends take it."""
        return round(self.lease * 1000)

    def concurrency_for(self, queue: str) -> int:
        """Jobs a worker runs at once from ``queue``: its own count, else ``concurrency``."""
        counts = self.queue_concurrency
        return counts[queue] if counts and queue in counts else self.concurrency

    def total_concurrency(self, queues: Sequence[str]) -> int:
        """Jobs a worker of ``queues`` runs at once, all queues together. A per-queue
        count for a queue that is not among them is a ``ConfigurationError`` (a typo
        would otherwise leave that queue at the default without a word)."""
        unknown = [name for name in self.queue_concurrency if name not in queues]
        if unknown:
            raise ConfigurationError(
                f"queue_concurrency names {', '.join(map(repr, unknown))}, which"
                f" {'is' if len(unknown) == 1 else 'are'} not among the worker's queues"
                f" ({', '.join(queues)})"
            )
        return sum(self.concurrency_for(name) for name in queues)


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an int, got {_shown(value)}")


def _seconds(name: str, value: object) -> float:
    """A duration as float seconds: an int, a float or a ``timedelta``, finite."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(
            f"{name} must be a number of seconds or a timedelta, got {_shown(value)}"
        )
    if not math.isfinite(seconds):
        raise ConfigurationError(f"{name} must be a finite number of seconds, got {seconds}")
    return seconds


def _per_queue(value: object) -> _Counts:
    if isinstance(value, _Counts):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"queue_concurrency must be a mapping of queue name to int, got {_shown(value)}"
        )
    for queue, count in value.items():
        if not isinstance(queue, str) or not queue:
            raise ConfigurationError(
                f"queue_concurrency keys must be queue names, got {_shown(queue)}"
            )
        _check_int(f"queue_concurrency[{queue!r}]", count)
        if count < 1:
            raise ConfigurationError(
                f"queue_concurrency[{queue!r}] must be at least 1, got {count}"
            )
    return _Counts(value)


def _shown(value: object) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:59] + "…"
    return f"{type(value).__name__} {text}"

