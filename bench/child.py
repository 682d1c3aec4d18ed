"""The worker process a benchmark measures: one ``conveyor.Worker`` on a no-op handler
(and, with ``--parents``, the flow parents' queue too).

Protocol (JSON lines): the child prints ``ready`` once imported and connected; a ``go``
line on stdin starts the worker (the child stamps that moment: the start of work, so the
process's startup is not counted); ``report`` returns CPU time, peak RSS and what the
handler recorded; ``stop`` stops the worker and exits.

With ``--parents QUEUE`` the worker also runs that queue's ``parent`` jobs (flow parents
of the no-op children: each reads its children's values and returns how many), and
``--record flow`` keeps, per parent number ``p`` (in both payloads), the wall-clock time
its last child's handler returned and the time its own handler started.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from conveyor import JobContext, Queue, Worker, WorkerSettings


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def read_commands(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[str]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(inbox.put_nowait, line.strip())
    loop.call_soon_threadsafe(inbox.put_nowait, "stop")


@dataclass
class Recorded:
    """What the handlers record for the report (see ``--record``)."""

    latencies_ms: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    last_child_end: dict[int, float] = field(default_factory=dict)
    parent_start: dict[int, float] = field(default_factory=dict)


def register(args: argparse.Namespace, recorded: Recorded) -> list[Queue]:
    """The queues to run, with their handlers: the no-op one, and the flow parents'."""
    queue = Queue(args.queue, url=args.url)
    record = args.record

    @queue.job("noop")
    async def noop(job: JobContext[Any]) -> None:
        if record == "latency":
            recorded.latencies_ms.append(time.time() * 1000 - job.data["t"])
        elif record == "ids":
            recorded.ids.append(job.id)
        elif record == "flow":
            p = job.data["p"]
            ends = recorded.last_child_end
            ends[p] = max(ends.get(p, 0.0), time.time())

    if not args.parents:
        return [queue]
    parents = Queue(args.parents, backend=queue.backend)

    @parents.job("parent")
    async def parent(job: JobContext[Any]) -> int:
        if record == "flow":
            recorded.parent_start[job.data["p"]] = time.time()
        return len(await job.children_values())

    return [queue, parents]


async def serve(args: argparse.Namespace) -> None:
    recorded = Recorded()
    queues = register(args, recorded)
    queue = queues[0]
    await queue.backend.ping()
    worker = Worker(queues, settings=WorkerSettings(concurrency=args.concurrency))
    inbox: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=read_commands, args=(loop, inbox), daemon=True).start()
    say(event="ready")
    profiler = cProfile.Profile() if args.profile else None
    started = False
    while True:
        command = await inbox.get()
        if command == "go" and not started:
            started = True
            t0, cpu0 = time.time(), cpu_seconds()
            if profiler is not None:
                profiler.enable()
            await worker.start()
            say(event="started", t=t0, cpu=cpu0)
        elif command == "report":
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            say(
                event="report",
                t=time.time(),
                cpu=cpu_seconds(),
                rss_mb=peak_rss_mb(),
                **asdict(recorded),
            )
        elif command == "stop":
            if started:
                await worker.stop(grace=5)
            await queue.close()
            say(event="stopped")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--record", choices=["none", "latency", "ids", "flow"], default="none")
    parser.add_argument("--parents", help="also run this queue's flow parents")
    parser.add_argument("--profile", help="write cProfile stats of the work to this path")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
