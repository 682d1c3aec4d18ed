"""Real worker processes for the process tests, their records, and awaited conditions."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.waiting import until as shared_until

ROOT = Path(__file__).resolve().parents[2]

until = functools.partial(shared_until, interval=0.05)
"""The shared ``until``, checking every 50 ms: these conditions read record files or ask
the backend while worker processes share the machine's cores."""


@dataclass(frozen=True)
class Record:
    event: str
    job_id: str
    attempt: int
    label: str
    pid: int


class Records:
    """The handler events every worker process appended to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def all(self) -> list[Record]:
        out = []
        for path in sorted(self.directory.glob("*.log")):
            text = path.read_text()
            # A worker may be mid-write: a last line without its newline is not whole yet.
            for line in text[: text.rfind("\n") + 1].splitlines():
                event, job_id, attempt, label, pid, *_ = line.split(" ")
                out.append(Record(event, job_id, int(attempt), label, int(pid)))
        return out

    def of(self, event: str, label: str | None = None) -> list[Record]:
        return [r for r in self.all() if r.event == event and (label is None or r.label == label)]

    def count(self, event: str, label: str | None = None) -> Counter[str]:
        """Per job id, how many times ``event`` was recorded."""
        return Counter(r.job_id for r in self.of(event, label))


class WorkerProcess:
    """``python -m tests.processes.worker_app`` (or another ``APP``) with its stderr in a
    file."""

    APP = "tests.processes.worker_app"
    """The module the process runs: it reads the ``RT_*`` environment set here."""

    def __init__(
        self,
        url: str,
        queue: str,
        directory: Path,
        label: str,
        **settings: Any,
    ) -> None:
        self.label = label
        self.records = Records(directory)
        self.log_path = directory / f"{label}.stderr"
        env = {
            **os.environ,
            "RT_URL": url,
            "RT_QUEUE": queue,
            "RT_LABEL": label,
            "RT_RECORDS": str(directory),
            "RT_SETTINGS": json.dumps(settings),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        with open(self.log_path, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.APP],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        self._check_alive()
        return any(r.label == self.label for r in self.records.of("ready"))

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker {self.label} exited with {self.process.returncode}:\n{self.log()}"
            )

    async def wait_ready(self, timeout: float = 20) -> None:
        await until(self.ready, timeout, f"worker {self.label} to start")

    async def wait_log(self, text: str, timeout: float) -> float:
        return await until(lambda: text in self.log(), timeout, f"{text!r} in {self.label}'s log")

    async def wait_exit(self, timeout: float) -> int:
        await until(lambda: self.process.poll() is not None, timeout, f"{self.label} to exit")
        return self.process.returncode

    def send(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Workers:
    """Starts worker processes for one test and kills any still running at its end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[WorkerProcess] = []

    def start(self, url: str, queue: str, label: str, **settings: Any) -> WorkerProcess:
        worker = WorkerProcess(url, queue, self.directory, label, **settings)
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                # A SIGSTOPped worker must be able to receive the kill.
                worker.process.send_signal(signal.SIGCONT)
            worker.kill()
