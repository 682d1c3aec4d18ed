"""The flow tests' processes: worker processes of ``tests.processes.flow_app`` (started and
stopped as ``harness.Workers`` does), what they recorded per job, and the producer child
of the killed-producer test."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from typing import Any

from .flow_app import KINDS, FlowQueues
from .harness import ROOT, Records, WorkerProcess, Workers

PROCESSES = 4


class FlowWorker(WorkerProcess):
    """``python -m tests.processes.flow_app`` on the queues ``<prefix>-supplier|family|image``,
    configured and recorded as a ``WorkerProcess`` is (the prefix is its ``queue``)."""

    APP = "tests.processes.flow_app"


class FlowWorkers(Workers):
    def start(self, url: str, queue: str, label: str, **settings: Any) -> WorkerProcess:
        worker = FlowWorker(url, queue, self.directory, label, **settings)
        self.started.append(worker)
        return worker

    async def start_ready(self, url: str, prefix: str, **settings: Any) -> list[WorkerProcess]:
        procs = [self.start(url, prefix, f"w{i}", **settings) for i in range(PROCESSES)]
        for proc in procs:
            await proc.wait_ready()
        return procs


class FlowRecords:
    """What the worker processes recorded of each job, by ``queue:id``: its runs (process
    ids) and the wall-clock stamps of its handler's starts and ends."""

    def __init__(self, records: Records, queues: FlowQueues) -> None:
        self.records = records
        self.queue_of = {kind: q.name for kind, q in zip(KINDS, queues.all, strict=True)}

    def runs(self) -> Counter[str]:
        """How many times each job's handler started."""
        return Counter(ref for event, ref, _, _ in self._stamped() if event in KINDS)

    def pids(self) -> dict[str, list[int]]:
        """The process of each run of each job."""
        out: dict[str, list[int]] = {}
        for event, ref, pid, _ in self._stamped():
            if event in KINDS:
                out.setdefault(ref, []).append(pid)
        return out

    def first_start(self, ref: str) -> int:
        return min(ns for event, r, _, ns in self._stamped() if r == ref and event in KINDS)

    def last_end(self, refs: set[str]) -> int:
        return max(ns for event, r, _, ns in self._stamped()
                   if r in refs and event.endswith("-done"))

    def most_at_once(self) -> dict[str, int]:
        """Per kind (queue), the most of its handlers running at the same time."""
        edges: dict[str, list[tuple[int, int]]] = {}
        for event, _, _, ns in self._stamped():
            kind = event.removesuffix("-done")
            edges.setdefault(kind, []).append((ns, -1 if event.endswith("-done") else 1))
        most = {}
        for kind, marks in edges.items():
            running = peak = 0
            for _, step in sorted(marks):  # an end before a start at the same ns
                running += step
                peak = max(peak, running)
            most[kind] = peak
        return most

    def _stamped(self) -> list[tuple[str, str, int, int]]:
        """(event, ref, pid, ns) per whole line of the record files (as ``Records`` reads
        them, with the stamp ``Records`` leaves out)."""
        out = []
        for path in sorted(self.records.directory.glob("*.log")):
            text = path.read_text()
            for line in text[: text.rfind("\n") + 1].splitlines():
                event, job_id, _, _, pid, ns, *_ = line.split(" ")
                kind = event.removesuffix("-done")
                if kind in self.queue_of:
                    out.append((event, f"{self.queue_of[kind]}:{job_id}", int(pid), int(ns)))
        return out


class FlowProducer:
    """``python -m tests.processes.flow_producer_child``: adds one 10,000-node tree."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, url: str, prefix: str) -> FlowProducer:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.processes.flow_producer_child", url, prefix,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def line(self) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert raw, f"the producer exited with {await self.proc.wait()}"
        return raw.decode().strip()

    async def expect(self, text: str) -> str:
        got = await self.line()
        assert got.startswith(text), f"expected {text!r} from the producer, got {got!r}"
        return got

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
