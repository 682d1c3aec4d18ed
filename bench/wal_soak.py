"""Soak the SQLite write-ahead log: ``python -m bench.wal_soak [--jobs N] [--json PATH]``.

Steady load on one file — two worker processes (concurrency 50 each), a producer that
tops up a backlog with ``add_bulk``, a reader calling ``counts()`` every 0.25 s — while
the ``-wal`` file's size is sampled; then every connection closes and the WAL left behind
is measured, once every ``close()`` has returned and again once every process has exited
(the producer and reader run in a child process for that). It prints the largest WAL,
the database size, the WAL after close and after exit, and the job rate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/wal_soak.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.phases import UNFINISHED, bulk_add
from bench.procs import WorkerProcess
from conveyor import Queue

MIB = 2**20


@dataclass
class Watch:
    """What the reader and the sampler saw; the producer tops up from ``unfinished``."""

    db: Path
    jobs: int
    added: int = 0
    unfinished: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    fresh: asyncio.Event = field(default_factory=asyncio.Event)
    wal_max: int = 0
    db_max: int = 0
    samples: int = 0
    by_tenth: list[float] = field(default_factory=list)
    rewinds: int = 0
    _sequence: int | None = None

    @property
    def wal(self) -> Path:
        return self.db.with_name(self.db.name + "-wal")

    def sample(self) -> int:
        wal = _size(self.wal)
        self.wal_max = max(self.wal_max, wal)
        self.db_max = max(self.db_max, _size(self.db))
        self.samples += 1
        self._count_rewinds()
        finished = self.added - self.unfinished
        while len(self.by_tenth) < 10 and finished >= (len(self.by_tenth) + 1) * self.jobs / 10:
            self.by_tenth.append(round(wal / MIB, 2))
        return wal


    def _count_rewinds(self) -> None:
        """The WAL header's checkpoint sequence number goes up by one each time a writer
        starts the log again from its beginning (a new file starts again at 0)."""
        try:
            with self.wal.open("rb") as f:
                header = f.read(16)
        except FileNotFoundError:
            return
        if len(header) < 16:
            return
        sequence = int.from_bytes(header[12:16], "big")
        if self._sequence is not None and sequence != self._sequence:
            self.rewinds += sequence - self._sequence if sequence > self._sequence else 1
        self._sequence = sequence


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def sampler(watch: Watch, every: float) -> None:
    while not watch.done.is_set():
        watch.sample()
        await asyncio.sleep(every)


async def reader(queue: Queue, watch: Watch, every: float) -> None:
    """``counts()`` every ``every`` seconds, as a dashboard or a health check would."""
    while True:
        added = watch.added  # what this look is sure to include
        counts = await queue.counts()
        watch.unfinished = sum(counts[state] for state in UNFINISHED)  # type: ignore[index]
        watch.fresh.set()
        if added >= watch.jobs and watch.unfinished == 0:
            watch.done.set()
            return
        await asyncio.sleep(every)


async def producer(queue: Queue, watch: Watch, backlog: int, chunk: int) -> None:
    """Keep about ``backlog`` jobs unfinished until ``jobs`` have been added."""
    while watch.added < watch.jobs:
        watch.fresh.clear()
        room = backlog - watch.unfinished
        if room < chunk:
            await watch.fresh.wait()
            continue
        n = min(room // chunk * chunk, watch.jobs - watch.added)
        await bulk_add(queue, n, chunk, data={})
        watch.added += n
        watch.unfinished += n
        await watch.fresh.wait()  # the reader's next look includes these jobs


async def soak(args: argparse.Namespace, db: Path) -> dict[str, Any]:
    url = f"sqlite:///{db}"
    name = f"soak-{os.getpid()}"
    watch = Watch(db, args.jobs)
    producing = Queue(name, url=url)
    reading = Queue(name, url=url)
    workers = [WorkerProcess(url, name, args.concurrency) for _ in range(args.workers)]
    try:
        await asyncio.gather(*(w.spawn() for w in workers))
        tasks = [asyncio.ensure_future(sampler(watch, args.sample_every))]
        tasks.append(asyncio.ensure_future(reader(reading, watch, args.counts_every)))
        await bulk_add(producing, min(args.backlog, args.jobs), args.chunk, data={})
        watch.added = watch.unfinished = min(args.backlog, args.jobs)
        starts = await asyncio.gather(*(w.go() for w in workers))
        tasks.append(asyncio.ensure_future(
            producer(producing, watch, args.backlog, args.chunk)))
        await _until_done(watch, tasks, args.progress_every)
        finished_at = time.time()
        watch.sample()
        db_size = _size(db)
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
        await producing.close()
        await reading.close()
    elapsed = finished_at - min(s["t"] for s in starts)
    return {
        "backend": "sqlite",
        "jobs": args.jobs,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "counts_every_s": args.counts_every,
        "process_jobs_per_s": args.jobs / elapsed,
        "elapsed_s": elapsed,
        "wal_max_mib": watch.wal_max / MIB,
        "db_mib": db_size / MIB,
        "db_max_mib": watch.db_max / MIB,
        "wal_after_close_bytes": _size(watch.wal),
        "wal_mib_at_each_tenth": watch.by_tenth,
        "wal_samples": watch.samples,
        "wal_rewinds": watch.rewinds,
    }


async def _until_done(watch: Watch, tasks: list[asyncio.Future[None]], every: float) -> None:
    """Wait for the reader to see the last job finish; fail fast if a task fails."""
    last = time.monotonic()
    while not watch.done.is_set():
        finished, _ = await asyncio.wait(tasks, timeout=min(every, 1.0),
                                         return_when=asyncio.FIRST_EXCEPTION)
        for task in finished:
            task.result()  # raises what the task raised
        if time.monotonic() - last >= every:
            last = time.monotonic()
            _progress(f"{watch.added - watch.unfinished:,} jobs done,"
                      f" WAL {_size(watch.wal) / MIB:,.1f} MiB (max {watch.wal_max / MIB:,.1f})")
    await asyncio.gather(*tasks)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.wal_soak",
        description="SQLite WAL soak: the -wal file's size under steady load and after exit.",
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="no-op jobs in all")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=50, help="per worker process")
    parser.add_argument("--backlog", type=int, default=20_000,
                        help="jobs the producer keeps unfinished")
    parser.add_argument("--chunk", type=int, default=1000, help="jobs per add_bulk call")
    parser.add_argument("--counts-every", type=float, default=0.25, metavar="S",
                        help="seconds between the reader's counts() calls")
    parser.add_argument("--sample-every", type=float, default=0.02, metavar="S",
                        help="seconds between looks at the -wal file's size")
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="S")
    parser.add_argument("--dir", type=Path,
                        help="directory for soak.db (default: a fresh temporary one, removed)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.jobs, args.workers, args.concurrency, args.chunk) < 1:
        parser.error("--jobs, --workers, --concurrency and --chunk must be positive")
    return args


def print_figures(results: dict[str, Any]) -> None:
    after = results["wal_after_exit_bytes"]
    rows = [
        ("jobs", f"{results['jobs']:,} no-op, {results['workers']} worker processes,"
                 f" concurrency {results['concurrency']} each"),
        ("job rate", f"{results['process_jobs_per_s']:,.0f} jobs/s"
                     f" ({results['elapsed_s']:,.1f} s)"),
        ("largest -wal", f"{results['wal_max_mib']:,.1f} MiB"
                         f" (log started again {results['wal_rewinds']:,} times)"),
        ("-wal at each tenth", ", ".join(f"{v:,.1f}" for v in results["wal_mib_at_each_tenth"])
         + " MiB"),
        (".db at the end", f"{results['db_mib']:,.1f} MiB (largest {results['db_max_mib']:,.1f})"),
        ("-wal after close()", f"{results['wal_after_close_bytes']:,} bytes"),
        ("-wal after exit", f"{after:,} bytes" if results["wal_after_exit_present"]
         else "none (removed)"),
    ]
    for label, value in rows:
        print(f"{label:>20}  {value}")
    print(f"{results['machine']}, Python {results['python']}, SQLite {results['sqlite']},"
          f" {results['date']}; load average before/after:"
          f" {results['load_before']} / {results['load_after']}")
    print(f"command: {results['command']}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inner is not None:  # the child: producer, reader and the two workers
        results = asyncio.run(soak(args, args.dir / "soak.db"))
        args.inner.write_text(json.dumps(results))
        return 0
    own_dir = args.dir is None
    directory = Path(tempfile.mkdtemp(prefix="conveyor-wal-soak-")) if own_dir else args.dir
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "soak.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    load_before = f"{os.getloadavg()[0]:.2f}"
    try:
        results = _run_child(args, directory)
        wal = db.with_name(db.name + "-wal")
        results.update(wal_after_exit_bytes=_size(wal), wal_after_exit_present=wal.exists())
    finally:
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
    results.update(
        load_before=load_before,
        load_after=f"{os.getloadavg()[0]:.2f}",
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=shlex.join(sys.orig_argv),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    )
    print_figures(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


def _run_child(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Run the soak in a child process and return its figures once it has exited."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        options = {
            "--jobs": args.jobs, "--workers": args.workers, "--concurrency": args.concurrency,
            "--backlog": args.backlog, "--chunk": args.chunk,
            "--counts-every": args.counts_every, "--sample-every": args.sample_every,
            "--progress-every": args.progress_every, "--dir": directory, "--inner": out.name,
        }
        command = [sys.executable, "-m", "bench.wal_soak"]
        command += [str(part) for item in options.items() for part in item]
        subprocess.run(command, cwd=root, env=env, check=True)
        results: dict[str, Any] = json.loads(Path(out.name).read_text())
    return results


if __name__ == "__main__":
    raise SystemExit(main())
