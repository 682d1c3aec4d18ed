"""conveyor: background jobs for Python, on Redis or an embedded SQLite file.

The public surface is exactly ``__all__`` (a test keeps it so).
"""

from .buckets import TokenBucket
from .clock import Clock, ManualClock
from .errors import (
    AmbiguousResultError,
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ConveyorError,
    InvalidOptionsError,
    InvalidStateError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    LockLostError,
    LockNotHeldError,
    LockTimeoutError,
    PayloadError,
    PayloadTooLargeError,
    SchemaError,
    ScriptError,
    SerializationError,
    TokenBucketTimeoutError,
    UnknownJobNameError,
    ValidationError,
)
from .flows import FlowJob, FlowNode, JobTree, add_flow
from .job import AttemptError, Job
from .locks import Lock
from .options import Backoff, Dedup, JobOptions, JobState, KeepJobs
from .queue import BulkJob, Queue
from .signals import Postpone, Retry, UnrecoverableError, WaitForChildren
from .task import Task
from .worker import (
    JobContext,
    JobReport,
    ProcessJob,
    SyncJobContext,
    Worker,
    WorkerHooks,
    WorkerSettings,
)

__all__ = [
    "AmbiguousResultError",
    "AttemptError",
    "BackendError",
    "BackendUnavailableError",
    "Backoff",
    "BulkJob",
    "Clock",
    "ConfigurationError",
    "ConveyorError",
    "Dedup",
    "FlowJob",
    "FlowNode",
    "InvalidOptionsError",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobOptions",
    "JobReport",
    "JobState",
    "JobTree",
    "KeepJobs",
    "Lock",
    "LockLostError",
    "LockNotHeldError",
    "LockTimeoutError",
    "ManualClock",
    "PayloadError",
    "PayloadTooLargeError",
    "Postpone",
    "ProcessJob",
    "Queue",
    "Retry",
    "SchemaError",
    "ScriptError",
    "SerializationError",
    "SyncJobContext",
    "Task",
    "TokenBucket",
    "TokenBucketTimeoutError",
    "UnknownJobNameError",
    "UnrecoverableError",
    "ValidationError",
    "WaitForChildren",
    "Worker",
    "WorkerHooks",
    "WorkerSettings",
    "add_flow",
]
