"""Module-level handlers for cpu_bound tests: a process pool imports them by name."""

from __future__ import annotations

import os
from typing import Any

from conveyor import ProcessJob


def checksum(job: ProcessJob[dict[str, Any]]) -> dict[str, Any]:
    """Burn a little CPU and report which process did it."""
    total = 0
    for i in range(job.data["n"]):
        total = (total * 31 + i) % 1_000_003
    return {"total": total, "pid": os.getpid(), "attempt": job.attempts_made, "id": job.id}


def explode(job: ProcessJob[Any]) -> None:
    raise ValueError(f"bad input {job.data!r}")


def spin_until_stopped(job: ProcessJob[dict[str, Any]]) -> None:
    """Write this process's pid to a file, then burn CPU until killed."""
    with open(job.data["pid_file"], "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


def report_steps(job: ProcessJob[int]) -> str:
    """Progress and a log line per step, as any handler would."""
    for step in range(1, job.data + 1):
        job.log(f"step {step} of {job.data}")
        job.update_progress({"step": step, "total": job.data})
    return "reported"


def die(job: ProcessJob[int]) -> None:
    """The process ends under the handler, as a crash in a C extension would end it."""
    os._exit(job.data)
