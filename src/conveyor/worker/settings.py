"""Worker configuration: one frozen dataclass; the CLI maps flags and env vars onto it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker process runs its queues.

    The defaults recover a SIGKILLed worker's jobs within about 15 s: the lease lapses
    after ``lease`` seconds without renewal (renewed every third of it by a thread that
    does not need the event loop), and a stalled check runs every ``stalled_interval``.
    """

    concurrency: int = 10
    """Jobs run at once per queue."""
    lease: float = 10.0
    """Seconds a worker's claim on its jobs lasts without renewal."""
    stalled_interval: float = 5.0
    """Seconds between stalled checks (one worker per queue runs each)."""
    max_stalled: int = 1
    """Recoveries allowed before a job that keeps stalling is failed."""
    grace: float = 30.0
    """Seconds running jobs get to finish on shutdown before they are left to recovery."""
    block_timeout: float = 5.0
    """Longest single wait for new work; an idle worker looks again after it."""
    loop_stall_warning: float = 2.0
    """Warn when the event loop has not run for this many seconds."""
    log_keep: int = 1000
    """Log lines kept per job."""
    processes: int | None = None
    """Size of the process pool for cpu_bound handlers (default: CPU count)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.lease < 0.5:
            raise ConfigurationError(f"lease must be at least 0.5 s, got {self.lease}")
        if self.stalled_interval <= 0 or self.block_timeout <= 0 or self.grace < 0:
            raise ConfigurationError(
                "stalled_interval and block_timeout must be positive, grace >= 0"
            )
        if self.max_stalled < 0:
            raise ConfigurationError("max_stalled must be zero or more")

    @property
    def lease_ms(self) -> int:
        return round(self.lease * 1000)
