"""The worker runtime: consumers, lease keeping, handler execution, shutdown."""

from .context import JobContext, ProcessJob, SyncJobContext
from .hooks import JobReport, WorkerHooks
from .settings import WorkerSettings
from .worker import Worker

__all__ = [
    "JobContext",
    "JobReport",
    "ProcessJob",
    "SyncJobContext",
    "Worker",
    "WorkerHooks",
    "WorkerSettings",
]
