"""The public surface is exactly ``conveyor.__all__``, and its types are honest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import conveyor

EXPECTED = {
    "AmbiguousResultError", "AttemptError", "BackendError", "BackendUnavailableError",
    "Backoff", "BulkJob", "Clock",
    "ConfigurationError", "ConveyorError", "Dedup", "FlowJob", "FlowNode", "InvalidOptionsError",
    "InvalidStateError", "Job", "JobTree", "WaitForChildren", "add_flow",
    "JobContext", "JobError", "JobFailedError", "JobNotFoundError", "JobOptions", "JobReport",
    "JobState", "KeepJobs", "Lock", "LockLostError", "LockNotHeldError", "LockTimeoutError",
    "ManualClock", "PayloadError",
    "PayloadTooLargeError", "Postpone", "ProcessJob", "Queue", "Retry", "SchemaError",
    "ScriptError",
    "SerializationError", "SyncJobContext", "Task", "TokenBucket", "TokenBucketTimeoutError",
    "UnknownJobNameError", "UnrecoverableError",
    "ValidationError",
    "Worker", "WorkerHooks", "WorkerSettings",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(conveyor.__all__) == EXPECTED
    public = {name for name in vars(conveyor) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(conveyor, name)).__name__ == "module"}
    assert public - modules == EXPECTED


def test_every_error_has_one_root() -> None:
    errors = [getattr(conveyor, n) for n in EXPECTED if n.endswith("Error") and n != "AttemptError"]
    for error in errors:
        if error is conveyor.UnrecoverableError:
            assert not issubclass(error, conveyor.ConveyorError), "a signal, not an error"
        else:
            assert issubclass(error, conveyor.ConveyorError), error


def test_typing_checks_pass_mypy() -> None:
    here = Path(__file__).parent / "typing_checks.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(here)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
